"""VK Callback API: server confirmation, incoming community messages, survey score buttons,
and club conversations.

VK POSTs JSON {"type", "group_id", "event_id", "secret", "object"}. A "confirmation"
request must be answered with the string shown in the community's settings; every other
event must be answered "ok" or VK sends it again. The "secret" field proves the sender.
Messages from conversations (peer_id 2000000000 and up: joins, leaves, members' messages in a
club) go to the community app; only private messages reach the inbox.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from lifelong.community.vk_updates import vk_event_receive
from lifelong.customers.models import Channel
from lifelong.feedback.inbox import inbound_receive
from lifelong.feedback.sending import score_button_receive
from lifelong.messaging.channels.http import hook_settings, secret_matches

log = logging.getLogger(__name__)


def _text(body: str, status: int = 200) -> HttpResponse:
    return HttpResponse(body, status=status, content_type="text/plain")


@csrf_exempt
@require_POST
def vk_callback(request: HttpRequest) -> HttpResponse:
    settings = hook_settings(Channel.VK, "vk")
    if settings is None:
        return _text("not found", 404)
    try:
        event = json.loads(request.body)
    except ValueError:
        return _text("bad request", 400)
    if not isinstance(event, dict):
        return _text("bad request", 400)
    group_id = str(settings.get("group_id") or "")
    if group_id and str(event.get("group_id")) != group_id:
        return _text("forbidden", 403)
    if event.get("type") == "confirmation":
        confirmation = str(settings.get("confirmation") or "")
        return _text(confirmation) if confirmation else _text("not found", 404)
    if not secret_matches(settings.get("secret"), event.get("secret")):
        log.warning("vk_callback_rejected")
        return _text("forbidden", 403)
    if vk_event_receive(event=event):
        return _text("ok")
    if event.get("type") == "message_new":
        payload = event.get("object")
        message = payload.get("message") if isinstance(payload, dict) else None
        if isinstance(message, dict) and not message.get("out") and message.get("from_id"):
            if _score_button(message):
                return _text("ok")
            inbound_receive(
                channel=Channel.VK,
                address=str(message["from_id"]),
                text=str(message.get("text") or ""),
                provider_id=str(event.get("event_id") or message.get("id") or ""),
            )
    return _text("ok")


def _score_button(message: dict[str, Any]) -> bool:
    """A survey's score button (its payload names the signed value): recorded once, not an
    inbox reply. Any other payload (VK's own "start" button) is an ordinary message."""
    try:
        payload = json.loads(str(message.get("payload") or ""))
    except ValueError:
        return False
    if not isinstance(payload, dict) or not isinstance(payload.get("survey"), str):
        return False
    answer = score_button_receive(
        channel=Channel.VK, address=str(message["from_id"]), data=payload["survey"]
    )
    log.info("vk_score_button", extra={"recorded": bool(answer and answer.recorded)})
    return True
