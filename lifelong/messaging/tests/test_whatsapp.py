"""WhatsApp Cloud API: the messages endpoint against a local server speaking the Graph API,
and the signed webhook (verification, statuses, incoming messages)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from typing import Any

import pytest
from django.urls import reverse

from lifelong.customers.models import Channel, Purpose
from lifelong.events.models import Event
from lifelong.factories import CustomerFactory
from lifelong.messaging.channels.base import Outgoing, TransportError
from lifelong.messaging.channels.whatsapp.transport import WhatsAppTransport
from lifelong.messaging.dispatch import dispatch_due
from lifelong.messaging.models import ChannelConfig, Message, Status, Suppression
from lifelong.messaging.services import message_enqueue
from lifelong.messaging.tests.fake_api import FakeApi

# The provider fakes listen on loopback.
pytestmark = pytest.mark.usefixtures("loopback_allowed")

TOKEN = "EAAG-whatsapp-system-user-token"
PHONE_ID = "106540352242922"
APP_SECRET = "meta-app-secret"
VERIFY = "lifelong-verify"
WAMID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA"


@pytest.fixture
def api():
    with FakeApi() as server:
        yield server


def outgoing(**kwargs) -> Outgoing:
    fields: dict[str, Any] = {
        "message_id": 11,
        "channel": "whatsapp",
        "to": "+79255070602",
        "subject": "",
        "text": "Ваш заказ готов",
    }
    fields.update(kwargs)
    return Outgoing(**fields)


def accepted(wamid: str = WAMID) -> dict:
    return {
        "messaging_product": "whatsapp",
        "contacts": [{"input": "79255070602", "wa_id": "79255070602"}],
        "messages": [{"id": wamid}],
    }


def graph_error(code: int, message: str, details: str = "") -> dict:
    return {
        "error": {
            "message": message,
            "type": "OAuthException",
            "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": details},
            "fbtrace_id": "AbCdEf123",
        }
    }


def transport(api, **config) -> WhatsAppTransport:
    return WhatsAppTransport(
        {"access_token": TOKEN, "phone_number_id": PHONE_ID, "base_url": api.url, **config}
    )


def test_text_message_wire_format(api):
    api.reply(body=accepted())

    assert transport(api).send(outgoing()).provider_id == WAMID

    request = api.last
    assert (request.method, request.path) == ("POST", f"/v21.0/{PHONE_ID}/messages")
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.json() == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "79255070602",
        "type": "text",
        "text": {"preview_url": False, "body": "Ваш заказ готов"},
    }


def test_payload_template_is_sent_as_a_template(api):
    api.reply(body=accepted())
    template = {"name": "order_ready", "language": "ru", "parameters": ["Анна", "15"]}

    transport(api).send(outgoing(payload={"whatsapp_template": template}))

    assert api.last.json()["type"] == "template"
    assert api.last.json()["template"] == {
        "name": "order_ready",
        "language": {"code": "ru"},
        "components": [
            {
                "type": "body",
                "parameters": [{"type": "text", "text": "Анна"}, {"type": "text", "text": "15"}],
            }
        ],
    }


def test_marketing_uses_the_configured_template(api):
    api.reply(body=accepted())
    api.reply(body=accepted())
    wa = transport(api, template_name="news", template_language="ru")

    wa.send(outgoing(marketing=True, text="Скидка 10%"))
    assert api.last.json()["template"] == {
        "name": "news",
        "language": {"code": "ru"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "Скидка 10%"}]}],
    }
    wa.send(outgoing(marketing=False))
    assert api.last.json()["type"] == "text"


@pytest.mark.parametrize(
    ("status", "code", "permanent", "bounce"),
    [
        (400, 131026, True, True),
        (400, 130429, False, False),
        (400, 131056, False, False),
        (400, 131047, True, False),
        (401, 190, True, False),
        (500, 131000, False, False),
    ],
)
def test_graph_errors(api, status, code, permanent, bounce):
    api.reply(status, graph_error(code, f"(#{code}) something", "details here"))
    with pytest.raises(TransportError) as caught:
        transport(api).send(outgoing())
    assert (caught.value.permanent, caught.value.bounce) == (permanent, bounce)
    assert str(code) in str(caught.value)


def test_an_html_error_page_falls_back_on_the_status(api):
    api.reply(503, "<html>Service Unavailable</html>")
    with pytest.raises(TransportError) as caught:
        transport(api).send(outgoing())
    assert not caught.value.permanent


@pytest.fixture
def whatsapp(db, api):
    return ChannelConfig.objects.create(
        channel=Channel.WHATSAPP,
        transport="whatsapp",
        config={
            "access_token": TOKEN,
            "phone_number_id": PHONE_ID,
            "app_secret": APP_SECRET,
            "verify_token": VERIFY,
            "base_url": api.url,
        },
    )


def notification(value: dict) -> dict:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "79001234567",
                                "phone_number_id": PHONE_ID,
                            },
                            **value,
                        },
                        "field": "messages",
                    }
                ],
            }
        ],
    }


def status(state: str, wamid: str = WAMID, **extra) -> dict:
    return {
        "statuses": [
            {
                "id": wamid,
                "status": state,
                "timestamp": "1772445700",
                "recipient_id": "79255070602",
                **extra,
            }
        ]
    }


def post(client, body: dict, secret: str = APP_SECRET):
    raw = json.dumps(body).encode()
    signature = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return client.post(
        reverse("messaging_hooks:whatsapp"),
        raw,
        content_type="application/json",
        headers={"X-Hub-Signature-256": signature},
    )


def test_dispatch_then_delivered_status(frozen_time, whatsapp, api, client):
    customer = CustomerFactory.create(phone="+79255070602")
    message, _ = message_enqueue(
        customer=customer,
        dedupe_key="wa-1",
        channel=Channel.WHATSAPP,
        purpose=Purpose.TRANSACTIONAL,
        text="Заказ готов",
    )
    api.reply(body=accepted())
    assert dispatch_due() == 1
    message.refresh_from_db()
    assert (message.status, message.provider_id) == (Status.SENT, WAMID)

    assert post(client, notification(status("sent"))).status_code == 200
    assert post(client, notification(status("delivered"))).status_code == 200

    message.refresh_from_db()
    assert message.status == Status.DELIVERED
    assert message.delivered_at == dt.datetime.fromtimestamp(1772445700, tz=dt.UTC)
    assert Event.objects.filter(customer=customer, type="message_delivered").count() == 1


def test_failed_undeliverable_status_fails_and_suppresses(frozen_time, whatsapp, client):
    customer = CustomerFactory.create(phone="+79255070602")
    message = Message.objects.create(
        customer=customer,
        dedupe_key="wa-2",
        channel=Channel.WHATSAPP,
        purpose=Purpose.TRANSACTIONAL,
        to="+79255070602",
        status=Status.SENT,
        provider_id=WAMID,
    )
    errors = [{"code": 131026, "title": "Message undeliverable"}]

    post(client, notification(status("failed", errors=errors)))

    message.refresh_from_db()
    assert message.status == Status.FAILED
    assert "131026" in message.last_error
    assert Suppression.objects.filter(channel="whatsapp", address="+79255070602").exists()


def test_incoming_text_becomes_a_reply_event(frozen_time, whatsapp, client):
    customer = CustomerFactory.create(phone="+79255070602")
    value = {
        "contacts": [{"profile": {"name": "Анна"}, "wa_id": "79255070602"}],
        "messages": [
            {
                "from": "79255070602",
                "id": "wamid.incoming1",
                "timestamp": "1772445800",
                "type": "text",
                "text": {"body": "Можно забрать завтра?"},
            }
        ],
    }

    assert post(client, notification(value)).status_code == 200

    replied = Event.objects.get(customer=customer, type="message_replied")
    assert replied.properties["text"] == "Можно забрать завтра?"
    post(client, notification(value))
    assert Event.objects.filter(type="message_replied").count() == 1


def test_button_reply_text_is_recorded(frozen_time, whatsapp, client):
    customer = CustomerFactory.create(phone="+79255070602")
    value = {
        "messages": [
            {
                "from": "79255070602",
                "id": "wamid.incoming2",
                "timestamp": "1772445800",
                "type": "button",
                "button": {"text": "Отписаться", "payload": "STOP"},
            }
        ]
    }
    post(client, notification(value))
    assert Event.objects.get(customer=customer, type="message_replied").properties["text"] == (
        "Отписаться"
    )


def test_bad_signature_is_refused(frozen_time, whatsapp, client):
    message = Message.objects.create(
        customer=CustomerFactory.create(),
        dedupe_key="wa-3",
        channel=Channel.WHATSAPP,
        purpose=Purpose.TRANSACTIONAL,
        status=Status.SENT,
        provider_id=WAMID,
    )
    response = post(client, notification(status("delivered")), secret="not-the-app-secret")
    assert response.status_code == 403
    message.refresh_from_db()
    assert message.status == Status.SENT


def test_verification_echoes_the_challenge(whatsapp, client):
    url = reverse("messaging_hooks:whatsapp")
    params = {"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "1158201444"}
    response = client.get(url, params)
    assert (response.status_code, response.content) == (200, b"1158201444")
    assert client.get(url, {**params, "hub.verify_token": "guess"}).status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        {"object": "whatsapp_business_account"},
        {"entry": "x"},
        {"entry": [{"changes": [{"value": {"statuses": [1], "messages": [{"from": "x"}]}}]}]},
    ],
)
def test_odd_notifications_are_acknowledged(frozen_time, whatsapp, client, body):
    assert post(client, body).status_code == 200


def test_webhook_without_whatsapp_set_up_is_not_found(db, client):
    assert post(client, notification(status("delivered"))).status_code == 404
