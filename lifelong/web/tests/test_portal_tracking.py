"""Click and open tracking: stored links behind signed tokens, never a URL from the request."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from lifelong.customers.models import Channel, Customer, Purpose
from lifelong.events.models import Event
from lifelong.factories import CustomerFactory, damaged
from lifelong.lib.signing import token_make
from lifelong.messaging.links import preferences_url
from lifelong.messaging.models import Message, MessageLink, SendingPolicy
from lifelong.messaging.services import message_enqueue

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_time")]

SITE = "https://lifelong.example"
SALE = "https://shop.example/sale?utm_source=email"


@pytest.fixture(autouse=True)
def _site(settings):
    settings.SITE_URL = SITE


@pytest.fixture
def customer() -> Customer:
    return CustomerFactory.create()


def _enqueue(customer: Customer, *, text: str = "", html: str = "", key: str = "m1") -> Message:
    message, _created = message_enqueue(
        customer=customer,
        dedupe_key=key,
        channel=Channel.EMAIL,
        purpose=Purpose.MARKETING,
        subject="Распродажа",
        text=text,
        html=html,
    )
    return message


def _tracked(body: str, kind: str = "r") -> list[str]:
    return re.findall(rf"{re.escape(SITE)}(/c/{kind}/[^\s\"'<>]+)", body)


def _events(customer: Customer, type: str) -> int:
    return Event.objects.filter(customer=customer, type=type).count()


def test_links_in_text_and_html_become_tracked_and_own_links_stay(customer):
    own = preferences_url(customer_id=customer.pk)
    message = _enqueue(
        customer,
        text=f"Скидки тут: {SALE}\nЕщё раз: {SALE}\nНастройки: {own}",
        html=f"<a href=\"{SALE}\">Скидки</a> <a href='https://shop.example/new'>Новинки</a>"
        f' <a href="{own}">Настройки</a>',
    )

    assert SALE not in message.body_text and SALE not in message.body_html
    assert "https://shop.example/new" not in message.body_html
    assert own in message.body_text and f'href="{own}"' in message.body_html
    # One stored row per distinct URL, shared by the text and HTML parts.
    assert sorted(MessageLink.objects.values_list("url", flat=True)) == [
        "https://shop.example/new",
        SALE,
    ]
    assert len(_tracked(message.body_text)) == 2
    assert len(set(_tracked(message.body_text))) == 1
    assert len(_tracked(message.body_html)) == 2
    assert len(_tracked(message.body_html, "o")) == 1  # the open pixel


def test_no_pixel_when_the_policy_says_so(customer):
    policy = SendingPolicy.current()
    policy.open_pixel = False
    policy.save()

    message = _enqueue(customer, html=f'<a href="{SALE}">Скидки</a>')

    assert _tracked(message.body_html, "o") == []
    assert len(_tracked(message.body_html)) == 1


def test_click_redirects_to_the_stored_url_and_records_it_once(customer):
    message = _enqueue(customer, text=f"Скидки тут: {SALE}")
    [path] = _tracked(message.body_text)

    # Whatever the query string says, the target is the stored link.
    response = Client().get(path, {"url": "https://evil.example/", "next": "https://evil.example/"})

    assert response.status_code == 302
    assert response["Location"] == SALE
    message.refresh_from_db()
    assert message.clicked_at is not None
    assert message.opened_at == message.clicked_at  # a click proves an open
    assert (_events(customer, "message_clicked"), _events(customer, "message_opened")) == (1, 1)
    event = Event.objects.get(customer=customer, type="message_clicked")
    assert event.properties["message_id"] == message.pk

    again = Client().get(path)

    assert again["Location"] == SALE
    assert MessageLink.objects.get().clicks == 2
    assert (_events(customer, "message_clicked"), _events(customer, "message_opened")) == (1, 1)


def test_click_after_the_pixel_adds_no_second_open(customer):
    message = _enqueue(customer, html=f'<a href="{SALE}">Скидки</a>')
    [click] = _tracked(message.body_html)
    [pixel] = _tracked(message.body_html, "o")

    Client().get(pixel)
    Client().get(click)

    assert (_events(customer, "message_opened"), _events(customer, "message_clicked")) == (1, 1)


@pytest.mark.parametrize("kind", ["tampered", "open-token", "no-such-link", "not-a-number"])
def test_bad_click_token_is_404(customer, kind):
    message = _enqueue(customer, text=f"Скидки тут: {SALE}")
    link = MessageLink.objects.get()
    token = {
        "tampered": damaged(token_make(purpose="click", value=link.pk)),
        # A valid open-pixel token signs a message id, not a link id.
        "open-token": token_make(purpose="open", value=link.pk),
        "no-such-link": token_make(purpose="click", value=link.pk + 1),
        "not-a-number": token_make(purpose="click", value="https://evil.example/"),
    }[kind]

    response = Client().get(f"/c/r/{token}", {"url": "https://evil.example/"})

    assert response.status_code == 404
    message.refresh_from_db()
    assert message.clicked_at is None
    assert MessageLink.objects.get().clicks == 0


def test_open_pixel_is_a_gif_and_records_the_open_once(customer):
    message = _enqueue(customer, html="<p>Привет</p>")
    [pixel] = _tracked(message.body_html, "o")

    first = Client().get(pixel)
    second = Client().get(pixel)

    for response in (first, second):
        assert response.status_code == 200
        assert response["Content-Type"] == "image/gif"
        assert response.content.startswith(b"GIF89a")
        assert "no-cache" in response["Cache-Control"]
    message.refresh_from_db()
    assert message.opened_at is not None
    assert message.clicked_at is None
    assert _events(customer, "message_opened") == 1


def test_open_pixel_with_a_bad_token_records_nothing(customer):
    message = _enqueue(customer, html="<p>Привет</p>")
    forged = token_make(purpose="click", value=message.pk)

    response = Client().get(f"/c/o/{forged}.gif")

    # Still a picture: a broken image in the mail would tell nobody anything useful.
    assert response["Content-Type"] == "image/gif"
    message.refresh_from_db()
    assert message.opened_at is None
    assert _events(customer, "message_opened") == 0
