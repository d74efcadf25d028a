"""A journey graph laid out for reading: a tree of boxes the template draws top-down.

Pure functions from a `Definition` and per-node counts: no queries, no HTTP. A node with
several exits (condition, wait for an event, split) ends its column and opens one column
per branch, side by side. A graph is not a tree, so an exit to a node already drawn
becomes a leaf: "↩ back to …" when it loops to a node above it on the same path,
"→ continue at …" when two branches join.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils.dates import MONTHS_ALT
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from lifelong.customers.models import Channel
from lifelong.journeys.definition import (
    AwardPoints,
    CallWebhook,
    ClubInviteSend,
    Condition,
    CreateTask,
    Definition,
    Goal,
    Reentry,
    Send,
    SetAttribute,
    Split,
    SurveySend,
    TagChange,
    Trigger,
    Wait,
    WaitEvent,
)
from lifelong.journeys.selectors import NodeCounts
from lifelong.web.segment_sentences import Sentence, rules_sentences

NODE = "node"
LOOP = "loop"
JUMP = "jump"
END = "end"


@dataclass
class Lane:
    """One branch under a branching node: its label and the boxes down it."""

    label: str
    boxes: list[Box] = field(default_factory=list)


@dataclass
class Box:
    kind: str  # NODE, LOOP (back to an ancestor), JUMP (to a node drawn elsewhere), END
    node_id: str = ""
    node_type: str = ""
    title: str = ""
    label: str = ""
    icon: str = ""  # the node type's symbol in static/web/journey-icons.svg
    counts: NodeCounts | None = None
    lanes: list[Lane] = field(default_factory=list)


@dataclass
class Diagram:
    boxes: list[Box]
    # Nodes nothing leads to, so the editor notices them; drawn after the main flow.
    unreachable: list[list[Box]] = field(default_factory=list)


def _plural_days(days: int) -> str:
    return ngettext("%(n)d day", "%(n)d days", days) % {"n": days}


def _plural_hours(hours: float) -> str:
    if hours != int(hours):
        return _("%(n)s hours") % {"n": f"{hours:g}"}
    return ngettext("%(n)d hour", "%(n)d hours", int(hours)) % {"n": int(hours)}


def duration_text(*, days: int = 0, hours: float = 0) -> str:
    """'3 days', '1 day 6 hours', '2 hours': hours past a day read as days."""
    if hours >= 24:
        days, hours = days + int(hours // 24), hours % 24
    parts = []
    if days:
        parts.append(_plural_days(days))
    if hours:
        parts.append(_plural_hours(hours))
    return " ".join(parts)


EVENT_LABELS = {
    "message_opened": gettext_lazy("opened the message"),
    "message_clicked": gettext_lazy("clicked a link"),
    "message_replied": gettext_lazy("replied"),
    "message_delivered": gettext_lazy("message delivered"),
    "order_placed": gettext_lazy("placed an order"),
    "order_paid": gettext_lazy("paid for an order"),
    "order_delivered": gettext_lazy("received an order"),
    "survey_answered": gettext_lazy("answered a survey"),
    "nps_promoter": gettext_lazy("gave 9 or 10 (NPS)"),
    "nps_detractor": gettext_lazy("gave 0 to 6 (NPS)"),
    "product_viewed": gettext_lazy("viewed a product"),
    "cart_updated": gettext_lazy("updated the cart"),
    "community_joined": gettext_lazy("joined the club"),
    "community_post": gettext_lazy("wrote in the club"),
    "community_active_week": gettext_lazy("had an active week in the club"),
    "community_left": gettext_lazy("left the club"),
    "community_removed": gettext_lazy("was removed from the club"),
    "early_access_opened": gettext_lazy("early access opened"),
}


def event_text(event: str) -> str:
    return str(EVENT_LABELS.get(event, event.replace("_", " ")))


def channel_text(channel: str) -> str:
    if channel == "preferred":
        return _("the preferred channel")
    if channel == "webhook":
        return _("webhook")
    return str(dict(Channel.choices).get(channel, channel))


def _sentence_line(sentence: Sentence) -> str:
    if not sentence.children:
        return sentence.text
    return f"{sentence.text} " + "; ".join(_sentence_line(c) for c in sentence.children)


def node_title(node: Any, template_names: Mapping[str, str]) -> str:
    """What a node does, in one line people read."""
    if isinstance(node, Wait):
        parts = []
        duration = duration_text(days=node.days, hours=node.hours)
        if duration:
            parts.append(_("Wait %(duration)s") % {"duration": duration})
        if node.until_date is not None:
            parts.append(_("until %(date)s") % {"date": node.until_date.strftime("%d.%m.%Y")})
        if node.until_time is not None:
            parts.append(_("then until %(time)s") % {"time": node.until_time.strftime("%H:%M")})
        text = " ".join(parts)
        return text if duration else _("Wait") + " " + text
    if isinstance(node, WaitEvent):
        limit = duration_text(hours=node.timeout_hours)
        events = ", ".join(event_text(e) for e in node.events)
        return _("Wait up to %(limit)s for: %(events)s") % {"limit": limit, "events": events}
    if isinstance(node, Condition):
        rule = _sentence_line(rules_sentences(node.rule.model_dump(mode="json")))
        return _("Check: %(rule)s") % {"rule": rule}
    if isinstance(node, Split):
        return _("Split customers at random")
    if isinstance(node, Send):
        name = template_names.get(node.template, node.template)
        return _("Send «%(template)s» by %(channel)s") % {
            "template": name,
            "channel": channel_text(node.channel),
        }
    if isinstance(node, SurveySend):
        name = template_names.get(node.template, node.template)
        return _("Ask survey no. %(survey)s with «%(template)s» by %(channel)s") % {
            "survey": node.survey,
            "template": name,
            "channel": channel_text(node.channel),
        }
    if isinstance(node, ClubInviteSend):
        name = template_names.get(node.template, node.template)
        return _("Invite to club no. %(club)s with «%(template)s» by %(channel)s") % {
            "club": node.club,
            "template": name,
            "channel": channel_text(node.channel),
        }
    if isinstance(node, CreateTask):
        return _("Create a task «%(title)s», due in %(due)s") % {
            "title": node.title,
            "due": duration_text(hours=node.due_hours) or _("0 hours"),
        }
    if isinstance(node, TagChange):
        if node.action == "add":
            return _("Add the tag «%(tag)s»") % {"tag": node.tag}
        return _("Remove the tag «%(tag)s»") % {"tag": node.tag}
    if isinstance(node, SetAttribute):
        return _("Set %(key)s = %(value)s") % {"key": node.key, "value": node.value}
    if isinstance(node, AwardPoints):
        return ngettext(
            "Award %(n)d point (%(reason)s)", "Award %(n)d points (%(reason)s)", node.points
        ) % {"n": node.points, "reason": node.reason}
    if isinstance(node, CallWebhook):
        return _("Call the webhook %(host)s") % {"host": node.url.host or str(node.url)}
    return _("Leave the journey")


def _name(node: Any, template_names: Mapping[str, str]) -> str:
    """A node as people know it: its label, else what it does (never its internal id)."""
    return node.label or node_title(node, template_names)


def _lanes(node: Any) -> list[tuple[str, str | None]]:
    """(branch label, target) for a branching node; empty for a straight one."""
    if isinstance(node, Condition):
        return [(_("yes"), node.yes), (_("no"), node.no)]
    if isinstance(node, WaitEvent):
        if node.events == ["message_opened"]:
            happened, missed = _("opened"), _("not opened")
        elif node.events == ["message_clicked"]:
            happened, missed = _("clicked"), _("not clicked")
        else:
            happened, missed = _("it happened"), _("time ran out")
        return [(happened, node.on_event), (missed, node.on_timeout)]
    if isinstance(node, Split):
        total = sum(b.weight for b in node.branches) or 1
        return [
            (
                f"{b.label or chr(ord('A') + i)} · {round(100 * b.weight / total)} %",
                b.next,
            )
            for i, b in enumerate(node.branches)
        ]
    return []


class _Layout:
    def __init__(
        self,
        definition: Definition,
        counts: Mapping[str, NodeCounts],
        template_names: Mapping[str, str],
    ) -> None:
        self.nodes: dict[str, Any] = {n.id: n for n in definition.nodes}
        self.counts = counts
        self.template_names = template_names
        self.drawn: set[str] = set()

    def column(self, node_id: str | None, path: tuple[str, ...]) -> list[Box]:
        """The boxes from `node_id` down, until the flow ends, branches, loops or joins."""
        boxes: list[Box] = []
        while True:
            if node_id is None:
                boxes.append(Box(kind=END, title=_("End of the journey")))
                return boxes
            node = self.nodes[node_id]
            if node_id in path:
                boxes.append(
                    Box(
                        kind=LOOP,
                        node_id=node_id,
                        title=_("↩ back to %s") % _name(node, self.template_names),
                    )
                )
                return boxes
            if node_id in self.drawn:
                boxes.append(
                    Box(
                        kind=JUMP,
                        node_id=node_id,
                        title=_("→ continue at %s") % _name(node, self.template_names),
                    )
                )
                return boxes
            self.drawn.add(node_id)
            path = (*path, node_id)
            box = Box(
                kind=NODE,
                node_id=node_id,
                node_type=node.type,
                title=node_title(node, self.template_names),
                label=node.label,
                icon=node.type,
                counts=self.counts.get(node_id, NodeCounts()),
            )
            boxes.append(box)
            lanes = _lanes(node)
            if lanes:
                box.lanes = [Lane(label, self.column(target, path)) for label, target in lanes]
                return boxes
            if node.type == "exit":
                return boxes
            node_id = node.next


def diagram_build(
    definition: Definition,
    counts: Mapping[str, NodeCounts] | None = None,
    template_names: Mapping[str, str] | None = None,
) -> Diagram:
    """The display tree for a journey version (`counts` from `node_stats`)."""
    layout = _Layout(definition, counts or {}, template_names or {})
    boxes = layout.column(definition.start, ()) if definition.start else []
    unreachable = []
    # Orphans are drawn from nodes nothing points to first, so a chain shows as one column.
    targets = {t for n in definition.nodes for t in n.exits()}
    for node in sorted(definition.nodes, key=lambda n: n.id in targets):
        if node.id not in layout.drawn:
            unreachable.append(layout.column(node.id, ()))
    return Diagram(boxes=boxes, unreachable=unreachable)


def trigger_text(trigger: Trigger, segment_names: Mapping[int, str] | None = None) -> str:
    """When a customer enters, in words."""
    segment = ""
    if trigger.segment_id is not None:
        segment = (segment_names or {}).get(trigger.segment_id, f"#{trigger.segment_id}")
    texts = {
        "event": _("When the event «%(event)s» happens") % {"event": trigger.event_type},
        "order_placed": _("When a customer places an order"),
        "first_order": _("When a customer places their first order"),
        "order_delivered": _("When an order is delivered"),
        "segment_entered": _("When a customer enters the segment «%(segment)s»")
        % {"segment": segment},
        "segment_exited": _("When a customer leaves the segment «%(segment)s»")
        % {"segment": segment},
        "birthday": (
            _("%(days)s before the customer's birthday") % {"days": _plural_days(trigger.days)}
            if trigger.days
            else _("On the customer's birthday")
        ),
        "first_order_anniversary": _("On the anniversary of the first order"),
        "calendar_date": _("Every year on %(day)s %(month)s, on the customer's clock")
        % {"day": trigger.day, "month": MONTHS_ALT.get(trigger.month, "?")},
        "days_since_last_order": _("%(days)s after the last order, if no new one")
        % {"days": _plural_days(trigger.days)},
        "replenishment_due": _("When a bought product is about to run out"),
        "cart_abandoned": _("When a cart is left without an order for %(hours)s")
        % {"hours": _plural_hours(trigger.hours)},
        "manual": _("Only when staff add a customer by hand"),
    }
    text = texts[trigger.kind]
    filters = []
    if trigger.skus:
        filters.append(_("products %(skus)s") % {"skus": ", ".join(trigger.skus)})
    if trigger.categories:
        filters.append(_("categories %(c)s") % {"c": ", ".join(trigger.categories)})
    for key, value in trigger.properties.items():
        filters.append(f"{key} = {value}")
    if filters:
        text += " (" + "; ".join(filters) + ")"
    return text


def goal_text(goal: Goal | None) -> str:
    if goal is None:
        return _("No goal: conversion is not measured")
    return _("The customer %(event)s within %(days)s of entering") % {
        "event": event_text(goal.event),
        "days": _plural_days(goal.within_days),
    }


def reentry_text(reentry: Reentry) -> str:
    if reentry.policy == "once":
        return _("Once per customer, ever")
    if reentry.policy == "per_order":
        return _("Once per order")
    if reentry.policy == "per_event":
        return _("Once per triggering event")
    if reentry.days:
        return _("Again, but not sooner than %(days)s after the last entry") % {
            "days": _plural_days(reentry.days)
        }
    return _("Every time the trigger fires")


def holdout_text(percent: int) -> str:
    if not percent:
        return _("No holdout: everyone gets the journey")
    return _(
        "%(p)d %% of entrants are held out: they get nothing, and their conversion "
        "is the baseline the journey is compared with"
    ) % {"p": percent}
