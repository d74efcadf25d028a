"""Web Push transport against a local push service that checks VAPID and decrypts the payload."""

from __future__ import annotations

import base64
import email.message
import ipaddress
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from lifelong import clock
from lifelong.customers.models import Channel, Purpose
from lifelong.customers.services import consent_record
from lifelong.factories import CustomerFactory
from lifelong.lib.tests.fake_dns import FakeDns
from lifelong.messaging.channels.base import Outgoing, TransportError, transport_class
from lifelong.messaging.channels.webpush.transport import WebPushTransport
from lifelong.messaging.dispatch import dispatch_due
from lifelong.messaging.models import ChannelConfig, PushSubscription, Status
from lifelong.messaging.services import message_enqueue

SUBJECT = "mailto:owner@example.ru"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_raw(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


VAPID_KEY = ec.generate_private_key(ec.SECP256R1())
VAPID_PEM = VAPID_KEY.private_bytes(
    serialization.Encoding.PEM,
    serialization.PrivateFormat.PKCS8,
    serialization.NoEncryption(),
).decode()
VAPID_RAW = b64url(VAPID_KEY.private_numbers().private_value.to_bytes(32, "big"))
# The browser's side of the subscription.
SUBSCRIBER_KEY = ec.generate_private_key(ec.SECP256R1())
AUTH_SECRET = os.urandom(16)
KEYS = {"p256dh": b64url(public_raw(SUBSCRIBER_KEY)), "auth": b64url(AUTH_SECRET)}


class PushService(ThreadingHTTPServer):
    """/ok checks VAPID and decrypts; /gone, /missing, /busy, /broken, /bad answer 410/404/..."""

    daemon_threads = True
    STATUSES = {
        "/gone": 410,
        "/missing": 404,
        "/busy": 429,
        "/broken": 503,
        "/bad": 400,
        "/moved": 307,
    }

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), PushHandler)
        self.received: list[dict] = []
        self.headers_seen: list[email.message.Message] = []  # case-insensitive
        self.rejected: list[str] = []
        self.release = threading.Event()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class PushHandler(BaseHTTPRequestHandler):
    server: PushService

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.headers_seen.append(self.headers)
        if self.path == "/slow":
            self.server.release.wait(10)
        if self.path in PushService.STATUSES:
            moved = f"{self.server.origin}/ok" if self.path == "/moved" else ""
            return self._answer(PushService.STATUSES[self.path], location=moved)
        try:
            self._check_vapid(self.headers["Authorization"])
        except (AssertionError, InvalidSignature, KeyError, ValueError) as exc:
            self.server.rejected.append(repr(exc))
            return self._answer(401)
        assert self.headers["Content-Encoding"] == "aes128gcm"
        plain = http_ece.decrypt(
            body, private_key=SUBSCRIBER_KEY, auth_secret=AUTH_SECRET, version="aes128gcm"
        )
        self.server.received.append(json.loads(plain))
        return self._answer(201, location=f"{self.server.origin}/m/1")

    def _check_vapid(self, authorization: str) -> None:
        scheme, _, params = authorization.partition(" ")
        assert scheme == "vapid"
        fields = dict(part.split("=", 1) for part in params.split(","))
        assert unb64url(fields["k"]) == public_raw(VAPID_KEY)
        header, claims, signature = fields["t"].split(".")
        assert json.loads(unb64url(header)) == {"typ": "JWT", "alg": "ES256"}
        raw_signature = unb64url(signature)
        der = encode_dss_signature(
            int.from_bytes(raw_signature[:32], "big"), int.from_bytes(raw_signature[32:], "big")
        )
        VAPID_KEY.public_key().verify(der, f"{header}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
        payload = json.loads(unb64url(claims))
        assert payload["aud"] == self.server.origin
        assert payload["sub"] == SUBJECT
        assert clock.now().timestamp() < payload["exp"] <= clock.now().timestamp() + 24 * 3600

    def _answer(self, status: int, location: str = "") -> None:
        self.send_response(status)
        if location:
            self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(autouse=True)
def _loopback_allowed(settings):
    # The fake push service listens on 127.0.0.1: the one private address these tests may reach.
    settings.OUTBOUND_ALLOWED_NETWORKS = (ipaddress.ip_network("127.0.0.1/32"),)


@pytest.fixture
def push_service():
    server = PushService()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()
    thread.join()


def _config(**extra) -> dict:
    return {"vapid_private_key": VAPID_PEM, "vapid_subject": SUBJECT, **extra}


def _outgoing(endpoint: str, keys: dict | None = None) -> Outgoing:
    return Outgoing(
        message_id=3,
        channel="push",
        to=endpoint,
        subject="Ваши баллы сгорают",
        text="Осталось 3 дня, чтобы потратить 500 баллов.",
        payload={"url": "https://shop.example/bonus", "keys": keys or KEYS},
    )


def _failure(endpoint: str, keys: dict | None = None, **config) -> TransportError:
    with WebPushTransport(_config(**config)) as transport, pytest.raises(TransportError) as failed:
        transport.send(_outgoing(endpoint, keys))
    return failed.value


@pytest.mark.parametrize("key", [VAPID_PEM, VAPID_RAW], ids=["pem", "raw"])
def test_notification_is_vapid_signed_and_decrypts_for_the_subscriber(push_service, key):
    with WebPushTransport(_config(vapid_private_key=key)) as transport:
        result = transport.send(_outgoing(push_service.origin + "/ok"))

    assert push_service.rejected == []
    assert push_service.received == [
        {
            "title": "Ваши баллы сгорают",
            "body": "Осталось 3 дня, чтобы потратить 500 баллов.",
            "url": "https://shop.example/bonus",
        }
    ]
    assert result.provider_id == push_service.origin + "/m/1"
    assert push_service.headers_seen[0]["TTL"] == "86400"


def test_the_service_would_reject_another_vapid_key(push_service):
    other = ec.generate_private_key(ec.SECP256R1())
    pem = other.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()

    error = _failure(push_service.origin + "/ok", vapid_private_key=pem)

    assert len(push_service.rejected) == 1
    assert error.permanent and not error.bounce


@pytest.mark.parametrize("path", ["/gone", "/missing"])
def test_dropped_subscription_is_a_bounce(push_service, path):
    error = _failure(push_service.origin + path)
    assert error.bounce and error.permanent


@pytest.mark.parametrize("path", ["/busy", "/broken"])
def test_throttling_and_server_errors_are_transient(push_service, path):
    error = _failure(push_service.origin + path)
    assert not (error.permanent or error.bounce or error.may_have_sent)


def test_bad_request_is_permanent(push_service):
    error = _failure(push_service.origin + "/bad")
    assert error.permanent and not error.bounce


def test_a_redirect_is_not_followed(push_service):
    error = _failure(push_service.origin + "/moved")
    assert error.permanent and not error.bounce
    assert push_service.received == push_service.rejected == []
    assert len(push_service.headers_seen) == 1


@pytest.mark.parametrize(
    ("endpoint", "resolves_to"),
    [
        ("https://127.0.0.2/push", None),
        ("https://169.254.169.254/latest/meta-data/", None),
        ("https://10.0.0.1/push", None),
        ("https://push.internal.test/push", "10.1.2.3"),
        ("https://push.internal.test/push", "::1"),
        ("https://push.internal.test/push", "64:ff9b::7f00:1"),
    ],
)
def test_private_endpoints_are_a_bounce_and_never_called(endpoint, resolves_to, monkeypatch):
    FakeDns(monkeypatch).add("push.internal.test", [resolves_to])
    error = _failure(endpoint)
    assert error.bounce and "not a public address" in str(error)


def test_timeout_after_the_request_left_may_have_sent(push_service):
    error = _failure(push_service.origin + "/slow", timeout=0.5)
    assert error.may_have_sent


def test_no_push_service_is_transient():
    service = PushService()
    origin = service.origin
    service.server_close()

    error = _failure(origin + "/ok")

    assert not (error.permanent or error.may_have_sent)


def test_subscription_keys_that_cannot_be_used_are_a_bounce(push_service):
    error = _failure(push_service.origin + "/ok", keys={"p256dh": "AAAA", "auth": "AAAA"})
    assert error.bounce
    assert push_service.headers_seen == []


@pytest.mark.parametrize(
    "config",
    [
        {"vapid_private_key": "not a key"},
        {"vapid_private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"},
        {"vapid_subject": ""},
    ],
)
def test_bad_settings_are_permanent(config):
    with pytest.raises(TransportError) as bad:
        WebPushTransport(_config(**config))
    assert bad.value.permanent and not bad.value.bounce


def test_registered_as_webpush():
    assert transport_class("webpush") is WebPushTransport


def test_push_end_to_end(push_service, frozen_time, db):
    customer = CustomerFactory.create()
    consent_record(
        customer=customer, channel=Channel.PUSH, purpose=Purpose.MARKETING, granted=True, source="t"
    )
    PushSubscription.objects.create(customer=customer, endpoint=push_service.origin + "/ok", **KEYS)
    gone = CustomerFactory.create()
    consent_record(
        customer=gone, channel=Channel.PUSH, purpose=Purpose.MARKETING, granted=True, source="t"
    )
    dead = PushSubscription.objects.create(
        customer=gone, endpoint=push_service.origin + "/gone", **KEYS
    )
    ChannelConfig.objects.create(channel=Channel.PUSH, transport="webpush", config=_config())
    messages = [
        message_enqueue(
            customer=who,
            dedupe_key=f"bonus:{who.pk}",
            channel=Channel.PUSH,
            subject="Баллы сгорают",
            text="Потратьте их до пятницы.",
            payload={"url": "https://shop.example/bonus"},
        )[0]
        for who in (customer, gone)
    ]

    assert dispatch_due() == 1

    delivered, bounced = messages
    delivered.refresh_from_db()
    bounced.refresh_from_db()
    assert delivered.status == Status.SENT
    assert bounced.status == Status.FAILED
    assert push_service.received == [
        {
            "title": "Баллы сгорают",
            "body": "Потратьте их до пятницы.",
            "url": "https://shop.example/bonus",
        }
    ]
    # The dead subscription is gone, so the customer's next push tries another one.
    assert not PushSubscription.objects.filter(pk=dead.pk).exists()
