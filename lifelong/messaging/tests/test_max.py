"""MAX messenger: POST /messages against a local server speaking the MAX bot API, and the
webhook for incoming messages."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.urls import reverse

from lifelong.customers.models import Channel, Purpose
from lifelong.events.models import Event
from lifelong.factories import CustomerFactory
from lifelong.messaging.channels.base import Outgoing, TransportError
from lifelong.messaging.channels.max.transport import MaxTransport
from lifelong.messaging.dispatch import dispatch_due
from lifelong.messaging.models import ChannelConfig, Status
from lifelong.messaging.services import message_enqueue
from lifelong.messaging.tests.fake_api import FakeApi

# The provider fakes listen on loopback.
pytestmark = pytest.mark.usefixtures("loopback_allowed")

TOKEN = "f9LHodD0cOJoiuLLTLt6zkOsfBmp1-max-token"
SECRET = "max-webhook-secret"
CHAT = "182182182"


@pytest.fixture
def api():
    with FakeApi() as server:
        yield server


def outgoing(**kwargs) -> Outgoing:
    fields: dict[str, Any] = {
        "message_id": 3,
        "channel": "max",
        "to": CHAT,
        "subject": "",
        "text": "Привет!",
    }
    fields.update(kwargs)
    return Outgoing(**fields)


def sent(mid: str = "mid.ffffbdb48e6c3775019d496b34394b84") -> dict:
    return {
        "message": {
            "recipient": {"chat_id": int(CHAT), "chat_type": "dialog", "user_id": 123456789},
            "timestamp": 1775053255737,
            "body": {"mid": mid, "seq": 116327994376978687, "text": "Привет!"},
            "sender": {"user_id": 590001, "first_name": "Лавка", "is_bot": True},
        }
    }


def test_send_posts_to_the_chat_with_the_token_header(api):
    api.reply(body=sent())

    result = MaxTransport({"access_token": TOKEN, "base_url": api.url}).send(outgoing())

    assert result.provider_id == "mid.ffffbdb48e6c3775019d496b34394b84"
    request = api.last
    assert (request.method, request.path, request.query) == (
        "POST",
        "/messages",
        {"chat_id": [CHAT]},
    )
    assert request.headers["authorization"] == TOKEN
    assert "access_token" not in request.query
    assert request.json() == {"text": "Привет!"}


def test_send_by_user_id_with_html(api):
    api.reply(body=sent())
    transport = MaxTransport({"access_token": TOKEN, "base_url": api.url, "address": "user_id"})
    transport.send(outgoing(to="123456789", html="<b>Привет!</b>"))
    assert api.last.query == {"user_id": ["123456789"]}
    assert api.last.json() == {"text": "<b>Привет!</b>", "format": "html"}


@pytest.mark.parametrize(
    ("status", "body", "permanent", "bounce"),
    [
        (401, {"code": "verify.token", "message": "Invalid access_token"}, True, False),
        (403, {"code": "chat.denied", "message": "Bot is blocked by the user"}, True, True),
        (404, {"code": "not.found", "message": "Chat 182182182 not found"}, True, True),
        (400, {"code": "proto.payload", "message": "text: size must be <= 4000"}, True, False),
        (429, {"code": "too.many.requests", "message": "Too many requests"}, False, False),
        (503, {"code": "internal", "message": "Service unavailable"}, False, False),
    ],
)
def test_errors(api, status, body, permanent, bounce):
    api.reply(status, body)
    with pytest.raises(TransportError) as caught:
        MaxTransport({"access_token": TOKEN, "base_url": api.url}).send(outgoing())
    assert (caught.value.permanent, caught.value.bounce) == (permanent, bounce)
    assert body["message"] in str(caught.value)


@pytest.fixture
def max_channel(db, api):
    return ChannelConfig.objects.create(
        channel=Channel.MAX,
        transport="max",
        config={"access_token": TOKEN, "webhook_secret": SECRET, "base_url": api.url},
    )


def test_dispatch_sends_to_the_customers_chat(frozen_time, max_channel, api):
    customer = CustomerFactory.create(max_chat_id=CHAT)
    message, _ = message_enqueue(
        customer=customer,
        dedupe_key="max-1",
        channel=Channel.MAX,
        purpose=Purpose.TRANSACTIONAL,
        text="Заказ готов",
    )
    api.reply(body=sent("mid.0001"))

    assert dispatch_due() == 1

    message.refresh_from_db()
    assert (message.status, message.provider_id) == (Status.SENT, "mid.0001")


def message_created(text: str, chat_id: int = int(CHAT), *, is_bot: bool = False) -> dict:
    return {
        "message": {
            "recipient": {"chat_id": chat_id, "chat_type": "dialog"},
            "timestamp": 1775053255737,
            "body": {"mid": "mid.ffffbdb48e6c3775019d496b34394b85", "seq": 1, "text": text},
            "sender": {
                "user_id": 123456789,
                "first_name": "John",
                "last_name": "Doe",
                "is_bot": is_bot,
                "name": "John Doe",
            },
        },
        "timestamp": 1775025604499,
        "update_type": "message_created",
        "user_locale": "ru",
    }


def post(client, body, secret: str | None = SECRET):
    headers = {"X-Max-Bot-Api-Secret": secret} if secret else {}
    return client.post(
        reverse("messaging_hooks:max"),
        json.dumps(body),
        content_type="application/json",
        headers=headers,
    )


def test_message_created_becomes_a_reply_event(frozen_time, max_channel, client):
    customer = CustomerFactory.create(max_chat_id=CHAT)

    assert post(client, message_created("Спасибо!")).status_code == 200

    replied = Event.objects.get(customer=customer, type="message_replied")
    assert replied.properties["text"] == "Спасибо!"
    post(client, message_created("Спасибо!"))
    assert Event.objects.filter(type="message_replied").count() == 1


def test_user_id_addressing_matches_the_sender(frozen_time, max_channel, client):
    max_channel.config = {**max_channel.config, "address": "user_id"}
    max_channel.save()
    customer = CustomerFactory.create(max_chat_id="123456789")
    post(client, message_created("Да", chat_id=-70801090403050))
    assert Event.objects.filter(customer=customer, type="message_replied").exists()


def test_bot_messages_and_other_updates_are_ignored(frozen_time, max_channel, client):
    CustomerFactory.create(max_chat_id=CHAT)
    assert post(client, message_created("echo", is_bot=True)).status_code == 200
    started = {"timestamp": 1, "chat_id": int(CHAT), "update_type": "bot_started", "user": {}}
    assert post(client, started).status_code == 200
    assert not Event.objects.exists()


@pytest.mark.parametrize("secret", [None, "wrong"])
def test_wrong_secret_is_refused(frozen_time, max_channel, client, secret):
    CustomerFactory.create(max_chat_id=CHAT)
    assert post(client, message_created("Привет"), secret=secret).status_code == 403
    assert not Event.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        "nope",
        "[]",
        '{"update_type": "message_created", "message": {"sender": 1, "recipient": "x"}}',
    ],
)
def test_malformed_updates_never_crash(frozen_time, max_channel, client, body):
    response = client.post(
        reverse("messaging_hooks:max"),
        body,
        content_type="application/json",
        headers={"X-Max-Bot-Api-Secret": SECRET},
    )
    assert response.status_code in (200, 400)


def test_webhook_without_max_set_up_is_not_found(db, client):
    assert post(client, message_created("Привет")).status_code == 404
