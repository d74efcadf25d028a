"""Telegram: Bot API transport against a local server speaking the Bot API, chat linking
through start links, and the bot webhook."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.urls import reverse

from lifelong.customers.models import Channel, Purpose
from lifelong.events.models import Event
from lifelong.factories import CustomerFactory
from lifelong.messaging.channels.base import Outgoing, TransportError
from lifelong.messaging.channels.telegram.linking import (
    telegram_link_token,
    telegram_link_url,
    telegram_token_read,
)
from lifelong.messaging.channels.telegram.transport import TelegramTransport
from lifelong.messaging.dispatch import dispatch_due
from lifelong.messaging.models import ChannelConfig, Message, Status, Suppression
from lifelong.messaging.services import message_enqueue
from lifelong.messaging.tests.fake_api import FakeApi

# The provider fakes listen on loopback.
pytestmark = pytest.mark.usefixtures("loopback_allowed")

TOKEN = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"
SECRET = "s3cr3t-Token_for-webhook"
CHAT = 289374625


@pytest.fixture
def api():
    with FakeApi() as server:
        yield server


def outgoing(**kwargs) -> Outgoing:
    fields: dict[str, Any] = {
        "message_id": 7,
        "channel": "telegram",
        "to": str(CHAT),
        "subject": "",
    }
    fields.update(kwargs)
    fields.setdefault("text", "Ваш заказ собран")
    return Outgoing(**fields)


def sent_ok(message_id: int = 4410) -> dict:
    return {
        "ok": True,
        "result": {
            "message_id": message_id,
            "from": {"id": 123456, "is_bot": True, "first_name": "Лавка", "username": "lavka_bot"},
            "chat": {"id": CHAT, "first_name": "Анна", "type": "private"},
            "date": 1772445600,
            "text": "Ваш заказ собран",
        },
    }


def test_send_message_plain_text(api):
    api.reply(body=sent_ok())
    transport = TelegramTransport({"bot_token": TOKEN, "base_url": api.url})

    result = transport.send(outgoing())

    assert result.provider_id == f"{CHAT}:4410"
    assert (api.last.method, api.last.path) == ("POST", f"/bot{TOKEN}/sendMessage")
    assert api.last.json() == {"chat_id": str(CHAT), "text": "Ваш заказ собран"}


def test_send_message_html_only_when_given(api):
    api.reply(body=sent_ok())
    TelegramTransport({"bot_token": TOKEN, "base_url": api.url}).send(
        outgoing(text="Заказ готов", html="<b>Заказ</b> готов")
    )
    assert api.last.json() == {
        "chat_id": str(CHAT),
        "text": "<b>Заказ</b> готов",
        "parse_mode": "HTML",
    }


@pytest.mark.parametrize(
    ("status", "answer", "permanent", "bounce"),
    [
        (403, {"error_code": 403, "description": "Forbidden: bot was blocked by the user"}, 1, 1),
        (403, {"error_code": 403, "description": "Forbidden: user is deactivated"}, 1, 1),
        (400, {"error_code": 400, "description": "Bad Request: chat not found"}, 1, 1),
        (400, {"error_code": 400, "description": "Bad Request: message is too long"}, 1, 0),
        (401, {"error_code": 401, "description": "Unauthorized"}, 1, 0),
        (
            429,
            {
                "error_code": 429,
                "description": "Too Many Requests: retry after 17",
                "parameters": {"retry_after": 17},
            },
            0,
            0,
        ),
        (502, {"error_code": 502, "description": "Bad Gateway"}, 0, 0),
    ],
)
def test_api_errors(api, status, answer, permanent, bounce):
    api.reply(status, {"ok": False, **answer})
    with pytest.raises(TransportError) as caught:
        TelegramTransport({"bot_token": TOKEN, "base_url": api.url}).send(outgoing())
    assert (caught.value.permanent, caught.value.bounce) == (bool(permanent), bool(bounce))
    assert answer["description"] in str(caught.value)


def test_errors_never_show_the_bot_token(api):
    api.reply(502, "<html>Bad Gateway</html>")
    with pytest.raises(TransportError) as caught:
        TelegramTransport({"bot_token": TOKEN, "base_url": api.url}).send(outgoing())
    assert TOKEN not in str(caught.value)
    assert not caught.value.permanent


def test_no_answer_may_have_sent(api):
    api.reply(body=sent_ok(), delay=1.0)
    transport = TelegramTransport({"bot_token": TOKEN, "base_url": api.url, "timeout": 0.2})
    with pytest.raises(TransportError) as caught:
        transport.send(outgoing())
    assert caught.value.may_have_sent
    assert TOKEN not in str(caught.value)


@pytest.fixture
def telegram(db, api):
    return ChannelConfig.objects.create(
        channel=Channel.TELEGRAM,
        transport="telegram",
        config={
            "bot_token": TOKEN,
            "bot_username": "@lavka_bot",
            "webhook_secret": SECRET,
            "base_url": api.url,
        },
    )


def test_dispatch_sends_to_the_linked_chat(frozen_time, telegram, api):
    customer = CustomerFactory.create(telegram_chat_id=str(CHAT))
    message, _ = message_enqueue(
        customer=customer,
        dedupe_key="order-15-shipped",
        channel=Channel.TELEGRAM,
        purpose=Purpose.TRANSACTIONAL,
        text="Заказ №15 передан в доставку",
    )
    api.reply(body=sent_ok(991))

    assert dispatch_due() == 1

    message.refresh_from_db()
    assert (message.status, message.provider_id) == (Status.SENT, f"{CHAT}:991")
    assert api.last.json() == {"chat_id": str(CHAT), "text": "Заказ №15 передан в доставку"}


def test_dispatch_blocked_bot_fails_and_suppresses_the_chat(frozen_time, telegram, api):
    customer = CustomerFactory.create(telegram_chat_id=str(CHAT))
    message, _ = message_enqueue(
        customer=customer,
        dedupe_key="order-16",
        channel=Channel.TELEGRAM,
        purpose=Purpose.TRANSACTIONAL,
        text="Заказ №16",
    )
    api.reply(
        403,
        {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"},
    )

    dispatch_due()

    message.refresh_from_db()
    assert message.status == Status.FAILED
    assert Suppression.objects.filter(channel="telegram", address=str(CHAT)).exists()


def test_link_token_round_trip_and_forgery(settings):
    token = telegram_link_token(1502)
    assert len(token) <= 64
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
    assert telegram_token_read(token) == 1502
    forged = "1503_" + token.split("_", 1)[1]
    assert telegram_token_read(forged) is None
    assert telegram_token_read("1502") is None
    assert telegram_token_read("") is None
    settings.SECRET_KEY = "another-installation-" + "x" * 40
    assert telegram_token_read(token) is None


def test_link_url_needs_the_bot_username(telegram):
    customer = CustomerFactory.create()
    assert telegram_link_url(customer) == (
        f"https://t.me/lavka_bot?start={telegram_link_token(customer.pk)}"
    )
    telegram.config = {"bot_token": TOKEN}
    telegram.save()
    assert telegram_link_url(customer) == ""


def update(text: str, *, update_id: int = 735001, chat_type: str = "private") -> dict:
    return {
        "update_id": update_id,
        "message": {
            "message_id": 52,
            "from": {"id": CHAT, "is_bot": False, "first_name": "Анна", "language_code": "ru"},
            "chat": {"id": CHAT, "first_name": "Анна", "type": chat_type},
            "date": 1772445600,
            "text": text,
        },
    }


def post_update(client, body, secret: str | None = SECRET):
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
    return client.post(
        reverse("messaging_hooks:telegram"),
        json.dumps(body),
        content_type="application/json",
        headers=headers,
    )


def test_start_link_links_the_chat_and_lifts_its_suppression(frozen_time, telegram, client):
    customer = CustomerFactory.create()
    previous = CustomerFactory.create(telegram_chat_id=str(CHAT))
    Suppression.objects.create(channel="telegram", address=str(CHAT), reason="blocked")

    response = post_update(client, update(f"/start {telegram_link_token(customer.pk)}"))

    assert response.status_code == 200
    customer.refresh_from_db()
    previous.refresh_from_db()
    assert customer.telegram_chat_id == str(CHAT)
    assert previous.telegram_chat_id == ""
    assert not Suppression.objects.filter(channel="telegram").exists()
    linked = Event.objects.get(customer=customer, type="telegram_linked")
    assert linked.properties == {"chat_id": str(CHAT)}
    assert not Event.objects.filter(type="message_replied").exists()
    # Telegram re-delivers an update it got no answer for: nothing new happens.
    post_update(client, update(f"/start {telegram_link_token(customer.pk)}"))
    assert Event.objects.filter(type="telegram_linked").count() == 1


@pytest.mark.parametrize(
    "text", ["/start", "/start 15_AAAAAAAAAAAAAAAA", "/start ../../etc", "/start@lavka_bot"]
)
def test_start_without_a_valid_token_links_nothing(frozen_time, telegram, client, text):
    response = post_update(client, update(text))
    assert response.status_code == 200
    assert not Event.objects.exists()


def test_start_link_from_a_group_links_nothing(frozen_time, telegram, client):
    customer = CustomerFactory.create()
    post_update(client, update(f"/start {telegram_link_token(customer.pk)}", chat_type="group"))
    customer.refresh_from_db()
    assert customer.telegram_chat_id == ""


def test_reply_lands_on_the_customers_timeline(frozen_time, telegram, client):
    customer = CustomerFactory.create(telegram_chat_id=str(CHAT))
    message = Message.objects.create(
        customer=customer,
        dedupe_key="survey-1",
        channel=Channel.TELEGRAM,
        purpose=Purpose.TRANSACTIONAL,
        to=str(CHAT),
        status=Status.SENT,
        sent_at=dt.datetime(2026, 3, 1, 10, tzinfo=dt.UTC),
    )

    response = post_update(client, update("Спасибо, всё понравилось!"))

    assert response.status_code == 200
    replied = Event.objects.get(customer=customer, type="message_replied")
    assert replied.properties["text"] == "Спасибо, всё понравилось!"
    assert replied.properties["message_id"] == message.pk
    post_update(client, update("Спасибо, всё понравилось!"))
    assert Event.objects.filter(type="message_replied").count() == 1


@pytest.mark.parametrize("secret", [None, "wrong", SECRET.upper()])
def test_webhook_without_the_secret_is_refused(frozen_time, telegram, client, secret):
    CustomerFactory.create(telegram_chat_id=str(CHAT))
    response = post_update(client, update("Привет"), secret=secret)
    assert response.status_code == 403
    assert not Event.objects.exists()


def test_webhook_refuses_when_no_secret_is_configured(frozen_time, telegram, client):
    telegram.config = {"bot_token": TOKEN}
    telegram.save()
    assert post_update(client, update("Привет"), secret="").status_code == 403


def test_webhook_without_telegram_set_up_is_not_found(db, client):
    assert post_update(client, update("Привет")).status_code == 404


@pytest.mark.parametrize(
    "body", ["not json", "[]", '{"update_id": "x"}', '{"update_id": 5, "message": {"chat": 1}}']
)
def test_malformed_updates_never_crash(frozen_time, telegram, client, body):
    response = client.post(
        reverse("messaging_hooks:telegram"),
        body,
        content_type="application/json",
        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
    )
    assert response.status_code in (200, 400)


def test_other_updates_are_acknowledged(frozen_time, telegram, client):
    body = {"update_id": 9, "edited_message": update("Исправил")["message"]}
    assert post_update(client, body).status_code == 200
    assert not Event.objects.exists()
