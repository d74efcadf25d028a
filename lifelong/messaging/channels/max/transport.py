"""MAX messenger bot API (https://dev.max.ru/docs-api).

POST {base_url}/messages?chat_id=<id> (or ?user_id=<id>), header "Authorization: <token>"
(query-string tokens are no longer accepted), JSON {"text", "format"?}. The answer is
{"message": {"body": {"mid": "mid...."}, ...}}; errors carry an HTTP status and
{"code": "...", "message": "..."}. MAX now asks bots to call platform-api2.max.ru.

The customer's address is the dialog's chat_id by default; settings key "address" =
"user_id" switches both sending and reply matching to the MAX user id.

A message whose payload carries "attachments" (a survey's inline keyboard of callback
buttons) sends them with the text. A payload with "callback_id" is not a new message but
the answer to a tapped button: POST {base_url}/answers?callback_id=<id> with
{"notification": text}, answered {"success": true} or {"success": false, "message": ...}.
The webhook queues it through the outbox, so no request leaves inside the webhook's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from django.utils.translation import gettext_lazy as _

from lifelong.messaging.channels.base import (
    CHOICE,
    SECRET,
    URL,
    Outgoing,
    SendResult,
    Setting,
    Transport,
    TransportError,
    register,
)
from lifelong.messaging.channels.http import READ_TIMEOUT, HttpResponse, http_request

MAX_URL = "https://platform-api2.max.ru"


def max_address_kind(config: Mapping[str, Any]) -> str:
    return "user_id" if config.get("address") == "user_id" else "chat_id"


def max_error(response: HttpResponse) -> TransportError:
    answer = response.json()
    answer = answer if isinstance(answer, dict) else {}
    text = f"MAX {response.status}: {answer.get('code', '')} {answer.get('message', '')}".strip()
    if response.status in (403, 404):
        # The user blocked the bot or the dialog does not exist: the address is closed.
        return TransportError(text, bounce=True)
    if response.status in (408, 429) or response.status >= 500:
        return TransportError(text)
    return TransportError(text, permanent=True)


@register
class MaxTransport(Transport):
    name = "max"
    channels: ClassVar[tuple[str, ...]] = ("max",)
    settings: ClassVar[tuple[Setting, ...]] = (
        Setting(
            "access_token",
            _("Bot token"),
            _("From the MAX partner platform: Chat bots → Integration → Get token."),
            kind=SECRET,
            required=True,
        ),
        Setting(
            "webhook_secret",
            _("Webhook secret"),
            _(
                "The secret given when subscribing the webhook; MAX sends it with every update "
                "(X-Max-Bot-Api-Secret)."
            ),
            kind=SECRET,
        ),
        Setting(
            "address",
            _("Customer address"),
            _("Which MAX id a customer is written to and recognised by."),
            kind=CHOICE,
            choices=(("chat_id", _("Dialog (chat_id)")), ("user_id", _("User (user_id)"))),
        ),
        Setting(
            "base_url",
            _("API address"),
            _("Leave empty for the provider's own address; set only for a proxy or a test server."),
            kind=URL,
        ),
    )
    destinations: ClassVar[tuple[str, ...]] = ("base_url",)

    def _post(self, path: str, params: dict[str, str], body: dict[str, Any]) -> HttpResponse:
        return http_request(
            "POST",
            str(self.config.get("base_url") or MAX_URL).rstrip("/") + path,
            params=params,
            json=body,
            headers={"Authorization": str(self.config["access_token"])},
            timeout=float(self.config.get("timeout") or READ_TIMEOUT),
            label="MAX",
        )

    def send(self, message: Outgoing) -> SendResult:
        callback_id = message.payload.get("callback_id")
        if callback_id:
            return self._answer(str(callback_id), message.text)
        body: dict[str, Any] = {"text": message.text}
        if message.html:
            body.update(text=message.html, format="html")
        if message.payload.get("attachments"):
            # Buttons under the text (a survey's score buttons), stored with the message.
            body["attachments"] = message.payload["attachments"]
        response = self._post("/messages", {max_address_kind(self.config): message.to}, body)
        if not response.ok:
            raise max_error(response)
        answer = response.json()
        sent = answer.get("message") if isinstance(answer, dict) else None
        mid = (sent.get("body") or {}).get("mid") if isinstance(sent, dict) else None
        if not mid:
            raise TransportError(
                f"MAX: unreadable answer {response.text()[:200]!r}", may_have_sent=True
            )
        return SendResult(provider_id=str(mid))

    def _answer(self, callback_id: str, text: str) -> SendResult:
        """The notice over the chat after a tapped button (POST /answers)."""
        response = self._post("/answers", {"callback_id": callback_id}, {"notification": text})
        if not response.ok:
            refused = max_error(response)
            # An answer refused says nothing about the chat itself: never a bounce.
            raise TransportError(str(refused), permanent=refused.permanent)
        answer = response.json()
        if not isinstance(answer, dict) or answer.get("success") is not True:
            detail = answer.get("message", "") if isinstance(answer, dict) else response.text()
            # An answer MAX refused (the callback expired, say) is not worth sending again.
            raise TransportError(f"MAX answer refused: {str(detail)[:200]}", permanent=True)
        return SendResult(provider_id=f"answer:{callback_id}")
