"""SMS Gateway for Android (https://sms-gate.app): replies to our SMS, and delivery reports.

SMS.ru's callbacks carry delivery statuses and call checks only; it passes no incoming SMS
on, and a message from a sender name cannot be answered at all. A customer's reply needs a
real number, and the usual way for a shop is an Android phone with its SIM running SMS
Gateway for Android: it sends our messages (the `http_sms` transport speaks its API) and
POSTs each event to a webhook, one JSON object per request:

    {"deviceId": "...", "event": "sms:received", "id": "<the event's id>",
     "payload": {"messageId": "...", "message": "<text>", "phoneNumber": "+7...",
                 "simNumber": 1, "receivedAt": "2026-06-22T15:46:11.000+03:00"},
     "webhookId": "..."}

signed with the app's signing key: X-Signature = hex HMAC-SHA256(key, raw body + the
X-Timestamp header). Any 2xx stops its retries (10 s, 20 s, 40 s, ... for about two days).
`sms:delivered` and `sms:failed` name the message id the gateway gave when it took ours.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from lifelong.customers.models import Channel
from lifelong.feedback.inbox import inbound_receive
from lifelong.lib.phones import InvalidPhone, normalize_phone
from lifelong.messaging.channels.http import hook_settings, secret_matches
from lifelong.messaging.services import message_status_update

log = logging.getLogger(__name__)


def sender_phone(raw: str) -> str:
    """The sender in E.164, as customer phones are stored ("" when it is no phone number):
    gateways write +79161234567, 79161234567 or 89161234567 for the same person."""
    raw = raw.strip()
    digits = "".join(ch for ch in raw if ch.isdigit())
    for candidate in (raw, f"+{digits}"):
        try:
            return normalize_phone(candidate)
        except InvalidPhone:
            continue
    return ""


def signature_valid(key: str, body: bytes, timestamp: str | None, signature: str | None) -> bool:
    if not key or not timestamp:
        return False
    expected = hmac.new(key.encode(), body + timestamp.encode(), hashlib.sha256).hexdigest()
    return secret_matches(expected, (signature or "").lower())


@csrf_exempt
@require_POST
def sms_gateway_webhook(request: HttpRequest) -> HttpResponse:
    settings = hook_settings(Channel.SMS, "http_sms")
    if settings is None:
        return JsonResponse({"detail": "The SMS gateway is not set up."}, status=404)
    if not signature_valid(
        str(settings.get("webhook_signing_key") or ""),
        request.body,
        request.headers.get("X-Timestamp"),
        request.headers.get("X-Signature"),
    ):
        log.warning("sms_gateway_webhook_rejected")
        return JsonResponse({"detail": "Bad signature."}, status=403)
    try:
        event = json.loads(request.body)
    except ValueError:
        return JsonResponse({"detail": "Body is not JSON."}, status=400)
    payload = event.get("payload") if isinstance(event, dict) else None
    if not isinstance(payload, dict):
        return JsonResponse({"detail": "Not a gateway event."}, status=400)
    kind = event.get("event")
    if kind == "sms:received":
        _reply_receive(payload, event_id=str(event.get("id") or ""))
    elif kind in ("sms:delivered", "sms:failed") and payload.get("messageId"):
        message_status_update(
            channel=Channel.SMS,
            provider_id=str(payload["messageId"]),
            status="delivered" if kind == "sms:delivered" else "failed",
            error=str(payload.get("reason") or "")[:300],
        )
    return JsonResponse({"ok": True})


def _reply_receive(payload: dict[str, Any], *, event_id: str) -> None:
    phone = sender_phone(str(payload.get("phoneNumber") or ""))
    if not phone or not event_id:
        log.info("sms_gateway_reply_skipped", extra={"has_phone": bool(phone)})
        return
    # The event id, not messageId: the gateway makes that from the text, so two customers
    # answering «Да» could share it.
    inbound_receive(
        channel=Channel.SMS,
        address=phone,
        text=str(payload.get("message") or ""),
        provider_id=f"gateway:{event_id}",
    )
