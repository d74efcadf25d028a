"""WhatsApp Cloud API webhook: verification, delivery statuses and incoming messages.

GET: Meta verifies the URL with hub.mode=subscribe, hub.verify_token (ours, from the
settings) and hub.challenge, which must be echoed back. POST: the body is signed,
X-Hub-Signature-256 = "sha256=" + hex HMAC-SHA256(app secret, raw body), and holds
entry[].changes[].value with "statuses" (our messages, by wamid) and "messages" (replies,
from a phone number without "+").
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from lifelong.customers.models import Channel
from lifelong.feedback.inbox import inbound_receive
from lifelong.messaging.channels.http import hook_settings, secret_matches
from lifelong.messaging.channels.whatsapp.transport import WHATSAPP_BOUNCE
from lifelong.messaging.services import message_status_update

log = logging.getLogger(__name__)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def whatsapp_webhook(request: HttpRequest) -> HttpResponse:
    settings = hook_settings(Channel.WHATSAPP, "whatsapp")
    if settings is None:
        return JsonResponse({"detail": "WhatsApp is not set up."}, status=404)
    if request.method == "GET":
        if request.GET.get("hub.mode") == "subscribe" and secret_matches(
            settings.get("verify_token"), request.GET.get("hub.verify_token")
        ):
            return HttpResponse(request.GET.get("hub.challenge", ""), content_type="text/plain")
        return JsonResponse({"detail": "Verification failed."}, status=403)
    app_secret = str(settings.get("app_secret") or "")
    expected = "sha256=" + hmac.new(app_secret.encode(), request.body, hashlib.sha256).hexdigest()
    if not app_secret or not secret_matches(expected, request.headers.get("X-Hub-Signature-256")):
        log.warning("whatsapp_webhook_rejected")
        return JsonResponse({"detail": "Bad signature."}, status=403)
    try:
        notification = json.loads(request.body)
    except ValueError:
        return JsonResponse({"detail": "Body is not JSON."}, status=400)
    for value in _values(notification):
        for status in _dicts(value.get("statuses")):
            _status_apply(status)
        for message in _dicts(value.get("messages")):
            _message_receive(message)
    return JsonResponse({"ok": True})


def _dicts(items: Any) -> list[dict[str, Any]]:
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def _values(notification: Any) -> list[dict[str, Any]]:
    if not isinstance(notification, dict):
        return []
    return [
        change["value"]
        for entry in _dicts(notification.get("entry"))
        for change in _dicts(entry.get("changes"))
        if isinstance(change.get("value"), dict)
    ]


def _at(timestamp: Any) -> dt.datetime | None:
    if isinstance(timestamp, str) and timestamp.isdigit():
        return dt.datetime.fromtimestamp(int(timestamp), tz=dt.UTC)
    return None


def _status_apply(status: dict[str, Any]) -> None:
    wamid, state = str(status.get("id") or ""), str(status.get("status") or "")
    if not wamid or state not in ("delivered", "read", "failed"):
        return
    errors = _dicts(status.get("errors"))
    code = errors[0].get("code") if errors else None
    error = f"WhatsApp {code}: {errors[0].get('title', '')}" if errors else ""
    message_status_update(
        channel=Channel.WHATSAPP,
        provider_id=wamid,
        status=state,
        error=error,
        bounce=code in WHATSAPP_BOUNCE,
        at=_at(status.get("timestamp")),
    )


def _message_receive(message: dict[str, Any]) -> None:
    sender = str(message.get("from") or "")
    if not sender.isdigit():
        return
    kind = str(message.get("type") or "")
    part = message.get(kind)
    if not isinstance(part, dict):
        part = {}
    if kind == "text":
        text = str(part.get("body") or "")
    elif kind == "button":
        text = str(part.get("text") or "")
    elif kind == "interactive":
        reply = part.get("button_reply") or part.get("list_reply") or {}
        text = str(reply.get("title") or "") if isinstance(reply, dict) else ""
    else:
        text = str(part.get("caption") or f"[{kind}]")
    inbound_receive(
        channel=Channel.WHATSAPP,
        address=f"+{sender}",
        text=text,
        provider_id=str(message.get("id") or ""),
    )
