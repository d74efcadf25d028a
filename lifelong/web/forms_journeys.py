"""Forms for journeys (create, edit the definition) and for the sending policy."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, get_args

import pydantic
from django import forms
from django.utils.dates import MONTHS_ALT
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from lifelong.journeys.definition import Definition, TriggerKind, definition_parse
from lifelong.journeys.models import Journey
from lifelong.messaging.models import SendingPolicy
from lifelong.segments.models import Segment
from lifelong.web.journey_node_errors import node_errors

TRIGGER_KINDS = [
    ("order_placed", gettext_lazy("An order is placed")),
    ("first_order", gettext_lazy("The first order is placed")),
    ("order_delivered", gettext_lazy("An order is delivered")),
    ("event", gettext_lazy("An event happens")),
    ("segment_entered", gettext_lazy("The customer enters a segment")),
    ("segment_exited", gettext_lazy("The customer leaves a segment")),
    ("birthday", gettext_lazy("Birthday")),
    ("first_order_anniversary", gettext_lazy("Anniversary of the first order")),
    ("calendar_date", gettext_lazy("Every year on a date")),
    ("days_since_last_order", gettext_lazy("Days since the last order")),
    ("replenishment_due", gettext_lazy("A product is about to run out")),
    ("cart_abandoned", gettext_lazy("An abandoned cart")),
    ("manual", gettext_lazy("Added by hand")),
]
assert {k for k, _label in TRIGGER_KINDS} == set(get_args(TriggerKind))

REENTRY_POLICIES = [
    ("once", gettext_lazy("Once per customer")),
    ("per_order", gettext_lazy("Once per order")),
    ("per_event", gettext_lazy("Once per triggering event")),
    ("after_days", gettext_lazy("Again after a number of days")),
]

MONTHS = [
    ("", "—"),
    # The genitive ("19 марта"): the month follows the day in the editor.
    *((str(number), name) for number, name in MONTHS_ALT.items()),
]

LEAP_DAYS = [
    ("feb28", gettext_lazy("28 February")),
    ("mar1", gettext_lazy("1 March")),
]


class JourneyCreateForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=200)
    slug = forms.SlugField(
        label=gettext_lazy("Code"),
        max_length=80,
        help_text=gettext_lazy("Latin letters, digits, dashes; used in exports and the API."),
    )
    description = forms.CharField(
        label=gettext_lazy("Description"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    def clean_slug(self) -> str:
        slug = str(self.cleaned_data["slug"])
        if Journey.objects.filter(slug=slug).exists():
            raise forms.ValidationError(_("A journey with this code already exists."))
        return slug


def _csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


class DefinitionForm(forms.Form):
    """The scalar settings as fields and the nodes as JSON, checked by the pydantic model."""

    trigger_kind = forms.ChoiceField(label=gettext_lazy("Starts when"), choices=TRIGGER_KINDS)
    trigger_event_type = forms.CharField(
        label=gettext_lazy("Event type"), required=False, max_length=64
    )
    trigger_segment = forms.TypedChoiceField(
        label=gettext_lazy("Segment"), required=False, coerce=int, empty_value=None
    )
    trigger_days = forms.IntegerField(
        label=gettext_lazy("Days"),
        required=False,
        min_value=0,
        help_text=gettext_lazy("Days since the last order, or days before the birthday."),
    )
    trigger_day = forms.IntegerField(
        label=gettext_lazy("Day"),
        required=False,
        min_value=1,
        max_value=31,
        help_text=gettext_lazy(
            "Every year on a date: the day and the month, on the customer's clock."
        ),
    )
    trigger_month = forms.TypedChoiceField(
        label=gettext_lazy("Month"), choices=MONTHS, required=False, coerce=int, empty_value=None
    )
    trigger_leap_day = forms.ChoiceField(
        label=gettext_lazy("A date of 29 February: in other years on"),
        choices=LEAP_DAYS,
        required=False,
    )
    trigger_hours = forms.FloatField(
        label=gettext_lazy("Cart left for, hours"), required=False, min_value=0
    )
    trigger_skus = forms.CharField(
        label=gettext_lazy("Only these products (SKUs, comma-separated)"), required=False
    )
    trigger_categories = forms.CharField(
        label=gettext_lazy("Only these categories (comma-separated)"), required=False
    )
    start = forms.CharField(
        label=gettext_lazy("First node"),
        required=False,
        max_length=40,
        help_text=gettext_lazy("Node id; empty means the first node in the list."),
    )
    goal_enabled = forms.BooleanField(label=gettext_lazy("Measure a goal"), required=False)
    goal_event = forms.CharField(label=gettext_lazy("Goal event"), required=False, max_length=64)
    goal_within_days = forms.IntegerField(
        label=gettext_lazy("Within days of entering"), required=False, min_value=1
    )
    reentry_policy = forms.ChoiceField(label=gettext_lazy("Re-entry"), choices=REENTRY_POLICIES)
    reentry_days = forms.IntegerField(
        label=gettext_lazy("Re-entry after days"), required=False, min_value=0
    )
    holdout_percent = forms.IntegerField(
        label=gettext_lazy("Holdout, %"), min_value=0, max_value=50, initial=0
    )
    nodes = forms.CharField(
        label=gettext_lazy("Nodes (JSON list)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 22, "class": "json", "spellcheck": "false"}),
    )
    # The visual builder's node positions, {"node id": {"x": .., "y": ..}}; kept by the canvas.
    layout = forms.CharField(required=False, widget=forms.HiddenInput)

    definition: Definition | None = None
    # Readable problems from the pydantic model: (where, what).
    problems: list[tuple[str, str]]
    # The same problems by node id (None: the journey as a whole), for the canvas's badges.
    node_problems: list[tuple[str | None, str]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.problems = []
        self.node_problems = []
        segments = Segment.objects.order_by("-active", "name").values_list("pk", "name")
        self.fields["trigger_segment"].choices = [("", "—"), *segments]  # type: ignore[attr-defined]

    @classmethod
    def initial_from(cls, definition: Mapping[str, Any]) -> dict[str, Any]:
        trigger = definition.get("trigger") or {}
        goal = definition.get("goal")
        reentry = definition.get("reentry") or {}
        return {
            "trigger_kind": trigger.get("kind", "manual"),
            "trigger_event_type": trigger.get("event_type") or "",
            "trigger_segment": trigger.get("segment_id"),
            "trigger_days": trigger.get("days", 0),
            "trigger_day": trigger.get("day") or None,
            "trigger_month": str(trigger.get("month") or ""),
            "trigger_leap_day": trigger.get("leap_day", "feb28"),
            "trigger_hours": trigger.get("hours", 4),
            "trigger_skus": ", ".join(trigger.get("skus") or []),
            "trigger_categories": ", ".join(trigger.get("categories") or []),
            "start": definition.get("start") or "",
            "goal_enabled": goal is not None,
            "goal_event": (goal or {}).get("event", "order_placed"),
            "goal_within_days": (goal or {}).get("within_days", 30),
            "reentry_policy": reentry.get("policy", "once"),
            "reentry_days": reentry.get("days", 0),
            "holdout_percent": definition.get("holdout_percent", 0),
            "nodes": json.dumps(definition.get("nodes") or [], ensure_ascii=False, indent=2),
            "layout": json.dumps(definition.get("layout") or {}),
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        try:
            nodes = json.loads(data.get("nodes") or "[]")
        except json.JSONDecodeError as exc:
            self.add_error(
                "nodes",
                _("Not valid JSON: %(msg)s (line %(line)d, column %(col)d)")
                % {"msg": exc.msg, "line": exc.lineno, "col": exc.colno},
            )
            return data
        if not isinstance(nodes, list):
            self.add_error("nodes", _("The nodes must be a JSON list: [ {...}, {...} ]."))
            return data
        trigger: dict[str, Any] = {"kind": data["trigger_kind"]}
        if data.get("trigger_event_type"):
            trigger["event_type"] = data["trigger_event_type"]
        if data.get("trigger_segment") is not None:
            trigger["segment_id"] = data["trigger_segment"]
        if data.get("trigger_days") is not None:
            trigger["days"] = data["trigger_days"]
        if data["trigger_kind"] in ("birthday", "first_order_anniversary", "calendar_date"):
            trigger["leap_day"] = data.get("trigger_leap_day") or "feb28"
        if data["trigger_kind"] == "calendar_date":
            trigger["day"] = data.get("trigger_day") or 0
            trigger["month"] = data.get("trigger_month") or 0
        if data.get("trigger_hours"):
            trigger["hours"] = data["trigger_hours"]
        trigger["skus"] = _csv(data.get("trigger_skus") or "")
        trigger["categories"] = _csv(data.get("trigger_categories") or "")
        start = data.get("start") or None
        if start is None and nodes and isinstance(nodes[0], dict):
            start = nodes[0].get("id")
        raw: dict[str, Any] = {
            "trigger": trigger,
            "start": start,
            "nodes": nodes,
            "goal": (
                {
                    "event": data.get("goal_event") or "order_placed",
                    "within_days": data.get("goal_within_days") or 30,
                }
                if data.get("goal_enabled")
                else None
            ),
            "reentry": {"policy": data["reentry_policy"], "days": data.get("reentry_days") or 0},
            "holdout_percent": data["holdout_percent"],
            "layout": _layout(data.get("layout") or "", nodes),
        }
        try:
            self.definition = definition_parse(raw)
        except pydantic.ValidationError as exc:
            self.problems = validation_problems(exc, nodes)
            self.node_problems = node_errors(exc, nodes)
            self.add_error(None, _("The journey has problems; nothing was saved."))
        return data


def _layout(text: str, nodes: list[Any]) -> dict[str, Any]:
    """The canvas's positions of the nodes that exist; anything unreadable is laid out anew."""
    try:
        layout = json.loads(text or "{}")
    except json.JSONDecodeError:
        return {}
    if not isinstance(layout, dict):
        return {}
    ids = {n.get("id") for n in nodes if isinstance(n, dict)}
    return {key: at for key, at in layout.items() if key in ids}


def validation_problems(exc: pydantic.ValidationError, nodes: list[Any]) -> list[tuple[str, str]]:
    """Pydantic errors as (where, what): 'node «thanks» (send) › template', 'field required'."""
    problems = []
    seen = set()
    for error in exc.errors(include_url=False):
        where = _where(error["loc"], nodes)
        message = error["msg"].removeprefix("Value error, ")
        if (where, message) in seen:
            continue
        seen.add((where, message))
        problems.append((where, message))
    return problems


def _where(loc: tuple[Any, ...], nodes: list[Any]) -> str:
    if not loc:
        return _("journey")
    head, *rest = loc
    if head == "nodes" and rest and isinstance(rest[0], int):
        index, *rest = rest
        raw = nodes[index] if index < len(nodes) else None
        node_id = raw.get("id") if isinstance(raw, dict) else None
        name = (
            _("node «%(id)s»") % {"id": node_id} if node_id else _("node #%(n)d") % {"n": index + 1}
        )
        # A tagged union adds the node type to the path; it reads as part of the name.
        if rest and isinstance(raw, dict) and rest[0] == raw.get("type"):
            name += f" ({rest[0]})"
            rest = rest[1:]
        parts = [name, *(str(p) for p in rest)]
    else:
        parts = [str(head), *(str(p) for p in rest)]
    return " › ".join(parts)


class SendingPolicyForm(forms.ModelForm):
    class Meta:
        model = SendingPolicy
        fields = [
            "cap_count",
            "cap_hours",
            "quiet_start",
            "quiet_end",
            "expire_hours",
            "max_attempts",
            "open_pixel",
        ]
        widgets = {
            "quiet_start": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "quiet_end": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        }
