"""MAX webhook: incoming messages and survey score buttons.

MAX POSTs one Update per request to the URL given to POST /subscriptions, with the
subscription's secret in the X-Max-Bot-Api-Secret header. A message_created update
carries message.sender.user_id, message.recipient.chat_id and message.body {mid, text}.
A message_callback update (a tapped callback button) carries callback {timestamp,
callback_id, payload, user} and the message the button is under.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from lifelong.customers.models import Channel, Purpose
from lifelong.feedback.inbox import inbound_receive
from lifelong.feedback.sending import score_button_receive
from lifelong.messaging.channels.http import hook_settings, secret_matches
from lifelong.messaging.channels.max.transport import max_address_kind
from lifelong.messaging.services import customer_by_address, message_enqueue

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
    callback = update.get("callback")
    if update.get("update_type") == "message_callback" and isinstance(callback, dict):
        _callback_receive(settings, callback, message)
    elif update.get("update_type") == "message_created" and isinstance(message, dict):
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


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _callback_receive(settings: Mapping[str, Any], callback: dict[str, Any], message: Any) -> None:
    """A tapped callback button. The score is recorded now; MAX's answer (the notice over
    the chat, POST /answers) goes through the outbox as a transactional message keyed by the
    callback id, so no request leaves inside this one and a redelivered update answers once."""
    callback_id = callback.get("callback_id")
    if not isinstance(callback_id, str) or not callback_id or len(callback_id) > 150:
        return
    if max_address_kind(settings) == "user_id":
        address = _dict(callback.get("user")).get("user_id")
    else:
        address = _dict(_dict(message).get("recipient")).get("chat_id")
    address_text = str(address) if isinstance(address, int | str) and address != "" else ""
    answer = score_button_receive(
        channel=Channel.MAX, address=address_text, data=str(callback.get("payload") or "")
    )
    if answer is None:
        return  # another feature's button
    customer = customer_by_address(channel=Channel.MAX, address=address_text)
    if customer is None:
        log.warning("max_callback_unknown_chat")
        return
    message_enqueue(
        customer=customer,
        dedupe_key=f"max_answer:{callback_id}",
        channel=Channel.MAX,
        purpose=Purpose.TRANSACTIONAL,
        text=answer.text,
        payload={"callback_id": callback_id},
    )
    log.info("max_score_button", extra={"recorded": answer.recorded})
