"""VK community messages: messages.send with the community's access token.

POST {base_url}/method/messages.send, form fields access_token, v, peer_id, random_id,
message[, keyboard] (a JSON keyboard from the message's payload). VK answers HTTP 200
either way: {"response": <message id>} or {"error": {"error_code": 901, "error_msg": "..."}}.

random_id is the outbox message id: VK drops a second send with the same random_id, so
even a retry after a lost answer cannot reach the customer twice.
"""

from __future__ import annotations

import json
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

VK_URL = "https://api.vk.com"
VK_VERSION = "5.199"
# 900 the customer blacklisted the community, 901 never allowed its messages,
# 902 privacy settings forbid them: the address is closed to us.
VK_BOUNCE = {900, 901, 902}
# 1 unknown error, 6 too many requests per second, 9 flood control, 10 internal error.
VK_TRANSIENT = {1, 6, 9, 10}


def vk_error(error: dict[str, object]) -> TransportError:
    code = error.get("error_code")
    text = f"VK {code}: {error.get('error_msg', '')}"
    if code in VK_BOUNCE:
        return TransportError(text, bounce=True)
    if code in VK_TRANSIENT:
        return TransportError(text)
    # 5 token revoked, 7/15/27 no rights, 100 bad parameter, 914 too long: owner's problem.
    return TransportError(text, permanent=True)


@register
class VkTransport(Transport):
    name = "vk"
    channels: ClassVar[tuple[str, ...]] = ("vk",)
    settings: ClassVar[tuple[Setting, ...]] = (
        Setting(
            "access_token",
            _("Community token"),
            _(
                "Community → Manage → API usage → Access tokens: create one with access to "
                "community messages."
            ),
            kind=SECRET,
            required=True,
            example="vk1.a.…",
        ),
        Setting(
            "group_id",
            _("Community id"),
            _("Digits only: the number in vk.com/club123456."),
            example="123456",
        ),
        Setting(
            "confirmation",
            _("Confirmation code"),
            _("Manage → API usage → Callback API: the string the server must return."),
            example="a1b2c3d4",
        ),
        Setting(
            "secret",
            _("Callback API secret key"),
            _("The same secret key as in the Callback API settings: VK sends it with every event."),
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
        response = http_request(
            "POST",
            str(self.config.get("base_url") or VK_URL).rstrip("/") + "/method/messages.send",
            # The token goes in the body, not the URL, so proxies and logs never see it.
            form={
                "access_token": self.config["access_token"],
                "v": self.config.get("api_version") or VK_VERSION,
                "peer_id": message.to,
                "random_id": message.message_id,
                "message": message.text,
                # Buttons under the text (a survey's score buttons), stored with the message.
                **(
                    {"keyboard": json.dumps(message.payload["keyboard"], ensure_ascii=False)}
                    if message.payload.get("keyboard")
                    else {}
                ),
            },
            timeout=float(self.config.get("timeout") or READ_TIMEOUT),
            label="VK",
        )
        if not response.ok:
            raise status_error(response, label="VK")
        answer = response.json()
        if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
            raise vk_error(answer["error"])
        if not isinstance(answer, dict) or "response" not in answer:
            raise TransportError(
                f"VK: unreadable answer {response.text()[:200]!r}", may_have_sent=True
            )
        return SendResult(provider_id=str(answer["response"]))
