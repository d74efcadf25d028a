"""Telegram Bot API: sendMessage to the customer's linked chat.

POST {base_url}/bot<token>/sendMessage with {"chat_id", "text"[, "parse_mode": "HTML"]
[, "reply_markup"]} (an inline keyboard from the message's payload).
Answers {"ok": true, "result": {"message_id": ...}} or {"ok": false, "error_code": 403,
"description": "Forbidden: bot was blocked by the user"} with the same HTTP status.
"""

from __future__ import annotations

from typing import ClassVar

from django.utils.translation import gettext_lazy as _

from lifelong.messaging.channels.base import (
    SECRET,
    URL,
    Outgoing,
    SendResult,
    Setting,
    Transport,
    TransportError,
    register,
)
from lifelong.messaging.channels.http import READ_TIMEOUT, http_request, status_error

TELEGRAM_URL = "https://api.telegram.org"
# 400 descriptions that mean the chat itself is gone or was never reachable.
DEAD_CHAT = ("chat not found", "user not found", "peer_id_invalid", "have no rights to send")


@register
class TelegramTransport(Transport):
    name = "telegram"
    channels: ClassVar[tuple[str, ...]] = ("telegram",)
    settings: ClassVar[tuple[Setting, ...]] = (
        Setting(
            "bot_token",
            _("Bot token"),
            _("From @BotFather in Telegram: /newbot for a new bot, /token for an existing one."),
            kind=SECRET,
            required=True,
            example="123456789:AAF…",
        ),
        Setting(
            "bot_username",
            _("Bot username"),
            _("Without @. Customers' personal links open this bot: t.me/<username>."),
            example="yoga_shop_bot",
        ),
        Setting(
            "webhook_secret",
            _("Webhook secret"),
            _(
                "Any long random string; give the same one to setWebhook as secret_token, so "
                "only Telegram can deliver customers' replies."
            ),
            kind=SECRET,
        ),
        Setting(
            "base_url",
            _("API address"),
            _("Leave empty for the provider's own address; set only for a proxy or a test server."),
            kind=URL,
        ),
    )
    destinations: ClassVar[tuple[str, ...]] = ("base_url",)

    def send(self, message: Outgoing) -> SendResult:
        body: dict[str, object] = {"chat_id": message.to}
        if message.html:
            body.update(text=message.html, parse_mode="HTML")
        else:
            body["text"] = message.text
        if message.payload.get("reply_markup"):
            # Buttons under the text (a survey's score buttons), stored with the message.
            body["reply_markup"] = message.payload["reply_markup"]
        response = http_request(
            "POST",
            f"{str(self.config.get('base_url') or TELEGRAM_URL).rstrip('/')}"
            f"/bot{self.config['bot_token']}/sendMessage",
            json=body,
            timeout=float(self.config.get("timeout") or READ_TIMEOUT),
            label="Telegram",
        )
        answer = response.json()
        if not isinstance(answer, dict):
            if response.ok:
                raise TransportError(
                    f"Telegram: unreadable answer {response.text()[:200]!r}", may_have_sent=True
                )
            raise status_error(response, label="Telegram")
        if answer.get("ok") is True:
            result = answer.get("result") or {}
            return SendResult(provider_id=f"{message.to}:{result.get('message_id', '')}")
        raise telegram_error(answer, response.status)


def telegram_error(answer: dict[str, object], status: int) -> TransportError:
    code = answer.get("error_code")
    code = code if isinstance(code, int) else status
    description = str(answer.get("description") or "")
    text = f"Telegram {code}: {description}"
    if code == 403:
        # Blocked by the user, user deactivated, kicked from the chat: the chat is dead to us.
        return TransportError(text, bounce=True)
    if code == 400 and any(words in description.lower() for words in DEAD_CHAT):
        return TransportError(text, bounce=True)
    if code == 429 or (isinstance(code, int) and code >= 500):
        parameters = answer.get("parameters")
        if isinstance(parameters, dict) and parameters.get("retry_after"):
            text += f" (retry after {parameters['retry_after']} s)"
        return TransportError(text)
    # Bad token (401/404), message too long or malformed HTML (400): fix the set-up or text.
    return TransportError(text, permanent=True)
