"""A journey version's graph: trigger, nodes, goal, re-entry and holdout, validated by pydantic.

Stored as JSON on `JourneyVersion.definition`, which never changes once saved; editing a
journey saves a new version and running enrollments stay on theirs.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, model_validator

from lifelong.segments.rules import RuleGroup

NODE_ID = r"^[a-z0-9_]{1,40}$"
MAX_NODES = 100
Scalar = str | int | float | bool


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Node(_Base):
    id: str = Field(pattern=NODE_ID)
    label: str = ""

    def exits(self) -> list[str]:
        """The node ids this node may continue to."""
        nxt = getattr(self, "next", None)
        return [nxt] if nxt else []


class Wait(_Node):
    """Pause for a duration, then optionally until a local time of day or a date."""

    type: Literal["wait"]
    hours: float = Field(default=0, ge=0, le=24 * 366)
    days: int = Field(default=0, ge=0, le=366)
    until_time: dt.time | None = None
    until_date: dt.date | None = None
    next: str | None = None

    @model_validator(mode="after")
    def _something(self) -> Wait:
        if not (self.hours or self.days or self.until_time or self.until_date):
            raise ValueError("a wait needs a duration, a time of day or a date")
        return self


class WaitEvent(_Node):
    """Wait until the customer does something, or give up after a timeout.

    Message events (opened, clicked, replied) count only for this enrollment's messages.
    """

    type: Literal["wait_event"]
    events: list[str] = Field(min_length=1, max_length=10)
    timeout_hours: float = Field(gt=0, le=24 * 366)
    on_event: str | None = None
    on_timeout: str | None = None

    def exits(self) -> list[str]:
        return [n for n in (self.on_event, self.on_timeout) if n]


class Condition(_Node):
    """Branch on a segment-style rule about the customer (attributes, orders, events, scores)
    and, optionally, on membership of a segment. Both must hold for "yes"."""

    type: Literal["condition"]
    rule: RuleGroup = RuleGroup()
    in_segment: int | None = Field(default=None, ge=1)
    yes: str | None = None
    no: str | None = None

    def exits(self) -> list[str]:
        return [n for n in (self.yes, self.no) if n]


class Branch(_Base):
    weight: int = Field(gt=0, le=1000)
    next: str | None = None
    label: str = ""


class Split(_Node):
    """A/B split: each customer goes down one branch, chosen by weight."""

    type: Literal["split"]
    branches: list[Branch] = Field(min_length=2, max_length=10)

    def exits(self) -> list[str]:
        return [b.next for b in self.branches if b.next]


class Send(_Node):
    type: Literal["send"]
    template: str = Field(min_length=1, max_length=80)
    channel: str = "preferred"  # or a channel name
    next: str | None = None


class SurveySend(_Node):
    """Ask a survey: an invite (throttled: a customer asked recently is skipped) and one
    message carrying its first question, answered from the message itself."""

    type: Literal["survey"]
    survey: int = Field(ge=1)
    template: str = Field(min_length=1, max_length=80)  # the words around the question
    channel: str = "preferred"  # or a channel name
    next: str | None = None


class ClubInviteSend(_Node):
    """Invite the customer to a club: the template's message with the club's join address
    (`{{ club_invite_url }}`), only to customers the club's entry rule admits."""

    type: Literal["club_invite"]
    club: int = Field(ge=1)
    template: str = Field(min_length=1, max_length=80)
    channel: str = "preferred"  # or a channel name
    next: str | None = None


class CreateTask(_Node):
    type: Literal["task"]
    title: str = Field(min_length=1, max_length=200)
    due_hours: int = Field(default=24, ge=0, le=24 * 90)
    next: str | None = None


class TagChange(_Node):
    type: Literal["tag"]
    action: Literal["add", "remove"] = "add"
    tag: str = Field(min_length=1, max_length=64)
    next: str | None = None


class SetAttribute(_Node):
    type: Literal["attribute"]
    key: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    value: Scalar | None
    next: str | None = None


class AwardPoints(_Node):
    type: Literal["award_points"]
    points: int = Field(gt=0, le=1_000_000)
    reason: str = Field(default="journey", max_length=200)
    next: str | None = None


class CallWebhook(_Node):
    type: Literal["webhook"]
    url: HttpUrl
    next: str | None = None


class Exit(_Node):
    type: Literal["exit"]


Node = Annotated[
    Wait
    | WaitEvent
    | Condition
    | Split
    | Send
    | SurveySend
    | ClubInviteSend
    | CreateTask
    | TagChange
    | SetAttribute
    | AwardPoints
    | CallWebhook
    | Exit,
    Field(discriminator="type"),
]

# Nodes that hand control back to the scheduler; every cycle must pass through one.
WAITING_TYPES = ("wait", "wait_event")

TriggerKind = Literal[
    "event",
    "order_placed",
    "first_order",
    "order_delivered",
    "segment_entered",
    "segment_exited",
    "birthday",
    "first_order_anniversary",
    "calendar_date",
    "days_since_last_order",
    "replenishment_due",
    "cart_abandoned",
    "manual",
]
EVENT_TRIGGERS = {
    "order_placed": "order_placed",
    "first_order": "order_placed",
    "order_delivered": "order_delivered",
    "segment_entered": "segment_entered",
    "segment_exited": "segment_exited",
    "cart_abandoned": "cart_updated",
}
DATE_TRIGGERS = (
    "birthday",
    "first_order_anniversary",
    "calendar_date",
    "days_since_last_order",
    "replenishment_due",
)


class Trigger(_Base):
    kind: TriggerKind
    event_type: str | None = Field(default=None, max_length=64)  # kind "event"
    properties: dict[str, Scalar] = Field(default_factory=dict)  # equality filters
    skus: list[str] = Field(default_factory=list)  # order triggers: any of these bought
    categories: list[str] = Field(default_factory=list)
    segment_id: int | None = None
    days: int = Field(default=0, ge=0, le=3650)  # days_since_last_order; days before birthday
    hours: float = Field(default=4, gt=0, le=24 * 30)  # cart_abandoned: no order within
    # calendar_date: the same day every year (Customer Day is 19 March), on the customer's clock.
    month: int = Field(default=0, ge=0, le=12)
    day: int = Field(default=0, ge=0, le=31)
    # Birthdays, first orders and calendar dates on 29 February: this day in other years.
    leap_day: Literal["feb28", "mar1"] = "feb28"

    @model_validator(mode="after")
    def _complete(self) -> Trigger:
        if self.kind == "event" and not self.event_type:
            raise ValueError("an event trigger needs an event type")
        if self.kind in ("segment_entered", "segment_exited") and self.segment_id is None:
            raise ValueError("a segment trigger needs a segment")
        if self.kind == "days_since_last_order" and self.days < 1:
            raise ValueError("days since the last order must be at least 1")
        if self.kind == "calendar_date":
            _check_day_of_year(self.month, self.day)
        return self

    @property
    def event(self) -> str | None:
        """The event type that starts an enrollment, or None for date and manual triggers."""
        if self.kind == "event":
            return self.event_type
        return EVENT_TRIGGERS.get(self.kind)


def _check_day_of_year(month: int, day: int) -> None:
    if not month or not day:
        raise ValueError("a calendar date trigger needs a day and a month")
    try:
        dt.date(2000, month, day)  # a leap year, so 29 February is a day like any other
    except ValueError:
        raise ValueError(f"there is no day {day} in month {month}") from None


class Goal(_Base):
    """What counts as success, e.g. a repeat purchase within 30 days of entering."""

    event: str = Field(default="order_placed", max_length=64)
    within_days: int = Field(default=30, ge=1, le=365)


class Reentry(_Base):
    # per_event: once for each event that triggers it (each tier change, each back in stock).
    policy: Literal["once", "per_order", "per_event", "after_days"] = "once"
    days: int = Field(default=0, ge=0, le=3650)


class Position(_Base):
    """Where the visual builder drew a node; the engine never reads it."""

    x: int = Field(ge=-10_000, le=100_000)
    y: int = Field(ge=-10_000, le=100_000)


class Definition(_Base):
    trigger: Trigger
    start: str | None
    nodes: list[Node] = Field(default_factory=list, max_length=MAX_NODES)
    goal: Goal | None = None
    reentry: Reentry = Reentry()
    holdout_percent: int = Field(default=0, ge=0, le=50)
    # The builder's node positions by node id; stored definitions without it lay out anew.
    layout: dict[str, Position] = Field(default_factory=dict, max_length=MAX_NODES)

    @model_validator(mode="after")
    def _graph(self) -> Definition:
        ids = [n.id for n in self.nodes]
        if len(set(ids)) != len(ids):
            raise ValueError("node ids must be unique")
        known = set(ids)
        if self.start is not None and self.start not in known:
            raise ValueError(f"start node {self.start!r} does not exist")
        for node in self.nodes:
            for target in node.exits():
                if target not in known:
                    raise ValueError(f"node {node.id!r} points to missing node {target!r}")
        _check_cycles(self)
        return self

    def node(self, node_id: str) -> Any:
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)


def _check_cycles(definition: Definition) -> None:
    """Reject a loop that never waits: it would spin without ever yielding to the scheduler."""
    graph = {n.id: [] if n.type in WAITING_TYPES else n.exits() for n in definition.nodes}
    state: dict[str, int] = {}

    def visit(node_id: str, path: list[str]) -> None:
        state[node_id] = 1
        for target in graph[node_id]:
            if state.get(target) == 1:
                cycle = " → ".join([*path[path.index(target) :], target])
                raise ValueError(f"the loop {cycle} has no wait in it")
            if target not in state:
                visit(target, [*path, target])
        state[node_id] = 2

    for node_id in graph:
        if node_id not in state:
            visit(node_id, [node_id])


def definition_parse(data: Any) -> Definition:
    """Validate stored or submitted definitions; raises pydantic.ValidationError."""
    return Definition.model_validate(data)
