"""What a template sends on each channel: its variant for that kind of channel.

A template has one variant per kind of channel: email (subject, HTML and its text part:
the model's `subject`, `body_html`, `body_text`), SMS (a text), messenger (a text with
link buttons; Telegram, VK, MAX, WhatsApp) and a short text. A channel without its own
variant gets the short text; nothing else. In particular the email body never goes by SMS
or to a messenger: written for a screen of reading, it is seven SMS segments with a
"just reply" that an SMS cannot honour.

`variant_for` answers for one channel and language; the renderer, the journey checks and
the editor all ask it, so they agree on what would be sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lifelong.customers.models import Channel
from lifelong.messaging.models import Template

EMAIL = "email"
SMS = "sms"
MESSENGER = "messenger"
SHORT = "short"
KINDS = (EMAIL, SMS, MESSENGER, SHORT)

MESSENGERS = (Channel.TELEGRAM, Channel.VK, Channel.MAX, Channel.WHATSAPP)
# The variant each channel asks for first. Push shows a line or two: the short text is its own.
CHANNEL_KIND: dict[str, str] = {
    Channel.EMAIL: EMAIL,
    Channel.SMS: SMS,
    **{channel: MESSENGER for channel in MESSENGERS},
    Channel.PUSH: SHORT,
}
# The template fields of each variant (in the model and in each translation).
VARIANT_FIELDS: dict[str, tuple[str, ...]] = {
    EMAIL: ("subject", "body_html", "body_text"),
    SMS: ("sms_text",),
    MESSENGER: ("messenger_text", "messenger_buttons"),
    SHORT: ("short_text",),
}
TEXT_FIELDS = ("subject", "body_text", "body_html", "sms_text", "messenger_text", "short_text")
# Messengers show a few buttons under a message; more is a wall nobody reads.
MAX_BUTTONS = 3


@dataclass(frozen=True)
class Button:
    """A link button under a messenger text; label and url are templates until rendered."""

    label: str
    url: str


@dataclass(frozen=True)
class Variant:
    """The sources (not yet rendered) of what one template sends on one channel."""

    kind: str  # which variant: email, sms, messenger or short
    subject: str
    text: str
    html: str = ""
    buttons: tuple[Button, ...] = ()
    language: str = ""  # the translation it comes from; "" for the default (Russian)

    def fallback_for(self, channel: str) -> bool:
        """True when the channel has no variant of its own and gets the short text."""
        return self.kind != CHANNEL_KIND.get(channel)


def channel_kind(channel: str) -> str | None:
    return CHANNEL_KIND.get(channel)


def buttons_of(value: Any) -> tuple[Button, ...]:
    """The stored buttons ([{"label", "url"}]) as Buttons; malformed rows are left out."""
    if not isinstance(value, list):
        return ()
    found = []
    for row in value:
        if isinstance(row, Mapping):
            label, url = str(row.get("label") or "").strip(), str(row.get("url") or "").strip()
            if label and url:
                found.append(Button(label, url))
    return tuple(found[:MAX_BUTTONS])


def template_sources(template: Template) -> dict[str, Any]:
    """The default (Russian) fields of every variant, as a translation stores them."""
    return {
        "subject": template.subject,
        "body_text": template.body_text,
        "body_html": template.body_html,
        "sms_text": template.sms_text,
        "messenger_text": template.messenger_text,
        "messenger_buttons": template.messenger_buttons,
        "short_text": template.short_text,
    }


def _variant(
    fields: Mapping[str, Any], kind: str, *, language: str, subject: str
) -> Variant | None:
    """The `kind` variant in one language's fields, or None when it has no text there."""

    def text(name: str) -> str:
        value = fields.get(name)
        return str(value) if isinstance(value, str) else ""

    if kind == EMAIL:
        if not (text("body_text").strip() or text("body_html").strip()):
            return None
        return Variant(
            EMAIL,
            text("subject") or subject,
            text("body_text"),
            text("body_html"),
            language=language,
        )
    if kind == MESSENGER:
        if not text("messenger_text").strip():
            return None
        return Variant(
            MESSENGER,
            text("subject") or subject,
            text("messenger_text"),
            buttons=buttons_of(fields.get("messenger_buttons")),
            language=language,
        )
    name = {SMS: "sms_text", SHORT: "short_text"}[kind]
    if not text(name).strip():
        return None
    return Variant(kind, text("subject") or subject, text(name), language=language)


def variant_for(template: Template, channel: str, *, language: str = "") -> Variant | None:
    """What `template` sends on `channel` to a reader of `language`: the channel's own variant,
    else the short text; None when it has neither (the template says nothing there).

    A translation is preferred whenever it has either of the two (a short English text
    reads better to an English reader than a Russian messenger text); then the default
    language's own variant, then its short text.
    """
    kind = channel_kind(channel)
    if kind is None:
        return None
    wanted = (kind,) if kind == SHORT else (kind, SHORT)
    default = template_sources(template)
    # A variant without its own subject keeps the template's (a push title, the timeline),
    # else its name (rendered like any subject, so only a name without template syntax).
    subject = template.subject or ("" if "{" in template.name else template.name)
    translation = (template.translations or {}).get(language) if language else None
    sources: list[tuple[str, Mapping[str, Any]]] = []
    if isinstance(translation, Mapping):
        sources.append((language, translation))
    sources.append(("", default))
    for found_language, fields in sources:
        for each in wanted:
            variant = _variant(fields, each, language=found_language, subject=subject)
            if variant is not None:
                return variant
    return None


def kinds_present(template: Template) -> list[str]:
    """The variants the template has in its default language, in the editor's order."""
    default = template_sources(template)
    return [kind for kind in KINDS if _variant(default, kind, language="", subject="")]


def buttons_delivery(
    channel: str, text: str, buttons: tuple[Button, ...]
) -> tuple[str, dict[str, Any]]:
    """A messenger text and its buttons as the channel's transport takes them (in the outbox
    payload): Telegram's inline keyboard of URL buttons, VK's inline keyboard of open_link
    buttons, MAX's inline keyboard attachment of link buttons; for WhatsApp, whose free-form
    messages have no link buttons, the links under the text."""
    if not buttons:
        return text, {}
    if channel == Channel.TELEGRAM:
        telegram = [[{"text": b.label, "url": b.url}] for b in buttons]
        return text, {"reply_markup": {"inline_keyboard": telegram}}
    if channel == Channel.VK:
        vk = [
            [{"action": {"type": "open_link", "link": b.url, "label": b.label[:40]}}]
            for b in buttons
        ]
        return text, {"keyboard": {"inline": True, "buttons": vk}}
    if channel == Channel.MAX:
        links = [[{"type": "link", "text": b.label, "url": b.url}] for b in buttons]
        return text, {"attachments": [{"type": "inline_keyboard", "payload": {"buttons": links}}]}
    lines = "\n".join(f"{b.label}: {b.url}" for b in buttons)
    return f"{text}\n\n{lines}".strip(), {}
