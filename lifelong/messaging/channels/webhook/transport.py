"""Outbound webhooks: the payload as JSON, signed the Standard Webhooks way.

The receiver checks the signature exactly as our own inbound endpoint does
(`lifelong.events.webhooks.webhook_verify`); the same id is sent on every retry
so a receiver can drop duplicates.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit

import requests
from django.utils.translation import gettext_lazy as _

from lifelong import clock
from lifelong.events.webhooks import webhook_sign
from lifelong.lib.outbound import OutboundRefused, outbound_session, request_may_have_arrived
from lifelong.messaging.channels.base import (
    BOOL,
    SECRET,
    Outgoing,
    SendResult,
    Setting,
    Transport,
    TransportError,
    register,
)
from lifelong.messaging.models import WEBHOOK

# Status codes that say "later", not "never".
RETRY_STATUSES = (408, 425, 429)


@register
class WebhookTransport(Transport):
    name = "webhook"
    channels: ClassVar[tuple[str, ...]] = (WEBHOOK,)
    settings: ClassVar[tuple[Setting, ...]] = (
        Setting(
            "secret",
            _("Signing secret"),
            _(
                "Receivers check the webhook-signature header with it (Standard Webhooks): "
                "whsec_ and base64, or any long random string."
            ),
            kind=SECRET,
            required=True,
            example="whsec_…",
        ),
        Setting(
            "allow_private_networks",
            _("Allow private networks"),
            _("Lets journeys call addresses inside your own network, such as an on-premises CRM."),
            kind=BOOL,
        ),
    )

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        # The owner can allow private addresses (an on-premises CRM) in the channel settings.
        self.session = outbound_session(allow_private=bool(config.get("allow_private_networks")))

    def send(self, message: Outgoing) -> SendResult:
        if urlsplit(message.to).scheme not in ("http", "https"):
            raise TransportError(f"webhook: not an http(s) URL: {message.to!r}", permanent=True)
        body = json.dumps(message.payload, ensure_ascii=False, separators=(",", ":")).encode()
        webhook_id = str(message.message_id)
        timestamp = int(clock.now().timestamp())
        signature = webhook_sign(
            secret=self.config["secret"], webhook_id=webhook_id, timestamp=timestamp, body=body
        )
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Lifelong-Webhooks",
            "webhook-id": webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature,
        }
        timeout = float(self.config.get("timeout") or 10)
        try:
            response = self.session.post(message.to, data=body, headers=headers, timeout=timeout)
        except OutboundRefused as exc:
            raise TransportError(
                f"webhook: {exc}; allow private networks in the webhook channel settings "
                "to call it",
                permanent=True,
            ) from exc
        except requests.RequestException as exc:
            if request_may_have_arrived(exc):
                raise TransportError(f"webhook: no answer: {exc!r}", may_have_sent=True) from exc
            raise TransportError(f"webhook: cannot reach {message.to}: {exc}") from exc
        if response.status_code >= 300:
            # Redirects are not followed: a receiver that moved must be given its new URL.
            status = response.status_code
            permanent = status < 500 and status not in RETRY_STATUSES
            raise TransportError(f"webhook: HTTP {status}", permanent=permanent)
        return SendResult(provider_id=webhook_id)

    def close(self) -> None:
        self.session.close()
