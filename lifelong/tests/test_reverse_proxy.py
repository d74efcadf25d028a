"""Behind a TLS proxy, on the wire: waitress as `lifelong run` configures it, the app in front.

Only a peer in LIFELONG_TRUSTED_PROXIES may say that the client used HTTPS (no redirect loop,
HSTS, secure cookies), which host it asked for, and who the client is (the sign-in throttle
and the audit log count the client, not the proxy). Anyone else's X-Forwarded-* is ignored.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.db import connections
from django.urls import reverse
from waitress.server import BaseWSGIServer

from lifelong.accounts.models import AuditLog, Role
from lifelong.customers.models import Channel, Consent, Purpose
from lifelong.customers.services import consent_record
from lifelong.factories import CustomerFactory, UserFactory
from lifelong.messaging.links import preferences_url
from lifelong.messaging.models import ChannelConfig
from lifelong.wsgi import waitress_server

PASSWORD = "correct-horse-battery"
HOST = "crm.example.ru"
PROXY = ipaddress.ip_network("127.0.0.1/32")


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def cookies(self) -> dict[str, str]:
        """Set-Cookie lines by cookie name."""
        return {
            v.split("=", 1)[0]: v for k, v in self.headers if k.lower() == "set-cookie" and "=" in v
        }


@dataclass
class Wire:
    port: int

    def send(self, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> Response:
        lines = [f"{method} {path} HTTP/1.1", "Connection: close"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if body:
            lines.append(f"Content-Length: {len(body)}")
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as sock:
            sock.sendall(raw)
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
        head, _, payload = received.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        pairs = [tuple(line.split(": ", 1)) for line in header_lines]
        return Response(int(status_line.split()[1]), [(k, v.strip()) for k, v in pairs], payload)


@pytest.fixture
def wire(transactional_db, settings, monkeypatch) -> Iterator[Wire]:
    # What LIFELONG_PRODUCTION turns on, behind a proxy at 127.0.0.1.
    settings.ALLOWED_HOSTS = [HOST]
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SESSION_COOKIE_SECURE = True
    settings.CSRF_COOKIE_SECURE = True
    settings.TRUSTED_PROXIES = (PROXY,)
    # Waitress's threads close their connections after each request, so the test database
    # can be dropped at the end.
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)
    server = waitress_server(WSGIHandler(), host="127.0.0.1", port=0)
    assert isinstance(server, BaseWSGIServer)  # one address: one socket
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield Wire(port=int(server.getsockname()[1]))
    finally:
        server.close()
        thread.join(timeout=10)


def from_proxy(client: str = "198.51.100.7", proto: str = "https") -> dict[str, str]:
    """What nginx sends upstream (deploy/nginx/lifelong.conf)."""
    return {
        "Host": HOST,
        "X-Forwarded-Proto": proto,
        "X-Forwarded-Host": HOST,
        "X-Forwarded-For": client,
    }


def test_https_through_the_trusted_proxy_is_served_with_hsts_and_secure_cookies(wire):
    response = wire.send("GET", reverse("web:login"), from_proxy())
    assert response.status == 200
    assert response.header("Strict-Transport-Security") == "max-age=31536000"
    assert "Secure" in response.cookies()["csrftoken"]


def test_a_plain_http_request_through_the_proxy_is_sent_to_https(wire):
    response = wire.send("GET", "/login/?next=/", from_proxy(proto="http"))
    assert response.status == 301
    assert response.header("Location") == f"https://{HOST}/login/?next=/"


def test_the_forwarded_host_is_believed_from_the_proxy_only(wire, settings):
    headers = from_proxy(proto="http") | {"Host": "127.0.0.1:8000"}
    assert wire.send("GET", "/", headers).header("Location") == f"https://{HOST}/"
    settings.TRUSTED_PROXIES = ()
    # From anyone else the host is the Host header, which is no allowed host.
    assert wire.send("GET", "/", headers).status == 400


def test_anyone_else_claiming_https_is_redirected_and_gets_no_hsts(wire, settings):
    settings.TRUSTED_PROXIES = (ipaddress.ip_network("10.0.0.0/8"),)
    response = wire.send("GET", reverse("web:login"), from_proxy())
    assert response.status == 301
    assert response.header("Strict-Transport-Security") is None


def _post_form(wire: Wire, path: str, fields: list[tuple[str, str]], *, client: str) -> Response:
    """GET the page for its CSRF cookie, then post the form with the token, via the proxy."""
    page = wire.send("GET", path, from_proxy(client))
    token = page.cookies()["csrftoken"].split(";")[0].split("=", 1)[1]
    form = urllib.parse.urlencode([*fields, ("csrfmiddlewaretoken", token)]).encode()
    headers = from_proxy(client) | {
        "Cookie": f"csrftoken={token}",
        "Origin": f"https://{HOST}",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    return wire.send("POST", path, headers, form)


def _sign_in(wire: Wire, *, username: str, password: str, client: str) -> Response:
    fields = [("username", username), ("password", password)]
    return _post_form(wire, reverse("web:login"), fields, client=client)


def test_the_throttle_and_the_audit_log_see_the_client_behind_the_proxy(wire, settings):
    settings.LOGIN_IP_RATE_LIMIT = 2
    olga = UserFactory(username="olga", role=Role.SUPPORT)
    for name in ["anna", "boris"]:
        assert _sign_in(wire, username=name, password="nope", client="198.51.100.7").status == 200
    # That address is now held back, but another client behind the same proxy is not.
    held = _sign_in(wire, username="olga", password=PASSWORD, client="198.51.100.7")
    assert held.status == 200
    assert "sessionid" not in held.cookies()
    signed_in = _sign_in(wire, username="olga", password=PASSWORD, client="198.51.100.8")
    assert signed_in.status == 302
    assert re.match(r"sessionid=\w+;.*Secure", signed_in.cookies()["sessionid"])
    entries = AuditLog.objects.order_by("pk").values_list("action", "actor", "ip")
    assert list(entries) == [
        ("user.login_failed", None, "198.51.100.7"),
        ("user.login_failed", None, "198.51.100.7"),
        ("user.login", olga.pk, "198.51.100.8"),
    ]


def test_consent_evidence_names_the_client_behind_the_proxy(wire):
    ChannelConfig.objects.create(channel=Channel.EMAIL, transport="sandbox")
    customer = CustomerFactory.create()
    consent_record(
        customer=customer,
        channel=Channel.EMAIL,
        purpose=Purpose.MARKETING,
        granted=True,
        source="checkout",
    )
    path = "/" + preferences_url(customer_id=customer.pk).split("/", 3)[3]
    # The customer unticks e-mail on the preferences page.
    saved = _post_form(wire, path, [("shown", "channel:email")], client="198.51.100.9")
    assert saved.status == 302
    withdrawal = Consent.objects.filter(customer=customer, granted=False).get()
    assert (withdrawal.channel, withdrawal.ip) == (Channel.EMAIL, "198.51.100.9")
