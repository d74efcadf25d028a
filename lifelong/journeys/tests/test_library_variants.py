"""The ready journeys' templates per channel: an SMS of at most two parts without links or a
"just reply", the messenger text with the preferences link as a button, in both languages."""

from __future__ import annotations

import pytest

from lifelong.customers.models import Purpose
from lifelong.factories import CustomerFactory
from lifelong.journeys.library import template_ensure
from lifelong.journeys.library_texts import TEXTS
from lifelong.messaging.sms_segments import sms_count
from lifelong.messaging.templating import message_render

pytestmark = pytest.mark.django_db

JOURNEY = {
    "journey": {
        "product": "Коврик пробковый",
        "years": "2",
        "skus": ["MAT-1"],
        "tier": {"name": "Знаток", "privileges": []},
    }
}


@pytest.mark.parametrize("language", ["ru", "en"])
@pytest.mark.parametrize("slug", sorted(TEXTS))
def test_the_sms_is_short_and_asks_for_no_reply(slug, language, frozen_time):
    customer = CustomerFactory.create(first_name="Александра", gender="f", language=language)
    template = template_ensure(slug)
    sms = message_render(template=template, customer=customer, channel="sms", extra=JOURNEY)
    assert sms.text.startswith("Александра, ") or not TEXTS[slug].sms[:1].isalpha()
    assert sms_count(sms.text).segments <= 2, sms.text
    assert "http" not in sms.text
    assert "ответьте" not in sms.text and "reply" not in sms.text
    # Push and other channels without their own text get the same short text.
    push = message_render(template=template, customer=customer, channel="push", extra=JOURNEY)
    assert push.text == sms.text


@pytest.mark.parametrize("slug", sorted(TEXTS))
def test_the_messenger_text_is_the_letter_with_its_link_as_a_button(slug, frozen_time):
    customer = CustomerFactory.create(first_name="Ирина", gender="f")
    template = template_ensure(slug)
    telegram = message_render(
        template=template, customer=customer, channel="telegram", extra=JOURNEY
    )
    assert "живой человек" in telegram.text
    if TEXTS[slug].purpose == Purpose.MARKETING:
        [button] = telegram.buttons
        assert button.label == "Писать реже или о другом" and "/p/" in button.url
        assert "Писать реже" not in telegram.text
    else:
        assert telegram.buttons == ()


def test_a_nameless_customer_gets_the_sentence_as_written(frozen_time):
    customer = CustomerFactory.create(first_name="")
    sms = message_render(
        template=template_ensure("welcome-thanks"), customer=customer, channel="sms"
    )
    assert sms.text == "Спасибо за первый заказ! Если что-то не так — напишите нам, разберёмся."
