"""Webhook signatures the Standard Webhooks way, for the shop's deliveries and for ours.

Headers `webhook-id`, `webhook-timestamp` and `webhook-signature`
("v1,<base64 HMAC-SHA256>", several allowed, space-separated) sign
"{id}.{timestamp}.{body}" with the source's secret. The receiving endpoint is
`lifelong.api.webhooks`; the outbound channel (`messaging.channels.webhook`) signs with
the same function.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
from collections.abc import Sequence
from secrets import token_bytes
from typing import Any

from django.conf import settings
from django.db import transaction

from lifelong import clock
from lifelong.accounts.models import User
from lifelong.accounts.services import audit_record
from lifelong.events.models import WebhookSource

SECRET_PREFIX = "whsec_"  # noqa: S105 - a format marker, not a secret
MAX_WEBHOOK_ID = 255


class WebhookRejected(Exception):
    """The delivery cannot be trusted; answered with 401 and the reason."""


def webhook_secret_bytes(secret: str) -> bytes:
    """The HMAC key: "whsec_<base64>" is decoded, anything else is used as it is."""
    if secret.startswith(SECRET_PREFIX):
        try:
            return base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
        except binascii.Error:
            pass  # a hand-typed secret that merely looks prefixed: use it verbatim
    return secret.encode()


def _secret_new() -> str:
    return SECRET_PREFIX + base64.b64encode(token_bytes(32)).decode()


@transaction.atomic
def webhook_source_create(*, slug: str, actor: User | None) -> WebhookSource:
    """A new sender with a fresh "whsec_" secret (shown to the owner to configure the shop)."""
    source = WebhookSource.objects.create(slug=slug, secret=_secret_new())
    audit_record(actor=actor, action="webhook_source.create", obj=source, changes={"slug": slug})
    return source


@transaction.atomic
def webhook_source_rotate(
    *, source: WebhookSource, overlap: dt.timedelta, actor: User | None
) -> WebhookSource:
    """A new secret for the sender; the current one stays valid for `overlap`.

    The shop keeps delivering while its owner puts the new secret in. Only the secret
    being replaced overlaps: one rotated out earlier stops at once.
    """
    source = WebhookSource.objects.select_for_update().get(pk=source.pk)
    source.previous_secret = source.secret
    source.previous_valid_until = clock.now() + overlap
    source.secret = _secret_new()
    source.save(update_fields=["secret", "previous_secret", "previous_valid_until"])
    audit_record(
        actor=actor,
        action="webhook_source.rotate",
        obj=source,
        changes={"previous_valid_until": source.previous_valid_until.isoformat()},
    )
    return source


def webhook_sign(*, secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The "v1,<signature>" a sender puts in webhook-signature (also used by tests)."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(webhook_secret_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def webhook_verify(*, secrets: Sequence[str], headers: Any, body: bytes) -> str:
    """Check freshness and a signature by any of `secrets`; the webhook id, or WebhookRejected."""
    webhook_id = headers.get("webhook-id", "")
    raw_timestamp = headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "")
    if not webhook_id or not raw_timestamp or not signatures:
        raise WebhookRejected(
            "webhook-id, webhook-timestamp and webhook-signature headers are required"
        )
    if len(webhook_id) > MAX_WEBHOOK_ID:
        raise WebhookRejected("webhook-id is too long")
    try:
        timestamp = int(raw_timestamp)
    except ValueError:
        raise WebhookRejected("webhook-timestamp must be Unix time in seconds") from None
    skew = clock.now().timestamp() - timestamp
    if abs(skew) > settings.WEBHOOK_TOLERANCE_SECONDS:
        # An old timestamp is how a captured delivery replayed later looks.
        raise WebhookRejected(
            f"webhook-timestamp is {'too old' if skew > 0 else 'in the future'}: more than "
            f"{settings.WEBHOOK_TOLERANCE_SECONDS} seconds from the server's clock"
        )
    expected = [
        webhook_sign(secret=secret, webhook_id=webhook_id, timestamp=timestamp, body=body).encode()
        for secret in secrets
    ]
    for candidate in signatures.split():
        if any(hmac.compare_digest(candidate.encode(), signature) for signature in expected):
            return str(webhook_id)
    raise WebhookRejected("no valid signature in webhook-signature")
