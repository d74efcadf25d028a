"""Outbound webhooks: the payload as JSON, signed the Standard Webhooks way.

The receiver checks the signature exactly as our own inbound endpoint does
(`lifelong.events.webhooks.webhook_verify`); the same id is sent on every retry
so a receiver can drop duplicates.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import socket
import urllib.error
import urllib.request
from typing import Any, ClassVar
from urllib.parse import urlsplit

from lifelong import clock
from lifelong.events.webhooks import webhook_sign
from lifelong.messaging.channels.base import (
    Outgoing,
    SendResult,
    Transport,
    TransportError,
    register,
)
from lifelong.messaging.models import WEBHOOK

# Status codes that say "later", not "never".
RETRY_STATUSES = (408, 425, 429)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # urllib would turn a redirected POST into a GET without the body.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


@register
class WebhookTransport(Transport):
    name = "webhook"
    channels: ClassVar[tuple[str, ...]] = (WEBHOOK,)
    required = ("secret",)

    def send(self, message: Outgoing) -> SendResult:
        if urlsplit(message.to).scheme not in ("http", "https"):
            raise TransportError(f"webhook: not an http(s) URL: {message.to!r}", permanent=True)
        if not self.config.get("allow_private_networks"):
            _refuse_private(message.to)
        body = json.dumps(message.payload, ensure_ascii=False, separators=(",", ":")).encode()
        webhook_id = str(message.message_id)
        timestamp = int(clock.now().timestamp())
        signature = webhook_sign(
            secret=self.config["secret"], webhook_id=webhook_id, timestamp=timestamp, body=body
        )
        request = urllib.request.Request(  # noqa: S310 - scheme checked above
            message.to,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "Lifelong-Webhooks",
                "webhook-id": webhook_id,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": signature,
            },
        )
        timeout = float(self.config.get("timeout") or 10)
        try:
            with _opener.open(request, timeout=timeout) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            permanent = exc.code < 500 and exc.code not in RETRY_STATUSES
            raise TransportError(f"webhook: HTTP {exc.code}", permanent=permanent) from exc
        except urllib.error.URLError as exc:
            # Raised while connecting or sending: the receiver has no complete request.
            raise TransportError(f"webhook: cannot reach {message.to}: {exc.reason}") from exc
        except (OSError, http.client.HTTPException) as exc:
            # The request left and no answer came back: it may have been acted on.
            raise TransportError(f"webhook: no answer: {exc!r}", may_have_sent=True) from exc
        return SendResult(provider_id=webhook_id)


def _refuse_private(url: str) -> None:
    """Journey authors choose webhook URLs; keep them from reaching the server's own network.

    The owner can allow private addresses (an on-premises CRM) in the channel settings.
    """
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        raise TransportError(f"webhook: cannot resolve {host}") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise TransportError(
                f"webhook: {host} is a private address ({address}); allow private networks "
                "in the webhook channel settings to call it",
                permanent=True,
            )
