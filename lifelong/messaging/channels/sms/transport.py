"""SMS transports: SMS.ru, and a generic HTTP gateway described by its settings.

SMS.ru (https://sms.ru/api/send): POST /sms/send with api_id, to, msg, json=1. The HTTP
status is always 200; the verdict is in the body, once for the request and once per number:
{"status": "OK", "status_code": 100, "sms": {"79255070602": {"status": "OK",
"status_code": 100, "sms_id": "000000-10000000"}}, "balance": 4122.56}.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from django.utils.translation import gettext_lazy as _

from lifelong.messaging.channels.base import (
    BOOL,
    CHOICE,
    JSON,
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

SMSRU_URL = "https://sms.ru"

# SMS.ru codes for a request or a number that was not accepted.
# The number itself is unusable: suppress it.
SMSRU_BOUNCE = {
    202: "invalid recipient number",
    207: "no route to this number",
    209: "number is in the account's stop list",
    215: "number is on SMS.ru's spam list",
}
# Worth trying again later.
SMSRU_TRANSIENT = {
    206: "daily sending limit reached",
    220: "SMS.ru is temporarily unavailable",
    230: "daily limit of messages to this number reached",
    231: "same text to this number within a minute",
    232: "same text to this number too often today",
    500: "SMS.ru server error",
}
# Everything else (wrong api_id 200/300/301/302, no money 201, sender not approved 204,
# text too long 205, forbidden words 216, ...) needs the owner, not a retry: permanent.


def smsru_error(code: int, text: str) -> TransportError:
    message = f"SMS.ru {code}: {text or SMSRU_BOUNCE.get(code) or SMSRU_TRANSIENT.get(code, '')}"
    if code in SMSRU_BOUNCE:
        return TransportError(message, bounce=True)
    if code in SMSRU_TRANSIENT:
        return TransportError(message)
    return TransportError(message, permanent=True)


def sms_digits(phone: str) -> str:
    """SMS.ru and most gateways want 79161234567, not +7 916 123-45-67."""
    return "".join(ch for ch in phone if ch.isdigit())


@register
class SmsRuTransport(Transport):
    name = "smsru"
    channels: ClassVar[tuple[str, ...]] = ("sms",)
    settings: ClassVar[tuple[Setting, ...]] = (
        Setting(
            "api_id",
            _("API key (api_id)"),
            _("In your SMS.ru account: Settings → API, the api_id field."),
            kind=SECRET,
            required=True,
            example="A1B2C3D4-…",
        ),
        Setting(
            "sender",
            _("Sender name"),
            _("As approved in SMS.ru; empty sends from SMS.ru's default sender."),
            example="YogaShop",
        ),
        Setting(
            "test",
            _("Test mode"),
            _("SMS.ru accepts the messages but delivers none and charges nothing."),
            kind=BOOL,
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
        number = sms_digits(message.to)
        form: dict[str, Any] = {
            "api_id": self.config["api_id"],
            "to": number,
            "msg": message.text,
            "json": 1,
        }
        if self.config.get("sender"):
            form["from"] = self.config["sender"]
        if self.config.get("test"):
            form["test"] = 1
        response = http_request(
            "POST",
            str(self.config.get("base_url") or SMSRU_URL).rstrip("/") + "/sms/send",
            form=form,
            timeout=float(self.config.get("timeout") or READ_TIMEOUT),
            label="SMS.ru",
        )
        if not response.ok:
            raise status_error(response, label="SMS.ru")
        answer = response.json()
        if not isinstance(answer, dict):
            # SMS.ru answered, but not with what a sent message looks like.
            raise TransportError(
                f"SMS.ru: unreadable answer {response.text()[:200]!r}", may_have_sent=True
            )
        if answer.get("status") != "OK":
            raise smsru_error(int(answer.get("status_code") or 0), answer.get("status_text", ""))
        result = (answer.get("sms") or {}).get(number)
        if not isinstance(result, dict):
            raise TransportError(f"SMS.ru: no result for {number}", may_have_sent=True)
        if result.get("status") != "OK":
            raise smsru_error(int(result.get("status_code") or 0), result.get("status_text", ""))
        return SendResult(provider_id=str(result.get("sms_id", "")))


def json_path(data: Any, path: str) -> Any:
    """`data` at a dotted path ("result.messages.0.id"); None when it is not there."""
    for key in filter(None, path.split(".")):
        if isinstance(data, Mapping):
            data = data.get(key)
        elif isinstance(data, list) and key.isdigit() and int(key) < len(data):
            data = data[int(key)]
        else:
            return None
    return data


def fill(template: Any, values: Mapping[str, str]) -> Any:
    """The body template with {to} and {text} replaced inside its strings.

    Works on parsed JSON, not on the raw template text, so a quote or brace in the
    message cannot change the structure of what is sent.
    """
    if isinstance(template, str):
        for key, value in values.items():
            template = template.replace("{" + key + "}", value)
        return template
    if isinstance(template, list):
        return [fill(item, values) for item in template]
    if isinstance(template, Mapping):
        return {key: fill(item, values) for key, item in template.items()}
    return template


@register
class HttpSmsTransport(Transport):
    """Any gateway that takes one HTTP request per message.

    Settings: url; method (POST, or GET to send the body as query parameters); body, a JSON
    object whose strings may hold {to} (E.164 with +), {to_digits} and {text}; auth_header,
    "Name: value"; id_path, where the gateway's message id is in its JSON answer;
    webhook_signing_key, for a gateway that reports replies and deliveries the way SMS
    Gateway for Android does (see gateway_hooks.py).
    """

    name = "http_sms"
    channels: ClassVar[tuple[str, ...]] = ("sms",)
    settings: ClassVar[tuple[Setting, ...]] = (
        Setting(
            "url",
            _("Gateway address"),
            _("The URL each message is sent to."),
            kind=URL,
            required=True,
            example="https://gateway.example/api/send",
        ),
        Setting(
            "method",
            _("Method"),
            _("GET sends the body's fields as query parameters."),
            kind=CHOICE,
            choices=(("POST", "POST"), ("GET", "GET")),
        ),
        Setting(
            "body",
            _("Request body (JSON)"),
            _("{to} becomes the number with +, {to_digits} the digits only, {text} the message."),
            kind=JSON,
            required=True,
            example='{"phone": "{to_digits}", "message": "{text}"}',
        ),
        Setting(
            "auth_header",
            _("Authorization header"),
            _("Name: value, sent with every request."),
            kind=SECRET,
            example="Authorization: Bearer …",
        ),
        Setting(
            "id_path",
            _("Message id in the answer"),
            _("Where the gateway's JSON answer holds the message id, as a dotted path."),
            example="result.id",
        ),
        Setting(
            "webhook_signing_key",
            _("Webhook signing key"),
            _("The gateway signs the replies and delivery reports it sends us with it."),
            kind=SECRET,
        ),
    )
    destinations: ClassVar[tuple[str, ...]] = ("url",)

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        body = config["body"]
        if isinstance(body, str):
            try:
                body = json.loads(body)
            except ValueError:
                raise TransportError("http_sms: body is not JSON", permanent=True) from None
        if not isinstance(body, dict):
            raise TransportError("http_sms: body must be a JSON object", permanent=True)
        self.body: dict[str, Any] = body
        self.method = str(config.get("method") or "POST").upper()
        self.headers: dict[str, str] = {}
        auth = str(config.get("auth_header") or "")
        if auth:
            header, sep, value = auth.partition(":")
            if not sep or not header.strip():
                raise TransportError("http_sms: auth_header must be 'Name: value'", permanent=True)
            self.headers[header.strip()] = value.strip()

    def send(self, message: Outgoing) -> SendResult:
        filled = fill(
            self.body,
            {"to": message.to, "to_digits": sms_digits(message.to), "text": message.text},
        )
        as_query = self.method == "GET"
        response = http_request(
            self.method,
            str(self.config["url"]),
            params=filled if as_query else None,
            json=None if as_query else filled,
            headers=self.headers,
            timeout=float(self.config.get("timeout") or READ_TIMEOUT),
            label="SMS gateway",
        )
        if not response.ok:
            raise status_error(response, label="SMS gateway")
        id_path = str(self.config.get("id_path") or "")
        if not id_path:
            return SendResult()
        provider_id = json_path(response.json(), id_path)
        if provider_id is None or isinstance(provider_id, (dict, list)):
            # A 2xx without the id we were told to expect: accepted or not, we cannot tell.
            raise TransportError(
                f"SMS gateway: no message id at {id_path!r} in {response.text()[:200]!r}",
                may_have_sent=True,
            )
        return SendResult(provider_id=str(provider_id))
