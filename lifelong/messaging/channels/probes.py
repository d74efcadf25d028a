"""'Send a test' on the channel set-up page: ask the provider, now, whether the settings work.

A probe first asks the provider who we are (Telegram getMe, SMS.ru balance, VK
groups.getById, MAX /me, WhatsApp's phone number; SMTP connect, EHLO and AUTH), then,
when the staff member gave an address, sends one short message through the transport's own
`send`, exactly as a customer's message would go. Each step keeps the provider's answer
(status and its own words) for the page, with a translated one-line summary on top.

Requests go through `http_request`, which refuses private addresses; the SMTP host is
checked the same way before connecting.
"""

from __future__ import annotations

import base64
import dataclasses
import secrets
import smtplib
import ssl
from collections.abc import Callable, Mapping
from typing import Any

from cryptography.hazmat.primitives import serialization
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from lifelong.lib.outbound import HostUnresolved, OutboundRefused, outbound_address
from lifelong.messaging.channels.base import Outgoing, Transport, TransportError
from lifelong.messaging.channels.email.transport import PORTS
from lifelong.messaging.channels.http import HttpResponse, http_request
from lifelong.messaging.channels.max.transport import MAX_URL
from lifelong.messaging.channels.sms.transport import SMSRU_URL
from lifelong.messaging.channels.telegram.transport import TELEGRAM_URL
from lifelong.messaging.channels.vk.transport import VK_URL, VK_VERSION
from lifelong.messaging.channels.whatsapp.transport import GRAPH_URL, GRAPH_VERSION

PROBE_TIMEOUT = 10.0


@dataclasses.dataclass(frozen=True)
class Answer:
    """One request of a probe and what the provider said to it."""

    step: str  # the provider's own name for the call: getMe, EHLO, messages.send
    ok: bool
    status: str  # "HTTP 401", "SMTP 235"; "" when no answer came
    detail: str  # the provider's words, or what went wrong before it could answer


@dataclasses.dataclass(frozen=True)
class ProbeResult:
    ok: bool
    summary: str
    answers: list[Answer]


class _Failed(Exception):
    def __init__(self, summary: str) -> None:
        super().__init__(summary)
        self.summary = summary


def _base(config: Mapping[str, Any], default: str) -> str:
    return str(config.get("base_url") or default).rstrip("/")


def _call(method: str, url: str, label: str, **kwargs: Any) -> HttpResponse:
    try:
        return http_request(method, url, timeout=PROBE_TIMEOUT, label=label, **kwargs)
    except TransportError as exc:
        raise _Failed(_("Could not reach %(provider)s: %(error)s") % _words(label, exc)) from exc


def _json_object(response: HttpResponse) -> dict[str, Any]:
    """The answer's JSON object; {} for anything else (an HTML error page, a list)."""
    answer = response.json()
    return answer if isinstance(answer, dict) else {}


def _words(provider: str, exc: Exception) -> dict[str, str]:
    return {"provider": provider, "error": str(exc), "answer": str(exc)}


def _refused(provider: str, answer: str, *, credentials: bool) -> _Failed:
    if credentials:
        text = _("Wrong token: %(provider)s answered %(answer)s")
    else:
        text = _("%(provider)s answered with an error: %(answer)s")
    return _Failed(text % {"provider": provider, "answer": answer})


def _telegram(config: Mapping[str, Any], answers: list[Answer]) -> str:
    url = f"{_base(config, TELEGRAM_URL)}/bot{config['bot_token']}/getMe"
    response = _call("GET", url, "Telegram")
    body = _json_object(response)
    if body.get("ok") is True:
        username = (body.get("result") or {}).get("username", "")
        answers.append(Answer("getMe", True, f"HTTP {response.status}", f"@{username}"))
        return _("bot @%(name)s") % {"name": username}
    answer = f"{body.get('error_code') or response.status} {body.get('description') or ''}"
    answers.append(Answer("getMe", False, f"HTTP {response.status}", answer.strip()))
    raise _refused("Telegram", answer.strip(), credentials=response.status in (401, 404))


def _smsru(config: Mapping[str, Any], answers: list[Answer]) -> str:
    response = _call(
        "GET",
        f"{_base(config, SMSRU_URL)}/my/balance",
        "SMS.ru",
        params={"api_id": config["api_id"], "json": 1},
    )
    body = _json_object(response)
    if body.get("status") == "OK":
        balance = body.get("balance")
        answers.append(Answer("my/balance", True, f"HTTP {response.status}", f"{balance}"))
        return _("balance %(balance)s ₽") % {"balance": balance}
    code = body.get("status_code") or response.status
    answer = f"{code} {body.get('status_text') or response.text()[:200]}".strip()
    answers.append(Answer("my/balance", False, f"HTTP {response.status}", answer))
    # 200 wrong api_id, 300 expired authorisation, 301 wrong password or user.
    raise _refused("SMS.ru", answer, credentials=code in (200, 300, 301))


def _vk(config: Mapping[str, Any], answers: list[Answer]) -> str:
    response = _call(
        "POST",
        f"{_base(config, VK_URL)}/method/groups.getById",
        "VK",
        # The token in the body, as messages.send sends it: never in a URL.
        form={"access_token": config["access_token"], "v": config.get("api_version") or VK_VERSION},
    )
    body = _json_object(response)
    error = body.get("error")
    if isinstance(error, dict) or not response.ok:
        error = error if isinstance(error, dict) else {}
        answer = f"{error.get('error_code', response.status)} {error.get('error_msg', '')}"
        answers.append(Answer("groups.getById", False, f"HTTP {response.status}", answer))
        # 5: the token is wrong or revoked; 27: a community token cannot do this.
        raise _refused("VK", answer.strip(), credentials=error.get("error_code") == 5)
    found = body.get("response")
    groups = found.get("groups") if isinstance(found, dict) else found
    group = groups[0] if isinstance(groups, list) and groups else {}
    name = f"{group.get('name', '')} (id {group.get('id', '?')})"
    answers.append(Answer("groups.getById", True, f"HTTP {response.status}", name))
    return _("community %(name)s") % {"name": name}


def _max(config: Mapping[str, Any], answers: list[Answer]) -> str:
    response = _call(
        "GET",
        f"{_base(config, MAX_URL)}/me",
        "MAX",
        headers={"Authorization": str(config["access_token"])},
    )
    body = _json_object(response)
    if response.ok:
        name = str(body.get("username") or body.get("name") or body.get("user_id") or "")
        answers.append(Answer("GET /me", True, f"HTTP {response.status}", name))
        return _("bot %(name)s") % {"name": name}
    answer = f"{response.status} {body.get('code', '')} {body.get('message', '')}".strip()
    answers.append(Answer("GET /me", False, f"HTTP {response.status}", answer))
    raise _refused("MAX", answer, credentials=response.status in (401, 403))


def _whatsapp(config: Mapping[str, Any], answers: list[Answer]) -> str:
    version = config.get("api_version") or GRAPH_VERSION
    response = _call(
        "GET",
        f"{_base(config, GRAPH_URL)}/{version}/{config['phone_number_id']}",
        "WhatsApp",
        params={"fields": "display_phone_number,verified_name"},
        headers={"Authorization": f"Bearer {config['access_token']}"},
    )
    body = _json_object(response)
    if response.ok:
        name = f"{body.get('verified_name', '')} {body.get('display_phone_number', '')}".strip()
        answers.append(Answer("GET phone number", True, f"HTTP {response.status}", name))
        return _("number %(name)s") % {"name": name}
    found = body.get("error")
    error: dict[str, Any] = found if isinstance(found, dict) else {}
    answer = f"{error.get('code', response.status)} {error.get('message', '')}".strip()
    answers.append(Answer("GET phone number", False, f"HTTP {response.status}", answer))
    # 190: the access token is invalid or expired.
    raise _refused("WhatsApp", answer, credentials=error.get("code") == 190)


def _smtp(config: Mapping[str, Any], answers: list[Answer]) -> str:
    """Connect, EHLO, STARTTLS and AUTH as the transport does, keeping each reply."""
    host = str(config["host"])
    security = str(config.get("security") or "starttls")
    port = int(config.get("port") or PORTS.get(security, 587))
    try:
        outbound_address(host, port)
    except (OutboundRefused, HostUnresolved) as exc:
        answers.append(Answer("connect", False, "", str(exc)))
        raise _Failed(_("Could not reach %(provider)s: %(error)s") % _words(host, exc)) from exc
    context = ssl.create_default_context() if security != "none" else None
    step = "connect"
    try:
        if security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                host, port, timeout=PROBE_TIMEOUT, context=context
            )
        else:
            smtp = smtplib.SMTP(host, port, timeout=PROBE_TIMEOUT)
        with smtp:
            step = "EHLO"
            code, reply = smtp.ehlo()
            answers.append(Answer("EHLO", code == 250, f"SMTP {code}", _first_line(reply)))
            if security == "starttls":
                step = "STARTTLS"
                code, reply = smtp.starttls(context=context)
                answers.append(Answer("STARTTLS", True, f"SMTP {code}", _first_line(reply)))
                smtp.ehlo()
            if config.get("username"):
                step = "AUTH"
                code, reply = smtp.login(str(config["username"]), str(config.get("password") or ""))
                answers.append(Answer("AUTH", True, f"SMTP {code}", _first_line(reply)))
    except smtplib.SMTPAuthenticationError as exc:
        answer = f"{exc.smtp_code} {_first_line(exc.smtp_error)}"
        answers.append(Answer("AUTH", False, f"SMTP {exc.smtp_code}", _first_line(exc.smtp_error)))
        raise _Failed(
            _("Wrong login or password: the server answered %(answer)s") % {"answer": answer}
        ) from exc
    except smtplib.SMTPResponseException as exc:
        answer = f"{exc.smtp_code} {_first_line(exc.smtp_error)}"
        answers.append(Answer(step, False, f"SMTP {exc.smtp_code}", _first_line(exc.smtp_error)))
        raise _refused(host, answer, credentials=False) from exc
    except (smtplib.SMTPException, OSError) as exc:
        answers.append(Answer(step, False, "", str(exc) or type(exc).__name__))
        raise _Failed(
            _("Could not reach %(provider)s: %(error)s") % _words(f"{host}:{port}", exc)
        ) from exc
    return _("%(host)s accepted the connection") % {"host": host}


def _webpush(config: Mapping[str, Any], answers: list[Answer]) -> str:
    """No request: a push needs a browser's subscription. The keys must be one pair."""
    # Imported here: pywebpush brings aiohttp, which the set-up pages need only for this check.
    from lifelong.messaging.channels.webpush.transport import _vapid

    public = _vapid(str(config["vapid_private_key"])).public_key
    assert public is not None  # a key loaded from a private key has its public half
    derived = (
        base64.urlsafe_b64encode(
            public.public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
        )
        .decode()
        .rstrip("=")
    )
    given = str(config.get("vapid_public_key") or "").strip().rstrip("=")
    if given and given != derived:
        answers.append(
            Answer("VAPID", False, "", _("the public key is not the private key's pair"))
        )
        raise _Failed(
            _(
                "The VAPID public key is not the private key's pair: browsers would "
                "subscribe with the wrong key."
            )
        )
    answers.append(Answer("VAPID", True, "", derived))
    return _("the VAPID keys are one pair")


def _first_line(reply: bytes | str) -> str:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else reply
    return text.splitlines()[0] if text else ""


# Who-are-we checks by transport name; a transport without one goes straight to the send.
CHECKS: dict[str, Callable[[Mapping[str, Any], list[Answer]], str]] = {
    "telegram": _telegram,
    "smsru": _smsru,
    "vk": _vk,
    "max": _max,
    "whatsapp": _whatsapp,
    "smtp": _smtp,
    "webpush": _webpush,
}
# The provider's name for the call that sends, as the answers table shows it.
SEND_STEPS = {
    "telegram": "sendMessage",
    "smsru": "sms/send",
    "vk": "messages.send",
    "max": "POST /messages",
    "whatsapp": "POST /messages",
    "smtp": "MAIL, RCPT, DATA",
    "webhook": "POST",
}
# How the summary names the provider.
PROVIDERS = {
    "telegram": "Telegram",
    "smsru": "SMS.ru",
    "http_sms": gettext_lazy("SMS gateway"),
    "vk": "VK",
    "max": "MAX",
    "whatsapp": "WhatsApp",
    "smtp": "SMTP",
    "webhook": "Webhook",
}


def channel_probe(
    transport: type[Transport], config: Mapping[str, Any], *, channel: str, to: str
) -> ProbeResult:
    """Check `config` with the provider and, when `to` is given, send it a test message."""
    answers: list[Answer] = []
    if transport.name == "sandbox":
        return ProbeResult(
            True, _("The sandbox sends nothing: messages stay in the sandbox inbox."), []
        )
    try:
        instance = transport(config)
    except TransportError as exc:
        return ProbeResult(False, _("The settings are incomplete: %(error)s") % {"error": exc}, [])
    try:
        with instance:
            check = CHECKS.get(transport.name)
            who = check(config, answers) if check else ""
            if transport.name == "webpush":
                # A push needs a browser's subscription: the keys are all there is to check.
                return ProbeResult(
                    True, _("The settings work (%(answer)s).") % {"answer": who}, answers
                )
            if not to and not who:
                return ProbeResult(
                    False,
                    _("This provider has nothing to ask without an address: enter one."),
                    answers,
                )
            if not to:
                return ProbeResult(
                    True,
                    _("The settings work (%(answer)s). Enter an address to send a test message.")
                    % {"answer": who},
                    answers,
                )
            provider_id = _send(instance, channel=channel, to=to, answers=answers)
    except _Failed as failed:
        return ProbeResult(False, failed.summary, answers)
    return ProbeResult(
        True,
        _("It works: %(provider)s took the test message (%(answer)s).")
        % {
            "provider": PROVIDERS.get(transport.name, transport.name),
            "answer": provider_id or "OK",
        },
        answers,
    )


def _send(instance: Transport, *, channel: str, to: str, answers: list[Answer]) -> str:
    text = _("A test from Lifelong: this channel is set up and works.")
    message = Outgoing(
        # A fresh id: VK drops a second message with the same random_id, webhooks dedupe on it.
        message_id=secrets.randbelow(2**31 - 1) + 1,
        channel=channel,
        to=to,
        subject=_("Lifelong test message"),
        text=text,
        payload={"type": "channel.test", "text": text},
    )
    step = SEND_STEPS.get(instance.name, "send")
    try:
        result = instance.send(message)
    except TransportError as exc:
        answers.append(Answer(step, False, "", str(exc)))
        raise _Failed(_("The test message was not sent: %(error)s") % {"error": str(exc)}) from exc
    answers.append(Answer(step, True, "OK", result.provider_id))
    return result.provider_id
