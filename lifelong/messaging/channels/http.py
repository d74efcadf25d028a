"""HTTP plumbing the SMS and messenger channels share: one outbound request, hook settings.

Every provider's failures map the same way, so a message is never blindly sent twice:
- the request never left (DNS, refused, connect timeout, TLS handshake): transient, retried;
- it left and no answer came (read timeout, dropped connection): `may_have_sent`, the
  message becomes `unknown`;
- HTTP 4xx: permanent, except 408 and 429; HTTP 5xx, 408, 429: transient.
Transports read their provider's error body first and fall back on `status_error`.

Provider addresses are owner settings: like every outbound call they must be public, unless
the operator allows a private network (`LIFELONG_OUTBOUND_ALLOWED_NETWORKS`, e.g. an SMS
gateway inside the shop's own network).

Plain `http.client` rather than a library: it keeps "connecting" and "waiting for the
answer" apart, which is exactly the line between a safe retry and a possible duplicate.
"""

from __future__ import annotations

import dataclasses
import functools
import hmac
import http.client
import json as jsonlib
import socket
import ssl
import urllib.parse
from collections.abc import Mapping
from typing import Any

from lifelong.lib.outbound import HostUnresolved, OutboundRefused, outbound_address
from lifelong.messaging.channels.base import TransportError
from lifelong.messaging.models import ChannelConfig

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 20.0
# Provider answers are small; a huge body is a misconfigured base_url, not an answer.
MAX_BODY = 1_000_000
USER_AGENT = "Lifelong"


@dataclasses.dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes
    headers: Mapping[str, str]

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        """The parsed body, or None when it is not JSON."""
        try:
            return jsonlib.loads(self.body)
        except ValueError:
            return None

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def http_request(
    method: str,
    url: str,
    *,
    params: Mapping[str, Any] | None = None,
    json: Any = None,
    form: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = READ_TIMEOUT,
    label: str = "",
) -> HttpResponse:
    """Send one request and return the answer, whatever its status.

    `label` names the provider in error messages; the URL never appears there because
    some providers (Telegram) put the credential in the path.
    """
    parts = urllib.parse.urlsplit(url)
    label = label or parts.hostname or "provider"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TransportError(f"{label}: not an http(s) URL", permanent=True)
    query = parts.query
    if params:
        query = "&".join(filter(None, [query, urllib.parse.urlencode(params)]))
    target = (parts.path or "/") + (f"?{query}" if query else "")
    sent_headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    body: bytes | None = None
    if json is not None:
        body = jsonlib.dumps(json, ensure_ascii=False).encode()
        sent_headers["Content-Type"] = "application/json; charset=utf-8"
    elif form is not None:
        body = urllib.parse.urlencode(form).encode()
        sent_headers["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"
    sent_headers.update(headers or {})

    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        address = outbound_address(parts.hostname, port)
    except OutboundRefused as exc:
        raise TransportError(f"{label}: {exc}", permanent=True) from exc
    except HostUnresolved as exc:
        raise TransportError(f"{label}: cannot connect: {exc}") from exc

    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(
            parts.hostname,
            parts.port,
            timeout=CONNECT_TIMEOUT,
            context=ssl.create_default_context(),
        )
    else:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=CONNECT_TIMEOUT)
    # Connect to the address that was checked, not to a second resolution of the name (which
    # could answer differently); TLS and the Host header still use the name.
    connection._create_connection = functools.partial(_connect_to, address)  # type: ignore[attr-defined]
    try:
        try:
            connection.connect()
        except OSError as exc:
            raise TransportError(f"{label}: cannot connect: {exc}") from exc
        if connection.sock is not None:
            connection.sock.settimeout(timeout)
        try:
            connection.request(method, target, body=body, headers=sent_headers)
        except OSError as exc:
            # The request did not finish leaving: a provider acts on complete requests only.
            raise TransportError(f"{label}: connection lost while sending: {exc}") from exc
        try:
            response = connection.getresponse()
            data = response.read(MAX_BODY)
        except (OSError, http.client.HTTPException) as exc:
            raise TransportError(
                f"{label}: no answer after the request was sent: {exc!r}", may_have_sent=True
            ) from exc
        return HttpResponse(
            status=response.status,
            body=data,
            headers={key.lower(): value for key, value in response.getheaders()},
        )
    finally:
        connection.close()


def _connect_to(
    address: str, _named: tuple[str, int], timeout: float, source: Any = None
) -> socket.socket:
    return socket.create_connection((address, _named[1]), timeout, source)


def status_error(response: HttpResponse, *, label: str, detail: str = "") -> TransportError:
    """The generic reading of a failed HTTP status (see the module docstring)."""
    detail = detail or response.text()[:200]
    message = f"{label}: HTTP {response.status}" + (f": {detail}" if detail else "")
    if response.status in (408, 429) or response.status >= 500:
        return TransportError(message)
    # 4xx, and 1xx/3xx we do not follow: the same request will not start working.
    return TransportError(message, permanent=True)


def hook_settings(channel: str, transport: str) -> Mapping[str, Any] | None:
    """The settings of an active channel delivered by `transport`, for its inbound hook.

    None when the channel is off or delivered by another transport: that hook is not ours.
    """
    row = ChannelConfig.objects.filter(channel=channel, transport=transport, active=True).first()
    if row is None:
        return None
    return row.config if isinstance(row.config, dict) else {}


def secret_matches(expected: object, given: str | None) -> bool:
    """Constant-time comparison; an unset secret never matches (a hook needs one)."""
    if not expected or not isinstance(expected, str) or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())
