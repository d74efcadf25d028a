"""How events read on the customer card: an icon, a label agreeing with the
customer's gender in Russian, and a few details."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from lifelong.customers.models import Channel, Gender, Purpose
from lifelong.events.models import Event
from lifelong.web.templatetags.web import money

# What the card shows of an event nobody styled: its first properties, each cut short.
MAX_DETAILS = 12
MAX_TEXT = 300


@dataclass(frozen=True)
class Style:
    icon: str
    tone: str
    # One label per gender: male, female, unknown. Labels without a verb
    # about the customer use the same text three times.
    labels: tuple[Promise, Promise, Promise]
    details: Callable[[dict[str, Any]], list[tuple[Promise, str]]] = field(default=lambda p: [])


def _same(text: Promise) -> tuple[Promise, Promise, Promise]:
    return (text, text, text)


# makemessages extracts only literal strings, so each gendered label is spelled out
# three times, with the customer's gender as the translation context.


def _money(props: dict[str, Any], key: str) -> str:
    try:
        return money(props.get(key), str(props.get("currency") or ""))
    except ArithmeticError:  # not a number: show what the event carries
        return str(props.get(key, ""))


def _order(props: dict[str, Any]) -> list[tuple[Promise, str]]:
    rows = [(_("Order"), str(props.get("external_id", ""))), (_("Total"), _money(props, "total"))]
    return [r for r in rows if r[1]]


def _refund(props: dict[str, Any]) -> list[tuple[Promise, str]]:
    rows = [
        (_("Order"), str(props.get("external_id", ""))),
        (_("Amount"), _money(props, "amount")),
        (_("Reason"), str(props.get("reason", ""))),
    ]
    return [r for r in rows if r[1]]


def _consent(props: dict[str, Any]) -> list[tuple[Promise, str]]:
    channel = props.get("channel", "")
    purpose = props.get("purpose", "")
    channels: dict[str, Any] = dict(Channel.choices)
    purposes: dict[str, Any] = dict(Purpose.choices)
    return [
        (_("Channel"), str(channels.get(channel, channel))),
        (_("Purpose"), str(purposes.get(purpose, purpose))),
        (_("Source"), str(props.get("source", ""))),
    ]


def _text(props: dict[str, Any]) -> list[tuple[Promise, str]]:
    rows = [
        (_("Category"), str(props.get("category", ""))),
        (_("Text"), str(props.get("text", ""))),
    ]
    return [r for r in rows if r[1]]


def _task(props: dict[str, Any]) -> list[tuple[Promise, str]]:
    rows = [(_("Task"), str(props.get("title", ""))), (_("Outcome"), str(props.get("outcome", "")))]
    return [r for r in rows if r[1]]


def _changes(props: dict[str, Any]) -> list[tuple[Promise, str]]:
    changes = props.get("changes") or {}
    if not isinstance(changes, dict):
        return []
    return [(_("Changed"), ", ".join(sorted(changes)))] if changes else []


def _merged(props: dict[str, Any]) -> list[tuple[Promise, str]]:
    return [(_("Duplicate"), f"#{props.get('duplicate_id', '')}")]


def _tag(props: dict[str, Any]) -> list[tuple[Promise, str]]:
    return [(_("Tag"), str(props.get("tag", "")))]


def _message(props: dict[str, Any]) -> list[tuple[Promise, str]]:
    channels: dict[str, Any] = dict(Channel.choices)
    channel = str(props.get("channel", ""))
    rows = [
        (_("Channel"), str(channels.get(channel, channel))),
        (_("Subject"), str(props.get("subject", ""))),
        # A customer's reply (message_replied) shows what they wrote.
        (_("Text"), str(props.get("text", ""))),
        (_("Error"), str(props.get("error", ""))),
    ]
    return [r for r in rows if r[1]]


def _journey(props: dict[str, Any]) -> list[tuple[Promise, str]]:
    rows = [
        (_("Journey"), str(props.get("journey", "") or props.get("journey_id", ""))),
        (_("Group"), str(_("holdout")) if props.get("holdout") else ""),
    ]
    return [r for r in rows if r[1]]


def _survey(props: dict[str, Any]) -> list[tuple[Promise, str]]:
    score = props.get("score")
    rows = [
        (_("Survey"), str(props.get("survey_name", ""))),
        (_("Score"), "" if score is None else str(score)),
    ]
    return [r for r in rows if r[1]]


def _points(props: dict[str, Any]) -> list[tuple[Promise, str]]:
    rows = [
        (_("Points"), str(props.get("points", ""))),
        (_("Reason"), str(props.get("reason", ""))),
    ]
    return [r for r in rows if r[1]]


STYLES: dict[str, Style] = {
    "order_placed": Style(
        "₽",
        "order",
        (
            pgettext_lazy("male customer", "Placed an order"),
            pgettext_lazy("female customer", "Placed an order"),
            pgettext_lazy("customer of unknown gender", "Placed an order"),
        ),
        _order,
    ),
    "order_paid": Style(
        "✓",
        "order",
        (
            pgettext_lazy("male customer", "Paid for an order"),
            pgettext_lazy("female customer", "Paid for an order"),
            pgettext_lazy("customer of unknown gender", "Paid for an order"),
        ),
        _order,
    ),
    "order_delivered": Style(
        "⇥",
        "order",
        (
            pgettext_lazy("male customer", "Received an order"),
            pgettext_lazy("female customer", "Received an order"),
            pgettext_lazy("customer of unknown gender", "Received an order"),
        ),
        _order,
    ),
    "order_cancelled": Style("✕", "bad", _same(_("Order cancelled")), _order),
    "order_refunded": Style("↩", "bad", _same(_("Order refunded")), _order),
    "order_refund": Style("↩", "bad", _same(_("Money refunded")), _refund),
    "order_returned": Style(
        "↩",
        "bad",
        (
            pgettext_lazy("male customer", "Returned goods"),
            pgettext_lazy("female customer", "Returned goods"),
            pgettext_lazy("customer of unknown gender", "Returned goods"),
        ),
        _refund,
    ),
    "consent_granted": Style(
        "✔",
        "good",
        (
            pgettext_lazy("male customer", "Gave consent"),
            pgettext_lazy("female customer", "Gave consent"),
            pgettext_lazy("customer of unknown gender", "Gave consent"),
        ),
        _consent,
    ),
    "consent_withdrawn": Style(
        "⊘",
        "bad",
        (
            pgettext_lazy("male customer", "Withdrew consent"),
            pgettext_lazy("female customer", "Withdrew consent"),
            pgettext_lazy("customer of unknown gender", "Withdrew consent"),
        ),
        _consent,
    ),
    "note_added": Style("✎", "staff", _same(_("Note added")), _text),
    "fact_added": Style("★", "staff", _same(_("Fact added")), _text),
    "task_created": Style("☐", "staff", _same(_("Task created")), _task),
    "task_done": Style("☑", "good", _same(_("Task done")), _task),
    "customer_created": Style(
        "+",
        "staff",
        (
            pgettext_lazy("male customer", "Added to the database"),
            pgettext_lazy("female customer", "Added to the database"),
            pgettext_lazy("customer of unknown gender", "Added to the database"),
        ),
        _changes,
    ),
    "customer_updated": Style("✎", "staff", _same(_("Profile updated")), _changes),
    "customer_merged": Style("⇄", "staff", _same(_("Duplicate merged in")), _merged),
    "tag_added": Style("#", "staff", _same(_("Tag added")), _tag),
    "tag_removed": Style("#", "staff", _same(_("Tag removed")), _tag),
    "message_sent": Style("✉", "staff", _same(_("Message sent")), _message),
    "message_delivered": Style("✉", "good", _same(_("Message delivered")), _message),
    "message_failed": Style("✉", "bad", _same(_("Message not delivered")), _message),
    "message_opened": Style(
        "✉",
        "good",
        (
            pgettext_lazy("male customer", "Opened a message"),
            pgettext_lazy("female customer", "Opened a message"),
            pgettext_lazy("customer of unknown gender", "Opened a message"),
        ),
        _message,
    ),
    "message_clicked": Style(
        "↗",
        "good",
        (
            pgettext_lazy("male customer", "Clicked a link in a message"),
            pgettext_lazy("female customer", "Clicked a link in a message"),
            pgettext_lazy("customer of unknown gender", "Clicked a link in a message"),
        ),
        _message,
    ),
    "message_replied": Style(
        "↩",
        "good",
        (
            pgettext_lazy("male customer", "Replied to a message"),
            pgettext_lazy("female customer", "Replied to a message"),
            pgettext_lazy("customer of unknown gender", "Replied to a message"),
        ),
        _message,
    ),
    "journey_entered": Style(
        "▶",
        "staff",
        (
            pgettext_lazy("male customer", "Entered a journey"),
            pgettext_lazy("female customer", "Entered a journey"),
            pgettext_lazy("customer of unknown gender", "Entered a journey"),
        ),
        _journey,
    ),
    "journey_goal_met": Style(
        "◎",
        "good",
        (
            pgettext_lazy("male customer", "Reached a journey's goal"),
            pgettext_lazy("female customer", "Reached a journey's goal"),
            pgettext_lazy("customer of unknown gender", "Reached a journey's goal"),
        ),
        _journey,
    ),
    "survey_answered": Style(
        "?",
        "good",
        (
            pgettext_lazy("male customer", "Answered a survey"),
            pgettext_lazy("female customer", "Answered a survey"),
            pgettext_lazy("customer of unknown gender", "Answered a survey"),
        ),
        _survey,
    ),
    "nps_promoter": Style("☺", "good", _same(_("Promoter: NPS 9–10")), _survey),
    "nps_detractor": Style("☹", "bad", _same(_("Detractor: NPS 0–6")), _survey),
    "points_award_requested": Style("★", "good", _same(_("Points requested")), _points),
}


@dataclass(frozen=True)
class Item:
    event: Event
    icon: str
    tone: str
    label: str
    details: list[tuple[Promise | str, str]]


def _gender_index(gender: str) -> int:
    return {Gender.MALE: 0, Gender.FEMALE: 1}.get(gender, 2)  # type: ignore[call-overload]


def timeline_items(events: Iterable[Event], *, gender: str) -> list[Item]:
    """Readable items for events of one customer (no queries)."""
    index = _gender_index(gender)
    items = []
    for event in events:
        props = event.properties if isinstance(event.properties, dict) else {}
        style = STYLES.get(event.type)
        if style is None:
            items.append(
                Item(
                    event=event,
                    icon="•",
                    tone="other",
                    label=event.type.replace("_", " "),
                    details=[
                        (_clip(str(k)), _plain(v)) for k, v in sorted(props.items())[:MAX_DETAILS]
                    ],
                )
            )
            continue
        items.append(
            Item(
                event=event,
                icon=style.icon,
                tone=style.tone,
                label=str(style.labels[index]),
                details=list(style.details(props)),
            )
        )
    return items


def _plain(value: Any) -> str:
    """A value as short text, cut at `MAX_TEXT` characters without building the whole of it."""
    parts: list[str] = []
    size = 0
    for piece in _pieces(value):
        parts.append(piece)
        size += len(piece)
        if size > MAX_TEXT:
            break
    return _clip("".join(parts))


def _pieces(value: Any) -> Iterator[str]:
    if isinstance(value, list | tuple):
        for n, item in enumerate(value):
            yield ", " if n else ""
            yield from _pieces(item)
    elif isinstance(value, dict):
        for n, (key, item) in enumerate(value.items()):
            yield f"{', ' if n else ''}{str(key)[:MAX_TEXT]}: "
            yield from _pieces(item)
    else:
        yield "" if value is None else str(value)[: MAX_TEXT + 1]


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "…"
