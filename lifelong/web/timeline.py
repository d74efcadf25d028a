"""How events read on the customer card: an icon, a label agreeing with the
customer's gender in Russian, and a few details."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from lifelong.customers.models import Channel, Customer, Gender, Purpose
from lifelong.events.models import Event
from lifelong.segments.models import Stage
from lifelong.web.templatetags.web import money
from lifelong.web.timeline_names import timeline_names

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


def _field_label(name: str) -> str:
    if name == "tags":
        return str(_("tags"))
    try:
        field = Customer._meta.get_field(name)
    except FieldDoesNotExist:  # a field since removed: its name is all there is
        return name
    return str(getattr(field, "verbose_name", name))


def _changes(props: dict[str, Any]) -> list[tuple[Promise, str]]:
    changes = props.get("changes") or {}
    if not isinstance(changes, dict):
        return []
    return [(_("Changed"), ", ".join(sorted(_field_label(k) for k in changes)))] if changes else []


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


def _stage(props: dict[str, Any]) -> list[tuple[Promise, str]]:
    stages: dict[str, Any] = dict(Stage.choices)
    old, new = str(props.get("from") or ""), str(props.get("to") or "")
    moved = f"{stages.get(old, old)} → {stages.get(new, new)}" if old else str(stages.get(new, new))
    return [(_("Stage"), moved)]


def _segment(props: dict[str, Any]) -> list[tuple[Promise, str]]:
    return [(_("Segment"), str(props.get("segment_name", "")))]


def _products(props: dict[str, Any]) -> list[tuple[Promise, str]]:
    cart = props.get("cart")
    cart = cart if isinstance(cart, dict) else {}
    rows = [
        (_("Products"), ", ".join(props.get("product_names") or [])),
        (_("Total"), _money(cart, "total") if cart.get("total") is not None else ""),
    ]
    return [r for r in rows if r[1]]


def _visit(props: dict[str, Any]) -> list[tuple[Promise, str]]:
    page = props.get("url") or props.get("page") or props.get("path") or ""
    return [(_("Page"), _clip(str(page)))] if page else []


def _churn(props: dict[str, Any]) -> list[tuple[Promise, str]]:
    return [(_("Reason"), str(props.get("reason", "")))]


def _closed(props: dict[str, Any]) -> list[tuple[Promise, str]]:
    themes = props.get("themes")
    themes = themes if isinstance(themes, list) else []
    rows = [
        (_("Themes"), ", ".join(str(t) for t in themes)),
        (_("Replies"), str(props.get("replies", ""))),
    ]
    return [r for r in rows if r[1]]


def _replied(props: dict[str, Any]) -> list[tuple[Promise, str]]:
    rows = [*_message(props), (_("Signed"), str(props.get("signer", "")))]
    return [r for r in rows if r[1]]


def _review(props: dict[str, Any]) -> list[tuple[Promise, str]]:
    rating = props.get("rating")
    rows = [
        (_("Rating"), "" if rating is None else str(rating)),
        (_("Source"), str(props.get("source", ""))),
        (_("Text"), _clip(str(props.get("text", "")))),
    ]
    return [r for r in rows if r[1]]


def _tier(props: dict[str, Any]) -> list[tuple[Promise, str]]:
    old, new = str(props.get("from_name") or ""), str(props.get("to_name") or "")
    return [(_("Tier"), f"{old} → {new}" if old else new)]


def _topic(props: dict[str, Any]) -> list[tuple[Promise, str]]:
    return [(_("Topic"), str(props.get("topic_name", "")))]


def _club(props: dict[str, Any]) -> list[tuple[Promise, str]]:
    rows = [(_("Club"), str(props.get("club_name", ""))), (_("Week"), str(props.get("week", "")))]
    return [r for r in rows if r[1]]


def _early_access(props: dict[str, Any]) -> list[tuple[Promise, str]]:
    goods = str(props.get("sku") or props.get("collection") or "")
    rows = [(_("Early access"), str(props.get("name", ""))), (_("Goods"), goods)]
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
    "stage_changed": Style("↕", "staff", _same(_("Lifecycle stage changed")), _stage),
    "segment_entered": Style(
        "+",
        "staff",
        (
            pgettext_lazy("male customer", "Entered a segment"),
            pgettext_lazy("female customer", "Entered a segment"),
            pgettext_lazy("customer of unknown gender", "Entered a segment"),
        ),
        _segment,
    ),
    "segment_exited": Style(
        "−",
        "staff",
        (
            pgettext_lazy("male customer", "Left a segment"),
            pgettext_lazy("female customer", "Left a segment"),
            pgettext_lazy("customer of unknown gender", "Left a segment"),
        ),
        _segment,
    ),
    "cart_updated": Style(
        "◫",
        "other",
        (
            pgettext_lazy("male customer", "Updated the cart"),
            pgettext_lazy("female customer", "Updated the cart"),
            pgettext_lazy("customer of unknown gender", "Updated the cart"),
        ),
        _products,
    ),
    "cart_abandoned": Style(
        "◫",
        "bad",
        (
            pgettext_lazy("male customer", "Left a cart without ordering"),
            pgettext_lazy("female customer", "Left a cart without ordering"),
            pgettext_lazy("customer of unknown gender", "Left a cart without ordering"),
        ),
        _products,
    ),
    "product_viewed": Style(
        "◉",
        "other",
        (
            pgettext_lazy("male customer", "Viewed a product"),
            pgettext_lazy("female customer", "Viewed a product"),
            pgettext_lazy("customer of unknown gender", "Viewed a product"),
        ),
        _products,
    ),
    "visit": Style(
        "→",
        "other",
        (
            pgettext_lazy("male customer", "Visited the website"),
            pgettext_lazy("female customer", "Visited the website"),
            pgettext_lazy("customer of unknown gender", "Visited the website"),
        ),
        _visit,
    ),
    "churn_reason_recorded": Style("✎", "bad", _same(_("Reason for leaving recorded")), _churn),
    "review_received": Style(
        "★",
        "good",
        (
            pgettext_lazy("male customer", "Left a review"),
            pgettext_lazy("female customer", "Left a review"),
            pgettext_lazy("customer of unknown gender", "Left a review"),
        ),
        _review,
    ),
    "review_posted": Style(
        "★",
        "good",
        (
            pgettext_lazy("male customer", "Left a review"),
            pgettext_lazy("female customer", "Left a review"),
            pgettext_lazy("customer of unknown gender", "Left a review"),
        ),
        _review,
    ),
    "feedback_replied": Style("↪", "staff", _same(_("Staff replied")), _replied),
    "feedback_closed": Style("☑", "good", _same(_("Conversation closed")), _closed),
    "referral_converted": Style(
        "♥",
        "good",
        (
            pgettext_lazy("male customer", "Brought a friend"),
            pgettext_lazy("female customer", "Brought a friend"),
            pgettext_lazy("customer of unknown gender", "Brought a friend"),
        ),
        _points,
    ),
    "telegram_linked": Style(
        "✈",
        "good",
        (
            pgettext_lazy("male customer", "Connected Telegram"),
            pgettext_lazy("female customer", "Connected Telegram"),
            pgettext_lazy("customer of unknown gender", "Connected Telegram"),
        ),
        lambda p: [],
    ),
    "tier_changed": Style("▲", "good", _same(_("Loyalty tier changed")), _tier),
    "community_joined": Style(
        "✚",
        "good",
        (
            pgettext_lazy("male customer", "Joined the club"),
            pgettext_lazy("female customer", "Joined the club"),
            pgettext_lazy("customer of unknown gender", "Joined the club"),
        ),
        _club,
    ),
    "community_left": Style(
        "−",
        "bad",
        (
            pgettext_lazy("male customer", "Left the club"),
            pgettext_lazy("female customer", "Left the club"),
            pgettext_lazy("customer of unknown gender", "Left the club"),
        ),
        _club,
    ),
    "community_removed": Style("⊘", "bad", _same(_("Removed from the club")), _club),
    "community_post": Style(
        "✎",
        "good",
        (
            pgettext_lazy("male customer", "Wrote in the club"),
            pgettext_lazy("female customer", "Wrote in the club"),
            pgettext_lazy("customer of unknown gender", "Wrote in the club"),
        ),
        _club,
    ),
    "community_active_week": Style("★", "good", _same(_("An active week in the club")), _club),
    "early_access_opened": Style("◆", "good", _same(_("Early access opened")), _early_access),
    "topic_opted_in": Style(
        "✔",
        "good",
        (
            pgettext_lazy("male customer", "Subscribed to a topic"),
            pgettext_lazy("female customer", "Subscribed to a topic"),
            pgettext_lazy("customer of unknown gender", "Subscribed to a topic"),
        ),
        _topic,
    ),
    "topic_opted_out": Style(
        "⊘",
        "bad",
        (
            pgettext_lazy("male customer", "Unsubscribed from a topic"),
            pgettext_lazy("female customer", "Unsubscribed from a topic"),
            pgettext_lazy("customer of unknown gender", "Unsubscribed from a topic"),
        ),
        _topic,
    ),
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


def timeline_items(events: Sequence[Event], *, gender: str) -> list[Item]:
    """Readable items for events of one customer (a query per kind of name they refer to)."""
    index = _gender_index(gender)
    names = timeline_names(events)
    items = []
    for event in events:
        props = event.properties if isinstance(event.properties, dict) else {}
        props = names.fill(event.type, props)
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
