"""Walking a claimed batch of enrollments in rounds, one group of enrollments per node.

Each round first wakes the waits that are over (a wait for events is one query per group),
then groups the enrollments still moving by (version, node) and runs each group once: the
effect for the whole group (a few statements: group_effects.py, and group_sends.py for
messages; a row each only for tasks, webhooks and tag removals), its step records in one
insert. A group runs in a savepoint; when it fails, it is split in halves and each half
retried, down to the one enrollment that fails, which keeps the steps it completed in earlier
rounds (recorded, with its position after them) and retries the failed one later (a node
with a row-per-customer effect goes straight to one enrollment at a time). Everything else
in the batch moves on. The in-memory
state (positions, visits, customers' attributes) is restored with the savepoint, so nothing
of a rolled-back attempt survives it.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
import operator
from collections.abc import Callable, Sequence
from typing import Any

from django.db import transaction

from lifelong.customers.models import Customer
from lifelong.events.models import Event
from lifelong.journeys import effects, group_effects, group_sends
from lifelong.journeys.definition import (
    AwardPoints,
    Condition,
    Definition,
    SetAttribute,
    Split,
    TagChange,
    Wait,
    WaitEvent,
)
from lifelong.journeys.group_sends import SendNode
from lifelong.journeys.models import Enrollment, EnrollmentStatus
from lifelong.lib.zones import zone_of

log = logging.getLogger(__name__)

# A guard against a graph that keeps branching without waiting (validation forbids it).
MAX_ROUNDS = 50
RETRY_AFTER_ERROR = dt.timedelta(hours=1)

STATE_FIELDS = (
    "status",
    "current_node",
    "waiting",
    "wait_started_at",
    "waiting_for",
    "next_run_at",
    "visits",
    "ended_at",
    "exit_reason",
)
# An enrollment's position as a tuple of STATE_FIELDS, put back if its group's step fails.
_state_of = operator.attrgetter(*STATE_FIELDS)


class Batch:
    """One claimed batch: its enrollments, their graphs and customers, and the steps run."""

    def __init__(
        self,
        rows: list[Enrollment],
        versions: dict[int, Definition],
        customers: dict[int, Customer],
        *,
        now: dt.datetime,
    ) -> None:
        self.rows = rows
        self.versions = versions
        self.customers = customers
        self.now = now
        self.steps = 0

    def walk(self) -> int:
        """Advance every enrollment until it waits, ends or fails; returns the steps run."""
        moving = [e for e in self.rows if self._starts(e)]
        for _ in range(MAX_ROUNDS):
            moving = self._wake(moving)
            if not moving:
                break
            groups: dict[tuple[int, str], list[Enrollment]] = {}
            for enrollment in moving:
                groups.setdefault((enrollment.version_id, enrollment.current_node), []).append(
                    enrollment
                )
            moving = []
            for (version_id, node_id), group in groups.items():
                node = self.versions[version_id].node(node_id)
                done = self._isolated(
                    group,
                    functools.partial(self._run, node),
                    split=_splits_by_halves(node),
                    sets_attributes=isinstance(node, SetAttribute),
                )
                moving.extend(e for e in done if self._still_moving(e))
        for enrollment in moving:
            enrollment.next_run_at = self.now  # continue on the next run
        return self.steps

    # -- before the first round --------------------------------------------------------

    def _starts(self, enrollment: Enrollment) -> bool:
        if enrollment.holdout or not enrollment.current_node:
            # Holdout: tracked for the goal only. The due time was the end of the goal window.
            end(enrollment, self.now, EnrollmentStatus.COMPLETED, "")
            return False
        definition = self.versions[enrollment.version_id]
        if (
            definition.trigger.kind == "cart_abandoned"
            and not enrollment.visits
            and _ordered_since_cart(enrollment)
        ):
            end(enrollment, self.now, EnrollmentStatus.COMPLETED, "ordered before the reminder")
            return False
        return True

    @staticmethod
    def _still_moving(enrollment: Enrollment) -> bool:
        return enrollment.status == EnrollmentStatus.ACTIVE and enrollment.next_run_at is None

    # -- waking ----------------------------------------------------------------------

    def _wake(self, moving: list[Enrollment]) -> list[Enrollment]:
        """Waits that are over move on (no step record); the others keep their due time.

        Returns the enrollments that now stand on a node to run, with `next_run_at` None
        while they move (the engine's mark of "still moving this run").
        """
        ready: list[Enrollment] = []
        event_waits: dict[tuple[int, str], list[Enrollment]] = {}
        for enrollment in moving:
            if not enrollment.waiting:
                enrollment.next_run_at = None
                ready.append(enrollment)
                continue
            node = self.versions[enrollment.version_id].node(enrollment.current_node)
            if isinstance(node, Wait):
                if enrollment.next_run_at is not None and enrollment.next_run_at > self.now:
                    continue
                self._leave_wait(enrollment, node.next, ready)
            else:
                key = (enrollment.version_id, enrollment.current_node)
                event_waits.setdefault(key, []).append(enrollment)
        for (version_id, node_id), group in event_waits.items():
            node = self.versions[version_id].node(node_id)
            seen = group_effects.events_seen(node, group, now=self.now)
            for enrollment in group:
                started = enrollment.wait_started_at or self.now
                deadline = started + dt.timedelta(hours=node.timeout_hours)
                if enrollment.pk in seen:
                    self._leave_wait(enrollment, node.on_event, ready)
                elif self.now >= deadline:
                    self._leave_wait(enrollment, node.on_timeout, ready)
                else:
                    enrollment.next_run_at = deadline
        return ready

    def _leave_wait(self, enrollment: Enrollment, nxt: str | None, ready: list[Enrollment]) -> None:
        enrollment.waiting, enrollment.wait_started_at, enrollment.waiting_for = False, None, ""
        if go(enrollment, nxt, self.now):
            enrollment.next_run_at = None
            ready.append(enrollment)

    # -- running a group ---------------------------------------------------------------

    def _isolated(
        self,
        group: list[Enrollment],
        run: Callable[[list[Enrollment]], None],
        *,
        split: bool,
        sets_attributes: bool,
    ) -> list[Enrollment]:
        """Run the group in a savepoint; on failure, halves until the failing ones stand alone.

        A node whose effect is a row per customer (a task, a webhook) is retried one enrollment
        at a time instead: halving would redo each row about log2(n) times to find one failure.
        Returns the enrollments whose step ran; the failing ones are set to retry later.
        `sets_attributes`: the node changes the customers' attributes in memory too, so they
        are put back with the positions (the only node that changes a customer held here).
        """
        states = list(map(_state_of, group))
        attributes = (
            {e.customer_id: self.customers[e.customer_id].attributes for e in group}
            if sets_attributes
            else {}
        )
        steps = self.steps
        try:
            with transaction.atomic():
                run(group)
        except Exception:
            self.steps = steps
            for enrollment, state in zip(group, states, strict=True):
                for field, value in zip(STATE_FIELDS, state, strict=True):
                    setattr(enrollment, field, value)
            for customer_id, value in attributes.items():
                self.customers[customer_id].attributes = value
            if len(group) == 1:
                enrollment = group[0]
                log.exception("enrollment_step_failed", extra={"enrollment_id": enrollment.pk})
                enrollment.next_run_at = self.now + RETRY_AFTER_ERROR
                enrollment.exit_reason = "step failed; retrying"
                return []
            again = functools.partial(self._isolated, run=run, sets_attributes=sets_attributes)
            if not split:
                return [e for one in group for e in again([one], split=False)]
            half = len(group) // 2
            return again(group[:half], split=True) + again(group[half:], split=True)
        return group

    def _run(self, node: Any, group: list[Enrollment]) -> None:
        """One node for the whole group: visits, effect, step records, next positions."""
        visits: list[int] = []
        for enrollment in group:
            visit = int(enrollment.visits.get(node.id, 0)) + 1
            enrollment.visits = {**enrollment.visits, node.id: visit}
            visits.append(visit)
        outcomes = self._effect(node, group, visits)
        group_effects.steps_record(
            [e.pk for e in group],
            node_id=node.id,
            visits=visits,
            outcomes=[outcome for outcome, _ in outcomes],
            now=self.now,
            problem=effects.PROBLEM,
        )
        self.steps += len(group)
        for enrollment, (_, nxt) in zip(group, outcomes, strict=True):
            if isinstance(node, Wait | WaitEvent):
                enrollment.waiting, enrollment.wait_started_at = True, self.now
                if isinstance(node, WaitEvent):
                    enrollment.waiting_for = "," + ",".join(node.events) + ","
                customer = self.customers[enrollment.customer_id]
                enrollment.next_run_at = wait_until(node, customer, self.now)
            elif enrollment.status == EnrollmentStatus.ACTIVE:
                go(enrollment, nxt, self.now)

    def _effect(
        self, node: Any, group: list[Enrollment], visits: Sequence[int]
    ) -> list[tuple[str, str | None]]:
        """The node's effect over the group; (outcome, next node id) per enrollment."""
        if isinstance(node, Wait | WaitEvent):
            return [("waiting", None)] * len(group)
        if isinstance(node, Condition):
            yes = group_effects.condition_matches(
                node, (e.customer_id for e in group), now=self.now
            )
            return [("yes", node.yes) if e.customer_id in yes else ("no", node.no) for e in group]
        if isinstance(node, Split):
            picks = [
                split_pick(node, f"{e.pk}:{node.id}:{v}")
                for e, v in zip(group, visits, strict=True)
            ]
            return [(f"branch {b}", node.branches[b].next) for b in picks]
        if node.type == "exit":
            for enrollment in group:
                end(enrollment, self.now, EnrollmentStatus.COMPLETED, "exit node")
            return [("exit", None)] * len(group)
        if isinstance(node, TagChange) and node.action == "add":
            group_effects.tags_add(tag=node.tag, customer_ids=(e.customer_id for e in group))
            return [("tag add", node.next)] * len(group)
        if isinstance(node, SetAttribute):
            customers = [self.customers[e.customer_id] for e in group]
            group_effects.attribute_set(node, customers)
            return [("attribute set", node.next)] * len(group)
        if isinstance(node, AwardPoints):
            return [(o, node.next) for o in group_effects.points_award(node, group, visits)]
        if isinstance(node, SendNode):
            outcomes = group_sends.sends(node, group, visits, self.customers)
            return [(outcome, node.next) for outcome in outcomes]
        # Tasks, webhooks and tag removals: a row (or a call out) each, in the group's savepoint.
        return [
            (
                effects.node_effect(
                    node,
                    enrollment=enrollment,
                    customer=self.customers[enrollment.customer_id],
                    key=group_effects.step_key(enrollment, node.id, visit),
                ),
                node.next,
            )
            for enrollment, visit in zip(group, visits, strict=True)
        ]


def _splits_by_halves(node: Any) -> bool:
    """Whether a failing group of this node is halved (its effect is a few statements for the
    whole group) rather than retried one enrollment at a time (see Batch._isolated)."""
    grouped = Wait | WaitEvent | Condition | Split | SetAttribute | AwardPoints | SendNode
    return (
        isinstance(node, grouped)
        or node.type == "exit"
        or (isinstance(node, TagChange) and node.action == "add")
    )


def _ordered_since_cart(enrollment: Enrollment) -> bool:
    """An order after the cart event itself (the reactor may have read the cart later)."""
    cart_at = enrollment.entered_at
    if enrollment.trigger_event_id is not None:
        cart_at = (
            Event.objects.filter(pk=enrollment.trigger_event_id)
            .values_list("occurred_at", flat=True)
            .first()
        ) or cart_at
    return Event.objects.filter(
        customer_id=enrollment.customer_id, type="order_placed", occurred_at__gte=cart_at
    ).exists()


def go(enrollment: Enrollment, nxt: str | None, now: dt.datetime) -> bool:
    """Move to the next node; without one the walk is over. Returns True to keep going."""
    if nxt is None:
        end(enrollment, now, EnrollmentStatus.COMPLETED, "")
        return False
    enrollment.current_node = nxt
    return True


def end(enrollment: Enrollment, now: dt.datetime, status: str, reason: str) -> None:
    enrollment.status = status
    enrollment.ended_at = now
    enrollment.next_run_at = None
    enrollment.waiting, enrollment.waiting_for = False, ""
    enrollment.exit_reason = reason


def split_pick(node: Split, seed: str) -> int:
    """A stable weighted choice: the same enrollment and visit always take the same branch."""
    total = sum(b.weight for b in node.branches)
    point = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big") % total
    for index, branch in enumerate(node.branches):
        point -= branch.weight
        if point < 0:
            return index
    return len(node.branches) - 1


def wait_until(node: Wait | WaitEvent, customer: Customer, now: dt.datetime) -> dt.datetime:
    if isinstance(node, WaitEvent):
        return now + dt.timedelta(hours=node.timeout_hours)
    due = now + dt.timedelta(days=node.days, hours=node.hours)
    if node.until_date is None and node.until_time is None:
        return due.astimezone(dt.UTC)  # no local clock to read: the customer's zone is not needed
    zone = zone_of(customer.time_zone)
    if node.until_date is not None:
        due = max(due, dt.datetime.combine(node.until_date, dt.time(0), tzinfo=zone))
    if node.until_time is not None:
        local = due.astimezone(zone)
        at = local.replace(
            hour=node.until_time.hour, minute=node.until_time.minute, second=0, microsecond=0
        )
        due = at if at >= local else at + dt.timedelta(days=1)
    return due.astimezone(dt.UTC)
