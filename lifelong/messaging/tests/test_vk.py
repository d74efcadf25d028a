"""VK: messages.send against a local server speaking the VK API, and the Callback API."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from lifelong.customers.models import Channel, Purpose
from lifelong.events.models import Event
from lifelong.factories import CustomerFactory
from lifelong.messaging.channels.base import Outgoing, TransportError
from lifelong.messaging.channels.vk.transport import VkTransport
from lifelong.messaging.dispatch import dispatch_due
from lifelong.messaging.models import ChannelConfig, Status, Suppression
from lifelong.messaging.services import message_enqueue
from lifelong.messaging.tests.fake_api import FakeApi

# The provider fakes listen on loopback.
pytestmark = pytest.mark.usefixtures("loopback_allowed")

TOKEN = "vk1.a.community-token"
GROUP = 214167102
SECRET = "cb-secret-42"


@pytest.fixture
def api():
    with FakeApi() as server:
        yield server


def outgoing(message_id: int = 9001) -> Outgoing:
    return Outgoing(
        message_id=message_id, channel="vk", to="612444319", subject="", text="Ваш заказ готов"
    )


def vk_error(code: int, text: str) -> dict:
    return {
        "error": {
            "error_code": code,
            "error_msg": text,
            "request_params": [
                {"key": "method", "value": "messages.send"},
                {"key": "v", "value": "5.199"},
            ],
        }
    }


def test_messages_send_posts_the_documented_form(api):
    api.reply(body={"response": 16901})

    result = VkTransport({"access_token": TOKEN, "base_url": api.url}).send(outgoing())

    assert result.provider_id == "16901"
    assert (api.last.method, api.last.path) == ("POST", "/method/messages.send")
    assert api.last.form() == {
        "access_token": TOKEN,
        "v": "5.199",
        "peer_id": "612444319",
        "random_id": "9001",
        "message": "Ваш заказ готов",
    }
    assert api.last.query == {}


@pytest.mark.parametrize(
    ("code", "text", "permanent", "bounce"),
    [
        (901, "Can't send messages for users without permission", True, True),
        (902, "Can't send messages to this user due to their privacy settings", True, True),
        (900, "Can't send messages for users from blacklist", True, True),
        (5, "User authorization failed: invalid access_token (4).", True, False),
        (6, "Too many requests per second", False, False),
        (9, "Flood control", False, False),
        (10, "Internal server error", False, False),
        (914, "Message is too long", True, False),
    ],
)
def test_vk_errors_arrive_with_http_200(api, code, text, permanent, bounce):
    api.reply(200, vk_error(code, text))
    with pytest.raises(TransportError) as caught:
        VkTransport({"access_token": TOKEN, "base_url": api.url}).send(outgoing())
    assert (caught.value.permanent, caught.value.bounce) == (permanent, bounce)
    assert text in str(caught.value)


def test_retry_after_a_lost_answer_reuses_the_random_id(api):
    # VK drops a second messages.send with the same random_id, so re-sending is harmless.
    api.reply(body={"response": 1}, delay=1.0)
    api.reply(body={"response": 1})
    transport = VkTransport({"access_token": TOKEN, "base_url": api.url, "timeout": 0.2})
    with pytest.raises(TransportError) as caught:
        transport.send(outgoing(message_id=77))
    assert caught.value.may_have_sent
    transport.send(outgoing(message_id=77))
    assert [r.form()["random_id"] for r in api.requests] == ["77", "77"]


@pytest.fixture
def vk(db, api):
    return ChannelConfig.objects.create(
        channel=Channel.VK,
        transport="vk",
        config={
            "access_token": TOKEN,
            "group_id": GROUP,
            "confirmation": "693d0ba9",
            "secret": SECRET,
            "base_url": api.url,
        },
    )


def test_dispatch_privacy_refusal_suppresses_the_vk_id(frozen_time, vk, api):
    customer = CustomerFactory.create(vk_id="612444319")
    message, _ = message_enqueue(
        customer=customer,
        dedupe_key="vk-1",
        channel=Channel.VK,
        purpose=Purpose.TRANSACTIONAL,
        text="Заказ готов",
    )
    api.reply(200, vk_error(902, "Can't send messages to this user due to their privacy settings"))

    dispatch_due()

    message.refresh_from_db()
    assert message.status == Status.FAILED
    assert api.last.form()["random_id"] == str(message.pk)
    assert Suppression.objects.filter(channel="vk", address="612444319").exists()


def callback(client, body):
    return client.post(reverse("messaging_hooks:vk"), json.dumps(body), content_type="text/json")


def message_new(text: str, *, secret: str = SECRET, from_id: int = 612444319) -> dict:
    return {
        "group_id": GROUP,
        "type": "message_new",
        "event_id": "da1b15e9f6d0c3c8a0c937e048cdd3e2b43794d0",
        "v": "5.199",
        "object": {
            "message": {
                "date": 1772445600,
                "from_id": from_id,
                "id": 16901,
                "out": 0,
                "attachments": [],
                "conversation_message_id": 2169,
                "fwd_messages": [],
                "important": False,
                "is_hidden": False,
                "peer_id": from_id,
                "random_id": 0,
                "text": text,
            },
            "client_info": {"button_actions": ["text"], "keyboard": True, "lang_id": 0},
        },
        "secret": secret,
    }


def test_confirmation_returns_the_configured_string(vk, client):
    response = callback(client, {"type": "confirmation", "group_id": GROUP})
    assert response.status_code == 200
    assert response.content == b"693d0ba9"


def test_confirmation_for_another_community_is_refused(vk, client):
    response = callback(client, {"type": "confirmation", "group_id": 1})
    assert response.status_code == 403


def test_message_new_becomes_a_reply_event(frozen_time, vk, client):
    customer = CustomerFactory.create(vk_id="612444319")

    response = callback(client, message_new("Когда будет доставка?"))

    assert (response.status_code, response.content) == (200, b"ok")
    replied = Event.objects.get(customer=customer, type="message_replied")
    assert replied.properties["text"] == "Когда будет доставка?"
    assert replied.properties["channel"] == "vk"
    callback(client, message_new("Когда будет доставка?"))
    assert Event.objects.filter(type="message_replied").count() == 1


def test_wrong_secret_is_refused(frozen_time, vk, client):
    CustomerFactory.create(vk_id="612444319")
    response = callback(client, message_new("Привет", secret="guess"))
    assert response.status_code == 403
    assert not Event.objects.exists()


def test_unknown_sender_and_other_events_are_acknowledged(frozen_time, vk, client):
    assert callback(client, message_new("Кто это?", from_id=1)).content == b"ok"
    body = {"group_id": GROUP, "type": "group_join", "object": {"user_id": 1}, "secret": SECRET}
    assert callback(client, body).content == b"ok"
    assert not Event.objects.exists()


@pytest.mark.parametrize("body", ["nope", "[1]", '{"type": "message_new", "object": 5}'])
def test_malformed_callbacks_never_crash(frozen_time, vk, client, body):
    response = client.post(reverse("messaging_hooks:vk"), body, content_type="application/json")
    assert response.status_code in (400, 403)


def test_callback_without_vk_set_up_is_not_found(db, client):
    assert callback(client, {"type": "confirmation", "group_id": GROUP}).status_code == 404
