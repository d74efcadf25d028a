"""The journey engine: `advance_due` moves due enrollments through their graph.

Each enrollment is advanced inside the claim transaction, under its row lock, in a
savepoint: the step records (`StepRun`, unique per enrollment, node and visit), the
node effects (outbox rows, tasks, tags, points requests) and the new position commit
together or not at all. A crash re-runs the whole step; a second worker skips the row.
Nothing here sends: a send node writes an outbox `Message` for `dispatch_due`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Sequence
from typing import Any

from django.db import transaction

from lifelong import clock
from lifelong.customers.models import Customer
from lifelong.events.models import Event
from lifelong.journeys import effects
from lifelong.journeys.definition import (
    Condition,
    Definition,
    Split,
    Wait,
    WaitEvent,
)
from lifelong.journeys.models import (
    Enrollment,
    EnrollmentStatus,
    Journey,
    JourneyStatus,
    JourneyVersion,
    StepRun,
)
from lifelong.lib.zones import zone_of
from lifelong.segments.rules import rules_compile

log = logging.getLogger(__name__)

BATCH_SIZE = 200
# A guard against a graph that keeps branching without waiting (validation forbids it).
MAX_STEPS_PER_RUN = 50
RETRY_AFTER_ERROR = dt.timedelta(hours=1)
# Events about messages count for a wait only when they are about this enrollment's messages.
MESSAGE_EVENTS = ("message_opened", "message_clicked", "message_replied", "message_delivered")

_STATE_FIELDS = (
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


def advance_due(*, batch_size: int = BATCH_SIZE, max_batches: int | None = None) -> int:
    """Advance every due enrollment of running journeys; returns the number of steps run."""
    steps = batches = 0
    while max_batches is None or batches < max_batches:
        ran, claimed = _advance_batch(batch_size)
        steps += ran
        batches += 1
        if claimed < batch_size:
            break
    return steps


def _advance_batch(batch_size: int) -> tuple[int, int]:
    now = clock.now()
    running = list(Journey.objects.filter(status=JourneyStatus.ACTIVE).values_list("pk", flat=True))
    if not running:
        return 0, 0
    steps = 0
    with transaction.atomic():
        rows = list(
            Enrollment.objects.select_for_update(skip_locked=True)
            .filter(status=EnrollmentStatus.ACTIVE, next_run_at__lte=now, journey_id__in=running)
            .order_by("next_run_at", "id")[:batch_size]
        )
        if not rows:
            return 0, 0
        versions = {
            v.pk: v.parsed()
            for v in JourneyVersion.objects.filter(pk__in={e.version_id for e in rows})
        }
        customers = Customer.objects.in_bulk({e.customer_id for e in rows})
        for enrollment in rows:
            snapshot = {f: getattr(enrollment, f) for f in _STATE_FIELDS}
            try:
                with transaction.atomic():
                    runs = _advance(enrollment, versions[enrollment.version_id], customers, now=now)
                    StepRun.objects.bulk_create(runs)
                steps += len(runs)
            except Exception:
                log.exception("enrollment_step_failed", extra={"enrollment_id": enrollment.pk})
                for field, value in snapshot.items():
                    setattr(enrollment, field, value)
                enrollment.next_run_at = now + RETRY_AFTER_ERROR
                enrollment.exit_reason = "step failed; retrying"
        _states_save(rows)
    return steps, len(rows)


def _states_save(rows: list[Enrollment]) -> None:
    """Write the new positions: one UPDATE per distinct state, not a CASE per row.

    A batch mostly moves together (same node, same due time), so this is a handful of
    statements; `bulk_update` builds a CASE over every row and field, slowly.
    """
    groups: dict[str, tuple[dict[str, object], list[int]]] = {}
    for enrollment in rows:
        values = {f: getattr(enrollment, f) for f in _STATE_FIELDS}
        key = json.dumps(values, sort_keys=True, default=str)
        groups.setdefault(key, (values, []))[1].append(enrollment.pk)
    for values, ids in groups.values():
        Enrollment.objects.filter(pk__in=ids).update(**values)


def _advance(
    enrollment: Enrollment,
    definition: Definition,
    customers: dict[int, Customer],
    *,
    now: dt.datetime,
) -> list[StepRun]:
    """Run nodes until the enrollment waits or ends; returns the steps to record."""
    if enrollment.holdout or not enrollment.current_node:
        # Holdout: tracked for the goal only. The due time was the end of the goal window.
        _end(enrollment, now, EnrollmentStatus.COMPLETED, "")
        return []
    customer = customers[enrollment.customer_id]
    if (
        definition.trigger.kind == "cart_abandoned"
        and not enrollment.visits
        and _ordered_since_cart(enrollment)
    ):
        _end(enrollment, now, EnrollmentStatus.COMPLETED, "ordered before the reminder")
        return []
    runs: list[StepRun] = []
    for _ in range(MAX_STEPS_PER_RUN):
        node = definition.node(enrollment.current_node)
        if enrollment.waiting:
            nxt, still_waiting_until = _wake(enrollment, node, now)
            if still_waiting_until is not None:
                enrollment.next_run_at = still_waiting_until
                return runs
            enrollment.waiting, enrollment.wait_started_at, enrollment.waiting_for = False, None, ""
            if not _go(enrollment, nxt, now):
                return runs
            continue
        visit = int(enrollment.visits.get(node.id, 0)) + 1
        enrollment.visits = {**enrollment.visits, node.id: visit}
        outcome, nxt = _run(enrollment, node, customer, visit=visit, now=now)
        runs.append(
            StepRun(
                enrollment=enrollment,
                node_id=node.id,
                visit=visit,
                ran_at=now,
                outcome=outcome,
                problem=outcome.startswith(effects.PROBLEM),
            )
        )
        if isinstance(node, Wait | WaitEvent):
            enrollment.waiting, enrollment.wait_started_at = True, now
            if isinstance(node, WaitEvent):
                enrollment.waiting_for = "," + ",".join(node.events) + ","
            enrollment.next_run_at = _wait_until(node, customer, now)
            return runs
        if not _go(enrollment, nxt, now):
            return runs
    enrollment.next_run_at = now  # continue on the next run
    return runs


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


def _go(enrollment: Enrollment, nxt: str | None, now: dt.datetime) -> bool:
    """Move to the next node; without one the walk is over. Returns True to keep going."""
    if nxt is None:
        _end(enrollment, now, EnrollmentStatus.COMPLETED, "")
        return False
    enrollment.current_node = nxt
    return True


def _end(enrollment: Enrollment, now: dt.datetime, status: str, reason: str) -> None:
    enrollment.status = status
    enrollment.ended_at = now
    enrollment.next_run_at = None
    enrollment.waiting, enrollment.waiting_for = False, ""
    enrollment.exit_reason = reason


def _run(
    enrollment: Enrollment, node: Any, customer: Customer, *, visit: int, now: dt.datetime
) -> tuple[str, str | None]:
    """Execute one node's effect; returns (outcome, next node id)."""
    if isinstance(node, Wait | WaitEvent):
        return "waiting", None
    if isinstance(node, Condition):
        matches = Customer.objects.filter(pk=customer.pk).filter(rules_compile(node.rule, now=now))
        if node.in_segment is not None:
            matches = matches.filter(segment_memberships__segment_id=node.in_segment)
        return ("yes", node.yes) if matches.exists() else ("no", node.no)
    if isinstance(node, Split):
        branch = split_pick(node, f"{enrollment.pk}:{node.id}:{visit}")
        return f"branch {branch}", node.branches[branch].next
    if node.type == "exit":
        _end(enrollment, now, EnrollmentStatus.COMPLETED, "exit node")
        return "exit", None
    outcome = effects.node_effect(
        node, enrollment=enrollment, customer=customer, key=f"j{enrollment.pk}:{node.id}:{visit}"
    )
    return outcome, node.next


def split_pick(node: Split, seed: str) -> int:
    """A stable weighted choice: the same enrollment and visit always take the same branch."""
    total = sum(b.weight for b in node.branches)
    point = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big") % total
    for index, branch in enumerate(node.branches):
        point -= branch.weight
        if point < 0:
            return index
    return len(node.branches) - 1


def _wait_until(node: Wait | WaitEvent, customer: Customer, now: dt.datetime) -> dt.datetime:
    if isinstance(node, WaitEvent):
        return now + dt.timedelta(hours=node.timeout_hours)
    due = now + dt.timedelta(days=node.days, hours=node.hours)
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


def _wake(
    enrollment: Enrollment, node: Any, now: dt.datetime
) -> tuple[str | None, dt.datetime | None]:
    """For a started wait: (next node, None) when it is over, or (None, due) to keep waiting."""
    if isinstance(node, Wait):
        if enrollment.next_run_at is not None and enrollment.next_run_at > now:
            return None, enrollment.next_run_at
        return node.next, None
    assert isinstance(node, WaitEvent)
    started = enrollment.wait_started_at or now
    deadline = started + dt.timedelta(hours=node.timeout_hours)
    if _event_seen(enrollment, node.events, since=started, until=min(now, deadline)):
        return node.on_event, None
    if now >= deadline:
        return node.on_timeout, None
    return None, deadline


def _event_seen(
    enrollment: Enrollment, types: Sequence[str], *, since: dt.datetime, until: dt.datetime
) -> bool:
    events = Event.objects.filter(
        customer_id=enrollment.customer_id, occurred_at__gte=since, occurred_at__lte=until
    )
    plain = [t for t in types if t not in MESSAGE_EVENTS]
    about_us = [t for t in types if t in MESSAGE_EVENTS]
    if plain and events.filter(type__in=plain).exists():
        return True
    return bool(
        about_us
        and events.filter(type__in=about_us, properties__enrollment_id=enrollment.pk).exists()
    )
