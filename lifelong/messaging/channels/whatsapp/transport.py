"""WhatsApp Cloud API: POST /<version>/<phone_number_id>/messages with a Bearer token.

Free-form text reaches a customer only within 24 hours of their last message; outside
that window WhatsApp accepts only approved templates. So a template is sent when the
outbox payload names one ("whatsapp_template": "name" or {"name", "language",
"parameters": [body values]}), or for a marketing message when the settings name a
fallback template ("template_name", "template_language"), filled with the message text.

Answer: {"messages": [{"id": "wamid...."}]}; errors: {"error": {"code": 131026, ...}}.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

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
from lifelong.messaging.channels.http import (
    READ_TIMEOUT,
    HttpResponse,
    http_request,
    status_error,
)

GRAPH_URL = "https://graph.facebook.com"
GRAPH_VERSION = "v21.0"
# 131026 message undeliverable (no WhatsApp account, old app, or the user blocked us).
WHATSAPP_BOUNCE = {131026}
# Rate limits (130429 throughput, 131048 spam, 131056 per-recipient pair, 4 and 80007
# app/account) and temporary outages (1, 2, 131000, 131016).
WHATSAPP_TRANSIENT = {1, 2, 4, 80007, 130429, 131000, 131016, 131048, 131056}


def whatsapp_error(response: HttpResponse) -> TransportError:
    answer = response.json()
    error = answer.get("error") if isinstance(answer, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("code"), int):
        return status_error(response, label="WhatsApp")
    code = error["code"]
    error_data = error.get("error_data")
    details = error_data.get("details", "") if isinstance(error_data, dict) else ""
    text = f"WhatsApp {code}: {error.get('message', '')}" + (f" ({details})" if details else "")
    if code in WHATSAPP_BOUNCE:
        return TransportError(text, bounce=True)
    if code in WHATSAPP_TRANSIENT:
        return TransportError(text)
    # 190 expired token, 131047 outside the 24-hour window, 132xxx template problems, ...
    return TransportError(text, permanent=True)


def whatsapp_template(message: Outgoing, config: Mapping[str, Any]) -> dict[str, Any] | None:
    """The template object to send, or None for plain text."""
    wanted = message.payload.get("whatsapp_template")
    language = str(config.get("template_language") or "ru")
    parameters: list[Any] = []
    if isinstance(wanted, str) and wanted:
        name = wanted
    elif isinstance(wanted, Mapping) and wanted.get("name"):
        name = str(wanted["name"])
        language = str(wanted.get("language") or language)
        parameters = list(wanted.get("parameters") or [])
    elif message.marketing and config.get("template_name"):
        name, parameters = str(config["template_name"]), [message.text]
    else:
        return None
    template: dict[str, Any] = {"name": name, "language": {"code": language}}
    if parameters:
        template["components"] = [
            {
                "type": "body",
                "parameters": [{"type": "text", "text": str(value)} for value in parameters],
            }
        ]
    return template


@register
class WhatsAppTransport(Transport):
    name = "whatsapp"
    channels: ClassVar[tuple[str, ...]] = ("whatsapp",)
    settings: ClassVar[tuple[Setting, ...]] = (
        Setting(
            "access_token",
            _("Access token"),
            _(
                "A permanent system user token from Meta Business settings, with "
                "whatsapp_business_messaging."
            ),
            kind=SECRET,
            required=True,
        ),
        Setting(
            "phone_number_id",
            _("Phone number ID"),
            _("In the Meta app: WhatsApp → API Setup, under the sending number."),
            required=True,
            example="106540352242922",
        ),
        Setting(
            "app_secret",
            _("App secret"),
            _("App settings → Basic: checks the signature of incoming webhooks."),
            kind=SECRET,
        ),
        Setting(
            "verify_token",
            _("Verify token"),
            _("Any string; the same one in the app's webhook settings."),
            kind=SECRET,
        ),
        Setting(
            "template_name",
            _("Marketing template"),
            _(
                "An approved template with one body parameter: marketing messages outside "
                "the 24-hour window are sent with it."
            ),
            example="news",
        ),
        Setting("template_language", _("Template language"), example="ru"),
        Setting(
            "base_url",
            _("API address"),
            _("Leave empty for the provider's own address; set only for a proxy or a test server."),
            kind=URL,
        ),
    )
    destinations: ClassVar[tuple[str, ...]] = ("base_url",)

    def send(self, message: Outgoing) -> SendResult:
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "".join(ch for ch in message.to if ch.isdigit()),
        }
        template = whatsapp_template(message, self.config)
        if template is not None:
            body.update(type="template", template=template)
        else:
            body.update(type="text", text={"preview_url": False, "body": message.text})
        base = str(self.config.get("base_url") or GRAPH_URL).rstrip("/")
        version = self.config.get("api_version") or GRAPH_VERSION
        response = http_request(
            "POST",
            f"{base}/{version}/{self.config['phone_number_id']}/messages",
            json=body,
            headers={"Authorization": f"Bearer {self.config['access_token']}"},
            timeout=float(self.config.get("timeout") or READ_TIMEOUT),
            label="WhatsApp",
        )
        if not response.ok:
            raise whatsapp_error(response)
        answer = response.json()
        messages = answer.get("messages") if isinstance(answer, dict) else None
        wamid = messages[0].get("id") if messages and isinstance(messages[0], dict) else None
        if not wamid:
            raise TransportError(
                f"WhatsApp: unreadable answer {response.text()[:200]!r}", may_have_sent=True
            )
        return SendResult(provider_id=str(wamid))
