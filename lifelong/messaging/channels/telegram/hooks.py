"""The Telegram bot webhook: start links, replies, survey score buttons, and club chats.

Telegram POSTs one Update per request and sends the secret given to setWebhook in the
X-Telegram-Bot-Api-Secret-Token header. Any answer but 2xx makes Telegram deliver the
update again, so updates we do not use are acknowledged, not refused. Updates about groups,
supergroups and channels (joins, leaves, messages, reactions in a club) go to the community
app; only private chats reach the inbox.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from lifelong.community.updates import telegram_update_receive
from lifelong.customers.models import Channel
from lifelong.feedback.inbox import inbound_receive
from lifelong.feedback.sending import score_button_receive
from lifelong.messaging.channels.http import hook_settings, secret_matches
from lifelong.messaging.channels.telegram.linking import telegram_chat_link

log = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def telegram_webhook(request: HttpRequest) -> HttpResponse:
    settings = hook_settings(Channel.TELEGRAM, "telegram")
    if settings is None:
        return JsonResponse({"detail": "Telegram is not set up."}, status=404)
    if not secret_matches(
        settings.get("webhook_secret"), request.headers.get("X-Telegram-Bot-Api-Secret-Token")
    ):
        log.warning("telegram_webhook_rejected")
        return JsonResponse({"detail": "Bad secret token."}, status=403)
    try:
        update = json.loads(request.body)
    except ValueError:
        return JsonResponse({"detail": "Body is not JSON."}, status=400)
    if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
        return JsonResponse({"detail": "Not a Telegram update."}, status=400)
    if telegram_update_receive(update=update):
        return JsonResponse({"ok": True})
    callback = update.get("callback_query")
    if isinstance(callback, dict) and isinstance(callback.get("id"), str):
        return _callback_receive(callback)
    message = update.get("message")
    if isinstance(message, dict):
        _message_receive(message, update_id=update["update_id"])
    return JsonResponse({"ok": True})


def _message_receive(message: dict[str, Any], *, update_id: int) -> None:
    chat = message.get("chat")
    if not isinstance(chat, dict) or not isinstance(chat.get("id"), int):
        return
    chat_id = str(chat["id"])
    text = str(message.get("text") or message.get("caption") or "")
    command, _sep, argument = text.partition(" ")
    if command == "/start" or command.startswith("/start@"):
        # A bare /start, or a start link from someone else's card, links nothing.
        if argument.strip() and chat.get("type") == "private":
            customer = telegram_chat_link(token=argument, chat_id=chat_id, update_id=update_id)
            log.info("telegram_start", extra={"linked": customer is not None})
        return
    inbound_receive(
        channel=Channel.TELEGRAM, address=chat_id, text=text, provider_id=str(update_id)
    )


def _callback_receive(callback: dict[str, Any]) -> HttpResponse:
    """A tapped inline button. The answer to the webhook request is itself the Bot API call
    answerCallbackQuery (Telegram runs a method given in the response body), so the spinner
    on the button stops without a request of ours leaving inside this one."""
    message = callback.get("message")
    chat = message.get("chat") if isinstance(message, dict) else None
    sender = callback.get("from")
    chat_id = chat.get("id") if isinstance(chat, dict) else None
    if chat_id is None and isinstance(sender, dict):
        chat_id = sender.get("id")
    answer = score_button_receive(
        channel=Channel.TELEGRAM,
        address=str(chat_id) if isinstance(chat_id, int) else "",
        data=str(callback.get("data") or ""),
    )
    reply: dict[str, Any] = {"method": "answerCallbackQuery", "callback_query_id": callback["id"]}
    if answer is not None:
        reply["text"] = answer.text
    return JsonResponse(reply)
