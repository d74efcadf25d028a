"""'Send a test' on the channel set-up page: the provider is asked with its real wire format
(HTTP fakes on 127.0.0.1, a real SMTP server for email) and its answer is reported."""

from __future__ import annotations

import pytest
from aiosmtpd.controller import Controller
from cryptography.hazmat.primitives import serialization
from django.utils import translation
from py_vapid import Vapid
from py_vapid.utils import b64urlencode

from lifelong.messaging.channels.base import transport_class
from lifelong.messaging.channels.probes import channel_probe
from lifelong.messaging.tests.fake_api import FakeApi
from lifelong.messaging.tests.test_email_transport import Recorder, _authenticate, _free_port

TOKEN = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"
GET_ME = {
    "ok": True,
    "result": {"id": 123456, "is_bot": True, "first_name": "Лавка", "username": "lavka_bot"},
}
SENT = {"ok": True, "result": {"message_id": 4410, "chat": {"id": 289374625}, "date": 1}}


@pytest.fixture
def api():
    with FakeApi() as server:
        yield server


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def probe(name: str, config: dict, to: str = "", channel: str = ""):
    return channel_probe(transport_class(name), config, channel=channel or name, to=to)


@pytest.mark.usefixtures("loopback_allowed")
def test_telegram_asks_getme_then_sends_the_test_to_the_chat(api):
    api.reply(200, GET_ME)
    api.reply(200, SENT)

    result = probe("telegram", {"bot_token": TOKEN, "base_url": api.url}, to="289374625")

    assert result.ok, result.summary
    get_me, send = api.requests
    assert (get_me.method, get_me.path) == ("GET", f"/bot{TOKEN}/getMe")
    assert (send.method, send.path) == ("POST", f"/bot{TOKEN}/sendMessage")
    assert send.headers["content-type"] == "application/json; charset=utf-8"
    assert send.json() == {
        "chat_id": "289374625",
        "text": "A test from Lifelong: this channel is set up and works.",
    }
    assert [(a.step, a.ok, a.status, a.detail) for a in result.answers] == [
        ("getMe", True, "HTTP 200", "@lavka_bot"),
        ("sendMessage", True, "OK", "289374625:4410"),
    ]
    assert result.summary == "It works: Telegram took the test message (289374625:4410)."


@pytest.mark.usefixtures("loopback_allowed")
def test_telegram_without_a_chat_only_checks_the_token(api):
    api.reply(200, GET_ME)
    result = probe("telegram", {"bot_token": TOKEN, "base_url": api.url})
    assert result.ok and len(api.requests) == 1
    assert "bot @lavka_bot" in result.summary and "Enter an address" in result.summary


@pytest.mark.usefixtures("loopback_allowed")
def test_a_wrong_telegram_token_is_named_in_russian(api):
    api.reply(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})

    with translation.override("ru"):
        result = probe("telegram", {"bot_token": "1:bad", "base_url": api.url}, to="1")

    assert not result.ok
    assert result.summary == "Неверный токен: Telegram ответил 401 Unauthorized"
    assert len(api.requests) == 1  # nothing is sent with a token that does not work
    assert "1:bad" not in result.summary + repr(result.answers)


@pytest.mark.usefixtures("loopback_allowed")
def test_a_telegram_chat_that_never_started_the_bot_is_reported(api):
    api.reply(200, GET_ME)
    api.reply(400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"})
    result = probe("telegram", {"bot_token": TOKEN, "base_url": api.url}, to="42")
    assert not result.ok
    assert result.summary == (
        "The test message was not sent: Telegram 400: Bad Request: chat not found"
    )


def test_a_provider_at_a_private_address_is_refused_before_any_request(api):
    result = probe("telegram", {"bot_token": TOKEN, "base_url": api.url}, to="42")
    assert not result.ok and api.requests == []
    assert result.summary.startswith("Could not reach Telegram: ")
    assert "not a public address" in result.summary


@pytest.mark.usefixtures("loopback_allowed")
def test_smsru_checks_the_balance_then_sends(api):
    api.reply(200, {"status": "OK", "status_code": 100, "balance": 4122.56})
    api.reply(
        200,
        {
            "status": "OK",
            "status_code": 100,
            "sms": {"79161234567": {"status": "OK", "status_code": 100, "sms_id": "0-1"}},
            "balance": 4120.0,
        },
    )
    config = {"api_id": "KEY-1", "base_url": api.url, "sender": "Yoga"}

    result = probe("smsru", config, to="+7 916 123-45-67", channel="sms")

    balance, send = api.requests
    assert (balance.method, balance.path) == ("GET", "/my/balance")
    assert balance.query == {"api_id": ["KEY-1"], "json": ["1"]}
    assert send.path == "/sms/send"
    assert send.form()["to"] == "79161234567" and send.form()["from"] == "Yoga"
    assert result.ok and result.answers[0].detail == "4122.56"


@pytest.mark.usefixtures("loopback_allowed")
def test_smsru_wrong_key(api):
    api.reply(200, {"status": "ERROR", "status_code": 200, "status_text": "Неправильный api_id"})
    result = probe("smsru", {"api_id": "nope", "base_url": api.url}, to="79161234567")
    assert not result.ok and len(api.requests) == 1
    assert result.summary == "Wrong token: SMS.ru answered 200 Неправильный api_id"


@pytest.mark.usefixtures("loopback_allowed")
def test_vk_asks_for_the_community_with_the_token_in_the_body(api):
    api.reply(200, {"response": {"groups": [{"id": 77, "name": "Йога-лавка"}], "profiles": []}})
    result = probe("vk", {"access_token": "vk1.a.tok", "base_url": api.url})
    [call] = api.requests
    assert (call.method, call.path) == ("POST", "/method/groups.getById")
    assert call.form() == {"access_token": "vk1.a.tok", "v": "5.199"}
    assert result.ok and "Йога-лавка (id 77)" in result.summary

    api.reply(200, {"error": {"error_code": 5, "error_msg": "User authorization failed"}})
    result = probe("vk", {"access_token": "revoked", "base_url": api.url})
    assert result.summary == "Wrong token: VK answered 5 User authorization failed"


@pytest.mark.usefixtures("loopback_allowed")
def test_max_and_whatsapp_identify_the_bot_and_the_number(api):
    api.reply(200, {"user_id": 5, "name": "Лавка", "username": "lavka_bot", "is_bot": True})
    result = probe("max", {"access_token": "max-tok", "base_url": api.url})
    assert api.last.path == "/me" and api.last.headers["authorization"] == "max-tok"
    assert result.ok and "lavka_bot" in result.summary

    api.reply(401, {"error": {"message": "Invalid OAuth access token.", "code": 190}})
    config = {"access_token": "wa", "phone_number_id": "1065", "base_url": api.url}
    result = probe("whatsapp", config)
    assert api.last.path == "/v21.0/1065" and api.last.headers["authorization"] == "Bearer wa"
    assert result.summary == "Wrong token: WhatsApp answered 190 Invalid OAuth access token."


@pytest.mark.usefixtures("loopback_allowed")
def test_webhook_sends_a_signed_test_event(api):
    api.reply(200, {})
    result = probe("webhook", {"secret": "whsec_dGVzdA=="}, to=f"{api.url}/hook")
    assert result.ok
    assert api.last.path == "/hook" and api.last.json()["type"] == "channel.test"
    assert api.last.headers["webhook-signature"].startswith("v1,")


def test_incomplete_settings_are_reported_without_a_request():
    result = probe("telegram", {}, to="1")
    assert not result.ok and "missing settings bot_token" in result.summary


@pytest.fixture
def smtp_server(loopback_allowed):
    recorder = Recorder()
    controller = Controller(
        recorder,
        hostname="127.0.0.1",
        port=_free_port(),
        authenticator=_authenticate,
        auth_require_tls=False,
    )
    controller.start()
    recorder.controller = controller
    yield recorder
    controller.stop()


def _smtp(server: Recorder, **extra) -> dict:
    return {
        "host": "127.0.0.1",
        "port": server.controller.port,
        "security": "none",
        "from_email": "shop@example.ru",
        "username": "shop",
        "password": "s3cret",
        **extra,
    }


def test_smtp_connects_authenticates_and_sends_to_the_staff_member(smtp_server):
    result = probe("smtp", _smtp(smtp_server), to="olga@example.ru", channel="email")

    assert result.ok, result.summary
    steps = [(a.step, a.status) for a in result.answers]
    assert steps == [("EHLO", "SMTP 250"), ("AUTH", "SMTP 235"), ("MAIL, RCPT, DATA", "OK")]
    [raw] = smtp_server.messages
    assert b"To: olga@example.ru" in raw and b"Subject: Lifelong test message" in raw


def test_smtp_wrong_password_is_named(smtp_server):
    with translation.override("ru"):
        result = probe("smtp", _smtp(smtp_server, password="wrong"), to="olga@example.ru")
    assert not result.ok and smtp_server.messages == []
    assert result.summary.startswith("Неверный логин или пароль: сервер ответил 535 ")
    assert result.answers[-1].step == "AUTH" and result.answers[-1].status == "SMTP 535"


def test_a_transport_with_nothing_to_ask_needs_an_address():
    result = probe("webhook", {"secret": "whsec_dGVzdA=="}, to="")
    assert not result.ok and result.answers == []
    assert result.summary == "This provider has nothing to ask without an address: enter one."


def test_web_push_checks_that_the_vapid_keys_are_one_pair():
    key, other = Vapid(), Vapid()
    key.generate_keys()
    other.generate_keys()
    pem = key.private_pem().decode()

    def public(vapid) -> str:
        return b64urlencode(
            vapid.public_key.public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
        )

    config = {"vapid_private_key": pem, "vapid_subject": "mailto:shop@example.ru"}
    result = probe("webpush", {**config, "vapid_public_key": public(key)}, channel="push")
    assert result.ok and result.summary == "The settings work (the VAPID keys are one pair)."
    result = probe("webpush", {**config, "vapid_public_key": public(other)}, channel="push")
    assert not result.ok and "not the private key's pair" in result.summary
