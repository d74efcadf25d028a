"""SMS transports (SMS.ru, generic gateway) and SMS.ru delivery callbacks, against a local
HTTP server that speaks SMS.ru's wire format."""

from __future__ import annotations

import hashlib
import ipaddress

import pytest
from django.urls import reverse

from lifelong.customers.models import Channel, Purpose
from lifelong.events.models import Event
from lifelong.factories import CustomerFactory
from lifelong.messaging.channels.base import Outgoing, TransportError, transport_class
from lifelong.messaging.channels.sms.transport import HttpSmsTransport, SmsRuTransport
from lifelong.messaging.dispatch import dispatch_due
from lifelong.messaging.models import ChannelConfig, Message, Status, Suppression
from lifelong.messaging.services import message_enqueue
from lifelong.messaging.tests.fake_api import FakeApi, closed_port_url

# The provider fakes listen on loopback.
pytestmark = pytest.mark.usefixtures("loopback_allowed")

API_ID = "F2D79B58-A5A2-2F9E-91C8-73D12CE2E102"


@pytest.fixture
def api():
    with FakeApi() as server:
        yield server


def outgoing(to: str = "+79255070602", text: str = "Ваш заказ №15 готов", **kwargs) -> Outgoing:
    return Outgoing(message_id=41, channel="sms", to=to, subject="", text=text, **kwargs)


def smsru_ok(number: str = "79255070602", sms_id: str = "000000-10000001") -> dict:
    return {
        "status": "OK",
        "status_code": 100,
        "sms": {number: {"status": "OK", "status_code": 100, "sms_id": sms_id}},
        "balance": 4122.56,
    }


def smsru_number_error(number: str, code: int, text: str) -> dict:
    return {
        "status": "OK",
        "status_code": 100,
        "sms": {number: {"status": "ERROR", "status_code": code, "status_text": text}},
        "balance": 4122.56,
    }


def test_smsru_is_registered_for_sms():
    assert transport_class("smsru") is SmsRuTransport
    assert transport_class("http_sms") is HttpSmsTransport
    assert SmsRuTransport.channels == ("sms",)


def test_smsru_posts_the_documented_form_and_returns_the_sms_id(api):
    api.reply(body=smsru_ok())
    transport = SmsRuTransport({"api_id": API_ID, "sender": "Lavka", "base_url": api.url})

    result = transport.send(outgoing())

    assert result.provider_id == "000000-10000001"
    request = api.last
    assert (request.method, request.path) == ("POST", "/sms/send")
    assert request.headers["content-type"].startswith("application/x-www-form-urlencoded")
    assert request.form() == {
        "api_id": API_ID,
        "to": "79255070602",
        "msg": "Ваш заказ №15 готов",
        "json": "1",
        "from": "Lavka",
    }
    # The key travels in the body, never in the URL.
    assert request.query == {}


@pytest.mark.parametrize(
    ("code", "text", "permanent", "bounce"),
    [
        (202, "Неправильно указан номер телефона получателя", True, True),
        (207, "На этот номер нельзя отправлять сообщения", True, True),
        (209, "Вы добавили этот номер в стоп-лист", True, True),
        (204, "Имя отправителя не согласовано с администрацией", True, False),
        (231, "Превышен лимит одинаковых сообщений на этот номер в минуту", False, False),
    ],
)
def test_smsru_per_number_errors(api, code, text, permanent, bounce):
    api.reply(body=smsru_number_error("79255070602", code, text))
    with pytest.raises(TransportError) as caught:
        SmsRuTransport({"api_id": API_ID, "base_url": api.url}).send(outgoing())
    assert (caught.value.permanent, caught.value.bounce) == (permanent, bounce)
    assert not caught.value.may_have_sent
    assert str(code) in str(caught.value)


@pytest.mark.parametrize(
    ("code", "text", "permanent"),
    [
        (200, "Неправильный api_id", True),
        (201, "Не хватает средств на лицевом счету", True),
        (301, "Неправильный пароль, либо пользователь не найден", True),
        (220, "Сервис временно недоступен, попробуйте чуть позже", False),
    ],
)
def test_smsru_request_errors(api, code, text, permanent):
    api.reply(body={"status": "ERROR", "status_code": code, "status_text": text})
    with pytest.raises(TransportError) as caught:
        SmsRuTransport({"api_id": API_ID, "base_url": api.url}).send(outgoing())
    assert caught.value.permanent is permanent
    assert not caught.value.bounce
    assert text in str(caught.value)


def test_refused_connection_is_retried_later():
    with pytest.raises(TransportError) as caught:
        SmsRuTransport({"api_id": API_ID, "base_url": closed_port_url()}).send(outgoing())
    assert not caught.value.permanent
    assert not caught.value.may_have_sent


def test_a_gateway_at_a_private_address_is_refused_unless_the_operator_allows_it(api, settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = ()
    transport = SmsRuTransport({"api_id": API_ID, "base_url": api.url})
    with pytest.raises(TransportError) as caught:
        transport.send(outgoing())
    assert caught.value.permanent
    assert "not a public address" in str(caught.value)
    assert api.requests == []
    settings.OUTBOUND_ALLOWED_NETWORKS = (ipaddress.ip_network("127.0.0.0/8"),)
    api.reply(body=smsru_ok())
    assert transport.send(outgoing()).provider_id == "000000-10000001"


def test_a_base_url_that_is_not_http_is_a_setup_error():
    with pytest.raises(TransportError) as caught:
        SmsRuTransport({"api_id": API_ID, "base_url": "ftp://sms.ru"}).send(outgoing())
    assert caught.value.permanent
    assert API_ID not in str(caught.value)


def test_no_answer_after_sending_may_have_sent(api):
    api.reply(body=smsru_ok(), delay=1.0)
    transport = SmsRuTransport({"api_id": API_ID, "base_url": api.url, "timeout": 0.2})
    with pytest.raises(TransportError) as caught:
        transport.send(outgoing())
    assert caught.value.may_have_sent
    assert len(api.requests) == 1


@pytest.mark.parametrize(("status", "permanent"), [(502, False), (429, False), (403, True)])
def test_http_status_errors(api, status, permanent):
    api.reply(status, "<html>nginx</html>")
    with pytest.raises(TransportError) as caught:
        SmsRuTransport({"api_id": API_ID, "base_url": api.url}).send(outgoing())
    assert caught.value.permanent is permanent
    assert f"HTTP {status}" in str(caught.value)


@pytest.fixture
def smsru_channel(db, api):
    return ChannelConfig.objects.create(
        channel=Channel.SMS, transport="smsru", config={"api_id": API_ID, "base_url": api.url}
    )


def test_dispatch_sends_through_smsru_and_a_callback_marks_delivery(
    frozen_time, smsru_channel, api, client
):
    customer = CustomerFactory.create(phone="+79255070602")
    message, _ = message_enqueue(
        customer=customer,
        dedupe_key="order-15-ready",
        channel=Channel.SMS,
        purpose=Purpose.TRANSACTIONAL,
        text="Заказ №15 готов к выдаче",
    )
    api.reply(body=smsru_ok(sms_id="201737-1000004"))

    assert dispatch_due() == 1

    message.refresh_from_db()
    assert (message.status, message.provider_id) == (Status.SENT, "201737-1000004")
    assert api.last.form()["to"] == "79255070602"
    assert api.last.form()["msg"] == "Заказ №15 готов к выдаче"

    data = ["sms_status\n201737-1000004\n103\n1772445600"]
    response = client.post(reverse("messaging_hooks:smsru"), smsru_callback(data))

    assert response.status_code == 200
    assert response.content == b"100"
    message.refresh_from_db()
    assert message.status == Status.DELIVERED
    assert Event.objects.filter(customer=customer, type="message_delivered").count() == 1


def test_dispatch_bounce_suppresses_the_number(frozen_time, smsru_channel, api):
    customer = CustomerFactory.create(phone="+79255070602")
    message, _ = message_enqueue(
        customer=customer,
        dedupe_key="code-1",
        channel=Channel.SMS,
        purpose=Purpose.TRANSACTIONAL,
        text="Код 4312",
    )
    api.reply(body=smsru_number_error("79255070602", 207, "На этот номер нельзя отправлять"))

    assert dispatch_due() == 0

    message.refresh_from_db()
    assert message.status == Status.FAILED
    assert Suppression.objects.filter(channel="sms", address="+79255070602").exists()


def smsru_callback(data: list[str], api_id: str = API_ID) -> dict[str, str]:
    fields = {f"data[{i}]": entry for i, entry in enumerate(data)}
    fields["hash"] = hashlib.sha256((api_id + "".join(data)).encode()).hexdigest()
    return fields


def sent_sms(customer, provider_id: str) -> Message:
    return Message.objects.create(
        customer=customer,
        dedupe_key=f"sent-{provider_id}",
        channel=Channel.SMS,
        purpose=Purpose.TRANSACTIONAL,
        to=customer.phone,
        body_text="Привет",
        status=Status.SENT,
        provider_id=provider_id,
    )


def test_callback_batch_applies_each_status_and_ignores_other_entries(
    frozen_time, smsru_channel, client
):
    customer = CustomerFactory.create()
    delivered = sent_sms(customer, "000000-000001")
    failed = sent_sms(customer, "000000-000002")
    data = [
        "sms_status\n000000-000001\n103\n1772445600",
        "sms_status\n000000-000002\n104\n1772445601",
        "callcheck_status\n201737-542\n401\n1772445602",
        "sms_status\n000000-000003\n102\n1772445603",
    ]

    response = client.post(reverse("messaging_hooks:smsru"), smsru_callback(data))

    assert (response.status_code, response.content) == (200, b"100")
    delivered.refresh_from_db()
    failed.refresh_from_db()
    assert delivered.status == Status.DELIVERED
    assert failed.status == Status.FAILED
    assert "104" in failed.last_error
    # A repeated callback changes nothing.
    again = client.post(reverse("messaging_hooks:smsru"), smsru_callback(data))
    assert again.content == b"100"
    assert Event.objects.filter(customer=customer, type="message_delivered").count() == 1


def test_callback_with_a_wrong_hash_is_refused(frozen_time, smsru_channel, client):
    message = sent_sms(CustomerFactory.create(), "000000-000001")
    fields = smsru_callback(["sms_status\n000000-000001\n103\n1772445600"], api_id="someone-else")

    response = client.post(reverse("messaging_hooks:smsru"), fields)

    assert response.status_code == 403
    message.refresh_from_db()
    assert message.status == Status.SENT


def test_callback_without_an_smsru_channel_is_not_found(db, client):
    ChannelConfig.objects.create(channel=Channel.SMS, transport="http_sms", config={})
    response = client.post(reverse("messaging_hooks:smsru"), smsru_callback(["x"]))
    assert response.status_code == 404


GATEWAY_BODY = {
    "messages": [{"recipient": "{to_digits}", "content": {"text": "{text}"}}],
    "sender": "Lavka",
}


def test_http_sms_fills_the_template_and_reads_the_id(api):
    api.reply(200, {"result": {"messages": [{"id": "gw-77", "status": "accepted"}]}})
    transport = HttpSmsTransport(
        {
            "url": api.url + "/v1/sms",
            "body": GATEWAY_BODY,
            "auth_header": "Authorization: Bearer gw-secret",
            "id_path": "result.messages.0.id",
        }
    )

    result = transport.send(outgoing(text='Скидка 10% на "всё" {до пятницы}'))

    assert result.provider_id == "gw-77"
    request = api.last
    assert (request.method, request.path) == ("POST", "/v1/sms")
    assert request.headers["authorization"] == "Bearer gw-secret"
    assert request.json() == {
        "messages": [
            {"recipient": "79255070602", "content": {"text": 'Скидка 10% на "всё" {до пятницы}'}}
        ],
        "sender": "Lavka",
    }


def test_http_sms_get_sends_the_template_as_query_parameters(api):
    api.reply(200, {"id": 5})
    transport = HttpSmsTransport(
        {
            "url": api.url + "/send",
            "method": "GET",
            "body": '{"phone": "{to}", "message": "{text}"}',
            "id_path": "id",
        }
    )

    assert transport.send(outgoing()).provider_id == "5"
    assert api.last.method == "GET"
    assert api.last.query == {"phone": ["+79255070602"], "message": ["Ваш заказ №15 готов"]}


def test_http_sms_answer_without_the_id_may_have_sent(api):
    api.reply(200, {"error": "queue full"})
    transport = HttpSmsTransport({"url": api.url, "body": GATEWAY_BODY, "id_path": "id"})
    with pytest.raises(TransportError) as caught:
        transport.send(outgoing())
    assert caught.value.may_have_sent


def test_http_sms_rejection_is_permanent(api):
    api.reply(400, {"error": "invalid phone"})
    transport = HttpSmsTransport({"url": api.url, "body": GATEWAY_BODY})
    with pytest.raises(TransportError) as caught:
        transport.send(outgoing())
    assert caught.value.permanent
    assert "invalid phone" in str(caught.value)


@pytest.mark.parametrize(
    "config",
    [
        {"url": "http://gw", "body": "not json"},
        {"url": "http://gw", "body": ["a list"]},
        {"url": "http://gw", "body": {"a": 1}, "auth_header": "no colon"},
        {"body": {"a": 1}},
    ],
)
def test_http_sms_bad_settings_are_permanent(config):
    with pytest.raises(TransportError) as caught:
        HttpSmsTransport(config)
    assert caught.value.permanent
