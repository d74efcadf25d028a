"""MAX webhook: incoming messages.

MAX POSTs one Update per request to the URL given to POST /subscriptions, with the
subscription's secret in the X-Max-Bot-Api-Secret header. A message_created update
carries message.sender.user_id, message.recipient.chat_id and message.body {mid, text}.
"""

from __future__ import annotations

import json
import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from lifelong.customers.models import Channel
from lifelong.feedback.inbox import inbound_receive
from lifelong.messaging.channels.http import hook_settings, secret_matches
from lifelong.messaging.channels.max.transport import max_address_kind

log = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def max_webhook(request: HttpRequest) -> HttpResponse:
    settings = hook_settings(Channel.MAX, "max")
    if settings is None:
        return JsonResponse({"detail": "MAX is not set up."}, status=404)
    if not secret_matches(
        settings.get("webhook_secret"), request.headers.get("X-Max-Bot-Api-Secret")
    ):
        log.warning("max_webhook_rejected")
        return JsonResponse({"detail": "Bad secret."}, status=403)
    try:
        update = json.loads(request.body)
    except ValueError:
        return JsonResponse({"detail": "Body is not JSON."}, status=400)
    if not isinstance(update, dict):
        return JsonResponse({"detail": "Not a MAX update."}, status=400)
    message = update.get("message")
    if update.get("update_type") == "message_created" and isinstance(message, dict):
        sender, recipient, body = (
            part if isinstance(part := message.get(key), dict) else {}
            for key in ("sender", "recipient", "body")
        )
        if max_address_kind(settings) == "user_id":
            address = sender.get("user_id")
        else:
            address = recipient.get("chat_id")
        if address is not None and not sender.get("is_bot"):
            inbound_receive(
                channel=Channel.MAX,
                address=str(address),
                text=str(body.get("text") or ""),
                provider_id=str(body.get("mid") or ""),
            )
    return JsonResponse({"ok": True})
