"""SMS replies reach the inbox: SMS Gateway for Android's signed webhook (raw bytes as the
app sends them) becomes a timeline event and an inbox item once, and staff answer it by SMS
through the `http_sms` transport speaking the gateway's API, exactly once."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from lifelong import clock
from lifelong.customers.models import Channel, Purpose
from lifelong.events.models import Event
from lifelong.factories import CustomerFactory
from lifelong.feedback.inbox import reply_send
from lifelong.feedback.models import Conversation, Item, ItemSource
from lifelong.messaging.channels.sms.gateway_hooks import sender_phone, signature_valid
from lifelong.messaging.dispatch import dispatch_due
from lifelong.messaging.models import ChannelConfig, Message, Status
from lifelong.messaging.services import message_enqueue

SIGNING_KEY = "a9Fz3kQ0lW"
DEVICE = "ffffffffceb0b1db0000018e937c815b"
PHONE = "+79255070602"
TIMESTAMP = "1772445600"


pytestmark = pytest.mark.usefixtures("loopback_allowed")


@pytest.fixture
def gateway(db, api):
    """The SMS channel through SMS Gateway for Android's cloud API (POST
    /3rdparty/v1/messages, Basic auth), as docs/channels.md tells the owner to set it up."""
    return ChannelConfig.objects.create(
        channel=Channel.SMS,
        transport="http_sms",
        config={
            "url": api.url + "/3rdparty/v1/messages",
            "body": {"textMessage": {"text": "{text}"}, "phoneNumbers": ["{to}"]},
            "auth_header": "Authorization: Basic bGF2a2E6cGFzcw==",
            "id_path": "id",
            "webhook_signing_key": SIGNING_KEY,
        },
    )


def received(text: str, event_id: str, phone: str = PHONE) -> bytes:
    """An sms:received webhook body as the app sends it: compact JSON in UTF-8; the
    signature covers these bytes exactly."""
    event = {
        "deviceId": DEVICE,
        "event": "sms:received",
        "id": event_id,
        "payload": {
            "messageId": "abc123",
            "message": text,
            "phoneNumber": phone,
            "simNumber": 1,
            "receivedAt": "2026-03-02T13:00:00.000+03:00",
        },
        "webhookId": "LreFUt-Z3sSq0JufY9uWB",
    }
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()


def sign(body: bytes, timestamp: str = TIMESTAMP, key: str = SIGNING_KEY) -> str:
    return hmac.new(key.encode(), body + timestamp.encode(), hashlib.sha256).hexdigest()


def post(client, body: bytes, *, signature: str | None = None, timestamp: str = TIMESTAMP):
    return client.post(
        reverse("messaging_hooks:sms_gateway"),
        body,
        content_type="application/json",
        headers={"X-Signature": signature or sign(body, timestamp), "X-Timestamp": timestamp},
    )


def test_a_reply_becomes_a_timeline_event_and_one_inbox_item(frozen_time, gateway, client):
    anna = CustomerFactory.create(phone=PHONE, first_name="Анна")
    # Our last SMS to her: the reply is linked to it.
    ours = Message.objects.create(
        customer=anna,
        dedupe_key="order-15",
        channel=Channel.SMS,
        purpose=Purpose.TRANSACTIONAL,
        to=PHONE,
        body_text="Заказ №15 доставлен",
        status=Status.SENT,
        sent_at=clock.now(),
    )
    body = received("Курьер опоздал на два часа, коробка мятая", "Ey6ECgOkVVFjz3CL48B8C")

    response = post(client, body)

    assert (response.status_code, response.json()) == (200, {"ok": True})
    event = Event.objects.get(customer=anna, type="message_replied")
    assert event.properties["channel"] == "sms"
    assert event.properties["text"] == "Курьер опоздал на два часа, коробка мятая"
    item = Item.objects.get()
    assert (item.source, item.channel, item.conversation.customer_id) == (
        ItemSource.MESSAGE,
        "sms",
        anna.pk,
    )
    assert item.text == "Курьер опоздал на два часа, коробка мятая"
    assert "delivery" in item.themes
    assert item.message_id == ours.pk

    # The gateway retries the same event (a lost answer): nothing more.
    assert post(client, body, timestamp="1772445630").status_code == 200
    assert Item.objects.count() == 1
    assert Event.objects.filter(type="message_replied").count() == 1
    # Another message from her joins the same conversation.
    post(client, received("И чек не положили", "Ey6ECgOkVVFjz3CL48B8D"))
    assert Item.objects.count() == 2 and Conversation.objects.count() == 1


@pytest.mark.parametrize("written", ["79255070602", "89255070602", "+7 (925) 507-06-02"])
def test_the_sender_is_matched_however_the_gateway_writes_the_number(
    frozen_time, gateway, client, written
):
    anna = CustomerFactory.create(phone=PHONE)
    post(client, received("Спасибо!", f"ev-{written}", phone=written))
    assert Item.objects.get().conversation.customer_id == anna.pk


def test_an_unknown_number_is_acknowledged_and_recorded_nowhere(frozen_time, gateway, client):
    CustomerFactory.create(phone=PHONE)
    response = post(client, received("Кто это?", "ev-stranger", phone="+79161112233"))
    # Like a messenger reply from a chat we do not know: the provider is answered 2xx (no
    # retries for two days), and no item or event is made.
    assert response.status_code == 200
    assert not Item.objects.exists() and not Event.objects.exists()


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Timestamp": TIMESTAMP},
        {"X-Timestamp": TIMESTAMP, "X-Signature": "0" * 64},
        # Signed with another key, or over another timestamp than the one sent.
        {"X-Timestamp": TIMESTAMP, "X-Signature": "other-key"},
        {"X-Timestamp": "1772445601", "X-Signature": "stale"},
    ],
)
def test_an_unsigned_or_forged_webhook_is_refused(frozen_time, gateway, client, headers):
    CustomerFactory.create(phone=PHONE)
    body = received("Верните деньги", "ev-forged")
    if headers.get("X-Signature") == "other-key":
        headers = {**headers, "X-Signature": sign(body, key="someone-else")}
    if headers.get("X-Signature") == "stale":
        headers = {**headers, "X-Signature": sign(body, timestamp=TIMESTAMP)}
    response = client.post(
        reverse("messaging_hooks:sms_gateway"),
        body,
        content_type="application/json",
        headers=headers,
    )
    assert response.status_code == 403
    assert not Item.objects.exists() and not Event.objects.exists()


def test_a_changed_byte_breaks_the_signature(frozen_time, gateway, client):
    CustomerFactory.create(phone=PHONE)
    body = received("Всё хорошо", "ev-1")
    tampered = body.replace("хорошо".encode(), "плохо!".encode())
    assert post(client, tampered, signature=sign(body)).status_code == 403
    assert not Item.objects.exists()


def test_without_the_gateway_set_up_the_hook_is_not_found(db, client):
    ChannelConfig.objects.create(channel=Channel.SMS, transport="smsru", config={"api_id": "x"})
    assert post(client, received("Привет", "ev-1")).status_code == 404


def test_delivery_reports_name_the_gateways_message_id(frozen_time, gateway, api, client):
    anna = CustomerFactory.create(phone=PHONE)
    message, _ = message_enqueue(
        customer=anna,
        dedupe_key="code-1",
        channel=Channel.SMS,
        purpose=Purpose.TRANSACTIONAL,
        text="Заказ №15 готов к выдаче",
    )
    api.reply(202, {"id": "PyDmBQZZXYmyxMwED8Fzy", "state": "Pending", "recipients": []})
    assert dispatch_due() == 1
    message.refresh_from_db()
    assert message.provider_id == "PyDmBQZZXYmyxMwED8Fzy"
    event = {
        "deviceId": DEVICE,
        "event": "sms:delivered",
        "id": "ev-d1",
        "payload": {
            "messageId": "PyDmBQZZXYmyxMwED8Fzy",
            "phoneNumber": PHONE,
            "simNumber": 1,
            "deliveredAt": "2026-03-02T13:00:05.000+03:00",
        },
        "webhookId": "w2",
    }
    assert post(client, json.dumps(event).encode()).status_code == 200
    message.refresh_from_db()
    assert message.status == Status.DELIVERED
    assert not Item.objects.exists()


def test_staff_answer_an_sms_reply_by_sms_exactly_once(frozen_time, gateway, api, client, support):
    anna = CustomerFactory.create(phone=PHONE, first_name="Анна")
    post(client, received("Курьер опоздал", "ev-late"))
    conversation = Conversation.objects.get()

    replies = [
        reply_send(
            conversation=conversation,
            author=support,
            text="Анна, простите за опоздание — курьера мы сменили.",
            signer="Ольга Смирнова, менеджер по качеству",
            key="form-7",
        )
        for _ in range(2)
    ]
    assert replies[0] == replies[1]
    api.reply(202, {"id": "Qx1", "state": "Pending", "recipients": []})
    assert dispatch_due() == 1
    assert dispatch_due() == 0

    assert len(api.requests) == 1
    request = api.last
    assert (request.method, request.path) == ("POST", "/3rdparty/v1/messages")
    assert request.headers["authorization"] == "Basic bGF2a2E6cGFzcw=="
    assert json.loads(request.body) == {
        "textMessage": {
            "text": "Анна, простите за опоздание — курьера мы сменили.\n\n"
            "— Ольга Смирнова, менеджер по качеству"
        },
        "phoneNumbers": [PHONE],
    }
    message = Message.objects.get(dedupe_key__startswith="feedback_reply:")
    assert (message.channel, message.customer_id, message.status) == ("sms", anna.pk, "sent")


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("+79255070602", "+79255070602"),
        ("79255070602", "+79255070602"),
        ("89255070602", "+79255070602"),
        ("9255070602", "+79255070602"),
        ("+44 20 7946 0958", "+442079460958"),
        ("900", ""),
        ("MegaFon", ""),
        ("", ""),
    ],
)
def test_sender_phone(raw, e164):
    assert sender_phone(raw) == e164


@given(
    operator=st.sampled_from(["903", "916", "925", "985"]),
    rest=st.integers(min_value=0, max_value=9_999_999),
    style=st.sampled_from(["+7{}", "7{}", "8{}", "+7 ({}) {}-{}-{}", "8 {} {} {} {}", "{}"]),
)
def test_every_spelling_of_a_russian_mobile_is_one_e164(operator, rest, style):
    number = f"{operator}{rest:07d}"
    if style.count("{}") == 4:
        written = style.format(number[:3], number[3:6], number[6:8], number[8:])
    else:
        written = style.format(number)
    assert sender_phone(written) == f"+7{number}"


@given(body=st.binary(min_size=1, max_size=300), at=st.integers(0, 2**40), data=st.data())
def test_only_the_exact_bytes_and_timestamp_pass_the_signature(body, at, data):
    timestamp = str(at)
    signature = sign(body, timestamp)
    assert signature_valid(SIGNING_KEY, body, timestamp, signature)
    assert not signature_valid("", body, timestamp, signature)
    assert not signature_valid(SIGNING_KEY, body, str(at + 1), signature)
    index = data.draw(st.integers(0, len(body) - 1))
    flipped = (
        body[:index] + bytes([body[index] ^ data.draw(st.integers(1, 255))]) + body[index + 1 :]
    )
    assert not signature_valid(SIGNING_KEY, flipped, timestamp, signature)
