"""Webhook transport against a local HTTP server that verifies signatures with our own code."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lifelong.events.webhooks import WebhookRejected, webhook_verify
from lifelong.factories import CustomerFactory
from lifelong.lib.tests.fake_dns import FakeDns
from lifelong.messaging.channels.base import Outgoing, TransportError, transport_class
from lifelong.messaging.channels.webhook.transport import WebhookTransport
from lifelong.messaging.dispatch import dispatch_due
from lifelong.messaging.models import WEBHOOK, ChannelConfig, Status
from lifelong.messaging.services import message_enqueue

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class Receiver(ThreadingHTTPServer):
    """Answers by path: /ok verifies the signature, /status/<code> answers <code>, /slow stalls."""

    daemon_threads = True

    def __init__(self, address: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__((address, port), Handler)
        self.address = address
        self.received: list[tuple[str, dict]] = []
        self.rejected: list[str] = []
        self.release = threading.Event()

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/slow":
            self.server.release.wait(10)
        if self.path.startswith("/status/"):
            return self._answer(int(self.path.rsplit("/", 1)[1]))
        try:
            webhook_id = webhook_verify(secrets=[SECRET], headers=self.headers, body=body)
        except WebhookRejected as exc:
            self.server.rejected.append(str(exc))
            return self._answer(401)
        self.server.received.append((webhook_id, json.loads(body)))
        return self._answer(200)

    def _answer(self, status: int) -> None:
        self.send_response(status)
        if 300 <= status < 400:
            self.send_header("Location", "/ok")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def serving(server: Receiver) -> Iterator[Receiver]:
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def receiver():
    with serving(Receiver()) as server:
        yield server


def _outgoing(url: str, **payload) -> Outgoing:
    return Outgoing(
        message_id=7,
        channel=WEBHOOK,
        to=url,
        subject="",
        text="",
        payload={"url": url, "type": "journey.step", "customer": {"name": "Анна"}, **payload},
    )


def _send(url: str, **config) -> None:
    WebhookTransport({"secret": SECRET, "allow_private_networks": True, **config}).send(
        _outgoing(url)
    )


def _failure(url: str, **config) -> TransportError:
    with pytest.raises(TransportError) as failed:
        _send(url, **config)
    return failed.value


def test_signed_json_is_accepted_by_our_verifier(receiver, frozen_time):
    result = WebhookTransport({"secret": SECRET, "allow_private_networks": True}).send(
        _outgoing(receiver.url + "/ok")
    )

    assert receiver.rejected == []
    [(webhook_id, body)] = receiver.received
    assert webhook_id == "7" == result.provider_id
    assert body == {
        "url": receiver.url + "/ok",
        "type": "journey.step",
        "customer": {"name": "Анна"},
    }


def test_wrong_secret_is_rejected_by_the_receiver(receiver, frozen_time):
    error = _failure(receiver.url + "/ok", secret="whsec_" + "A" * 32)

    assert receiver.rejected == ["no valid signature in webhook-signature"]
    assert error.permanent and not error.bounce


@pytest.mark.parametrize("status", [400, 401, 404, 410, 422, 301])
def test_client_errors_are_permanent(receiver, status):
    error = _failure(f"{receiver.url}/status/{status}")
    assert error.permanent
    assert not error.may_have_sent
    assert str(status) in str(error)


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503])
def test_server_errors_and_throttling_are_transient(receiver, status):
    error = _failure(f"{receiver.url}/status/{status}")
    assert not (error.permanent or error.may_have_sent)


def test_no_listener_is_transient():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    error = _failure(f"http://127.0.0.1:{port}/ok")
    assert not (error.permanent or error.may_have_sent)


def test_timeout_after_the_request_left_may_have_sent(receiver):
    error = _failure(receiver.url + "/slow", timeout=0.5)
    assert error.may_have_sent
    assert not error.permanent


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "/relative"])
def test_only_http_urls(url):
    assert _failure(url).permanent


def test_registered_as_webhook():
    assert transport_class("webhook") is WebhookTransport


def test_journey_webhook_end_to_end(receiver, frozen_time, db):
    customer = CustomerFactory.create()
    ChannelConfig.objects.create(
        channel=WEBHOOK,
        transport="webhook",
        config={"secret": SECRET, "allow_private_networks": True},
    )
    message, _ = message_enqueue(
        customer=customer,
        dedupe_key="journey:1:call",
        channel=WEBHOOK,
        purpose="transactional",
        payload={"url": receiver.url + "/ok", "type": "journey.step", "node_id": "call"},
    )

    assert dispatch_due() == 1

    message.refresh_from_db()
    assert message.status == Status.SENT
    [(webhook_id, body)] = receiver.received
    assert webhook_id == str(message.pk)
    assert body["node_id"] == "call"


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:9/hook", "http://10.0.0.5/hook", "http://[::1]/hook", "http://localhost/x"],
)
def test_private_addresses_are_refused_unless_the_owner_allows_them(url):
    with pytest.raises(TransportError) as caught:
        WebhookTransport({"secret": SECRET}).send(_outgoing(url))
    assert caught.value.permanent and "not a public address" in str(caught.value)


def test_a_redirect_is_not_followed(receiver):
    error = _failure(f"{receiver.url}/status/307")
    assert error.permanent
    assert receiver.received == []


def test_the_address_checked_is_the_address_called(receiver, monkeypatch, settings):
    # Only the receiver's own address is allowed; the name answers another one on a second
    # lookup (DNS rebinding), where an internal service listens on the same port.
    settings.OUTBOUND_ALLOWED_NETWORKS = (ipaddress.ip_network("127.0.0.1/32"),)
    dns = FakeDns(monkeypatch)
    port = receiver.server_address[1]
    dns.add("hooks.test", ["127.0.0.1"], ["127.0.0.2"])
    with serving(Receiver("127.0.0.2", port)) as internal:
        WebhookTransport({"secret": SECRET}).send(_outgoing(f"http://hooks.test:{port}/ok"))
    assert [webhook_id for webhook_id, _body in receiver.received] == ["7"]
    assert internal.received == internal.rejected == []
    assert dns.lookups["hooks.test"] == 1
