"""The `loyalty` object of message templates: the points as words, the programme's plural
forms in the `plural` filter, the status link, plain data only and the limits intact."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.test import Client
from django.utils import translation

from lifelong.factories import CustomerFactory
from lifelong.loyalty.earning import loyalty_earn
from lifelong.loyalty.models import Programme
from lifelong.loyalty.services import points_award
from lifelong.loyalty.sweeps import loyalty_release_pending
from lifelong.loyalty.tests.helpers import order_paid, programme_start
from lifelong.loyalty.tests.test_tiers import ladder_create
from lifelong.loyalty.tiers import tiers_refresh
from lifelong.messaging.models import Template
from lifelong.messaging.templating import (
    TemplateRenderError,
    fields_render,
    message_context,
    message_render,
    sample_context,
    template_validate,
)

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)


@pytest.fixture(autouse=True)
def _russian():
    with translation.override("ru"):
        yield


@pytest.fixture
def anna(frozen_time):
    programme_start(pending_days=14, expiry_months=12)
    anna = CustomerFactory.create(first_name="Анна", language="ru")
    points_award(customer_id=anna.pk, points=1250, key="gift")
    order_paid(anna, "Z-1", "2400")
    loyalty_earn()
    return anna


def _render(customer, text: str) -> str:
    template = Template(slug="t", name="t", channel="email", subject="s", body_text=text)
    return message_render(template=template, customer=customer, channel="email").text


def test_loyalty_prints_as_words_never_as_a_dict(anna):
    assert _render(anna, "{{ loyalty }}") == "1\u202f250\u00a0баллов"
    assert _render(anna, "У вас {{ loyalty.balance_text }}, ещё {{ loyalty.pending_text }}") == (
        "У вас 1\u202f250\u00a0баллов, ещё 24\u00a0балла"
    )
    # Still a mapping: fields read as before, the segment facts included.
    assert _render(anna, "{{ loyalty.balance }} {{ loyalty.pending }} {{ loyalty.stage }}!") == (
        "1250 24 !"
    )


def test_an_english_customer_reads_english_words(anna):
    anna.language = "en"
    assert _render(anna, "{{ loyalty }}") == "1,250\u00a0points"


def test_plural_uses_the_programmes_forms_for_the_points_name(anna):
    assert _render(anna, '{{ loyalty.balance|plural("балл") }}') == "1\u00a0250 баллов"
    assert _render(anna, '{{ 21|plural("баллов") }} {{ 3|plural("Балл") }}') == ("21 балл 3 балла")
    # A name the dictionary does not know agrees too, in the programme's own spelling.
    Programme.objects.filter(pk=1).update(
        name_one="ПРАНик", name_few="ПРАНика", name_many="ПРАНиков"
    )
    assert _render(anna, '{{ loyalty.balance|plural("праник") }}') == "1\u00a0250 ПРАНиков"
    assert _render(anna, '{{ 2|plural("ПРАНик") }}, {{ 5|plural("отзыв") }}') == (
        "2 ПРАНика, 5 отзывов"
    )
    # Outside a message with points, plural is the dictionary's as before.
    assert fields_render(subject="", text='{{ 5|plural("балл") }}', html="", context={}).text == (
        "5 баллов"
    )


def test_expiring_points_and_the_status_link(anna, frozen_time):
    frozen_time.shift(330 * DAY)
    loyalty_release_pending()
    text = _render(
        anna,
        '{{ loyalty.expiring_points|plural("балл") }} сгорят {{ loyalty.expiring_at|date }}'
        "{% for lot in loyalty.expiring %}; {{ lot.points }} "
        "{{ lot.at|date('short') }}{% endfor %}",
    )
    assert text == "1\u00a0274 балла сгорят 2 марта; 1250 02.03.2027; 24 02.03.2027"
    url = str(message_context(customer=anna, channel="email")["loyalty"]["status_url"])
    page = Client().get("/" + url.split("/", 3)[3])
    assert page.status_code == 200 and "1\u202f274\u00a0балла" in page.content.decode()


def test_the_object_is_plain_data_the_sandbox_keeps_closed(anna):
    loyalty = message_context(customer=anna, channel="email")["loyalty"]
    assert json.loads(json.dumps(loyalty, cls=DjangoJSONEncoder))["balance"] == 1250
    for source in ("{{ loyalty._words }}", "{{ loyalty.__class__ }}", "{{ loyalty.update(a=1) }}"):
        with pytest.raises(TemplateRenderError):
            _render(anna, source)
    # Render limits still count it: a thousand copies of its data break the size limit.
    with pytest.raises(TemplateRenderError):
        _render(anna, "{{ [loyalty] * 100000 }}")


def test_a_customer_without_points_or_programme_prints_nothing(frozen_time):
    ivan = CustomerFactory.create()
    assert _render(ivan, "[{{ loyalty }}] {{ loyalty.balance }}") == "[] 0"


def test_templates_using_loyalty_validate_against_the_sample():
    body = (
        "{{ loyalty }}: {{ loyalty.balance|plural('балл') }}, {{ loyalty.pending_text }}, "
        "{{ loyalty.tier }} {{ loyalty.next_tier }} {{ loyalty.missing }} "
        "{{ loyalty.expiring_points }} {{ loyalty.expiring_at|date }} {{ loyalty.status_url }}"
    )
    assert template_validate(subject="", body_text=body, body_html="") == []
    problems = template_validate(subject="", body_text="{{ loyalty.balanse }}", body_html="")
    assert len(problems) == 1
    assert str(sample_context()["loyalty"]) == "1\u202f250\u00a0баллов, уровень «Знаток»"


def test_the_tier_next_tier_and_what_is_missing(anna):
    ladder_create()
    tiers_refresh(customer_ids=[anna.pk])
    assert _render(anna, "{{ loyalty }}") == "1\u202f250\u00a0баллов, уровень «Новичок»"
    text = _render(
        anna,
        "{{ loyalty.tier }} → {{ loyalty.next_tier }}: {{ loyalty.missing }} "
        "({{ loyalty.progress_percent }} %)",
    )
    assert text == "Новичок → Знаток: ещё 1\u00a0заказ или 7\u202f600\u00a0₽ (50 %)"
    anna.language = "en"
    assert _render(anna, "{{ loyalty }}") == "1,250\u00a0points, tier “Новичок”"
