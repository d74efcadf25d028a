"""Browser push: Web Push (RFC 8030) signed with VAPID (RFC 8292), payload encrypted with
aes128gcm for the subscriber's keys (RFC 8291). pywebpush does the encryption.

The push service answers 404/410 when the browser has dropped the subscription: that is
a bounce, so the dead subscription is suppressed rather than retried.
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.utils.translation import gettext_lazy as _
from py_vapid import Vapid, VapidException
from pywebpush import WebPusher, WebPushException

from lifelong import clock
from lifelong.customers.models import Channel
from lifelong.lib.outbound import OutboundRefused, outbound_session, request_may_have_arrived
from lifelong.messaging.channels.base import (
    SECRET,
    Outgoing,
    SendResult,
    Setting,
    Transport,
    TransportError,
    register,
)

GONE = (404, 410)
RETRY_STATUSES = (408, 425, 429)
# How long the push service keeps a notification for a browser that is offline.
DEFAULT_TTL = 24 * 3600
# RFC 8292 caps a VAPID token's life at 24 hours.
TOKEN_LIFETIME = 12 * 3600


@register
class WebPushTransport(Transport):
    name = "webpush"
    channels: ClassVar[tuple[str, ...]] = (Channel.PUSH.value,)
    settings: ClassVar[tuple[Setting, ...]] = (
        Setting(
            "vapid_private_key",
            _("VAPID private key"),
            _(
                "A P-256 key as PEM or base64url, e.g. from `vapid --gen`. Changing it drops "
                "every browser subscription."
            ),
            kind=SECRET,
            required=True,
            multiline=True,
        ),
        Setting(
            "vapid_public_key",
            _("VAPID public key"),
            _("The pair of the private key, base64url; browsers subscribe with it."),
            example="BNcRd…",
        ),
        Setting(
            "vapid_subject",
            _("Contact for push services"),
            _("A mailto: or https: address push services can reach you at."),
            required=True,
            example="mailto:shop@example.ru",
        ),
    )

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self.vapid = _vapid(str(config["vapid_private_key"]))
        # One session per batch: sends to the same push service reuse the connection.
        # Customers' browsers name the endpoints, so the session refuses private addresses.
        self.session = outbound_session()

    def send(self, message: Outgoing) -> SendResult:
        endpoint = urlsplit(message.to)
        if endpoint.scheme not in ("https", "http") or not endpoint.netloc:
            raise TransportError(f"webpush: bad endpoint {message.to!r}", bounce=True)
        claims = {
            "sub": self.config["vapid_subject"],
            "aud": f"{endpoint.scheme}://{endpoint.netloc}",
            "exp": int(clock.now().timestamp()) + TOKEN_LIFETIME,
        }
        try:
            headers = self.vapid.sign(claims)
        except VapidException as exc:
            raise TransportError(f"webpush: {exc}", permanent=True) from exc
        notification = {
            "title": message.subject,
            "body": message.text,
            "url": message.payload.get("url"),
        }
        subscription = {"endpoint": message.to, "keys": dict(message.payload.get("keys") or {})}
        timeout = float(self.config.get("timeout") or 10)
        try:
            response = WebPusher(subscription, requests_session=self.session).send(
                json.dumps(notification, ensure_ascii=False).encode(),
                headers,
                ttl=int(self.config.get("ttl") or DEFAULT_TTL),
                timeout=(timeout, timeout),
            )
        except (WebPushException, ValueError, binascii.Error) as exc:
            # Keys we cannot encrypt to: this subscription can never receive anything.
            raise TransportError(f"webpush: bad subscription keys: {exc}", bounce=True) from exc
        except OutboundRefused as exc:
            raise TransportError(f"webpush: {exc}", bounce=True) from exc
        except requests.RequestException as exc:
            if request_may_have_arrived(exc):  # e.g. a read timeout: the request had left
                raise TransportError(f"webpush: no answer: {exc}", may_have_sent=True) from exc
            raise TransportError(f"webpush: {exc}") from exc
        status = response.status_code
        if status < 300:
            return SendResult(provider_id=response.headers.get("Location", ""))
        error = f"webpush: HTTP {status} {response.text[:200]}"
        if status in GONE:
            raise TransportError(error, bounce=True)
        # A redirect is not followed (it could lead anywhere): it fails like a 4xx.
        permanent = status < 500 and status not in RETRY_STATUSES
        raise TransportError(error, permanent=permanent)

    def close(self) -> None:
        self.session.close()


def _vapid(key: str) -> Vapid:
    """The VAPID signing key from a PEM, or base64url raw (32 bytes) or DER."""
    try:
        if "-----BEGIN" in key:
            private = serialization.load_pem_private_key(key.encode(), password=None)
        else:
            private = Vapid.from_string(key.strip()).private_key
        if not (
            isinstance(private, ec.EllipticCurvePrivateKey)
            and isinstance(private.curve, ec.SECP256R1)
        ):
            raise ValueError("not a P-256 key")
    except (ValueError, TypeError, binascii.Error) as exc:
        raise TransportError(
            f"webpush: vapid_private_key is not a P-256 private key: {exc}", permanent=True
        ) from exc
    return Vapid(private)
