"""The event reactor: reads new events once, in id order, and turns them into journey rows.

For each new event it (1) enrolls customers whose journeys trigger on it, (2) marks
enrollments whose goal it meets, (3) wakes enrollments waiting for it. One reactor runs
at a time (the cursor row is locked); every reaction is idempotent, so re-reading an
event after a crash changes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import Q

from lifelong import clock
from lifelong.commerce.models import Product
from lifelong.customers.models import Customer
from lifelong.events.models import Event
from lifelong.events.services import event_record
from lifelong.events.set_aside import event_alone, set_aside_event
from lifelong.journeys.definition import Definition, Trigger
from lifelong.journeys.models import (
    Enrollment,
    EnrollmentStatus,
    Journey,
    JourneyStatus,
    JourneyVersion,
    ReactorCursor,
)
from lifelong.journeys.services import CURSOR, enrollment_start, reactor_cursor_ensure
from lifelong.journeys.tier_context import EVENT_TYPE as TIER_EVENT
from lifelong.journeys.tier_context import tier_contexts

log = logging.getLogger(__name__)

BATCH_SIZE = 2000
# Imported history must not start journeys: only events this recent trigger an entry.
TRIGGER_FRESHNESS = dt.timedelta(hours=48)
# Order properties copied into the enrollment context, for templates and re-entry keys.
_CONTEXT_KEYS = (
    "order_id",
    "external_id",
    "total",
    "currency",
    "skus",
    "sku",
    "product",
    "url",
    "segment_id",
    "cart",
    # tier_changed: the codes of the tiers and "up", "down" or "manual".
    "from",
    "to",
    "direction",
    # early_access_opened: the window's name, collection and dates (its `url` is the
    # customer's own signed link), and the club of a community event.
    "name",
    "collection",
    "starts_at",
    "public_at",
    "club_id",
)


def journeys_react(*, batch_size: int = BATCH_SIZE) -> int:
    """React to every event not read yet; returns how many events were read."""
    read = 0
    while True:
        count = _react_batch(batch_size)
        read += count
        if count < batch_size:
            return read


def _react_batch(batch_size: int) -> int:
    now = clock.now()
    with transaction.atomic():
        reactor_cursor_ensure()
        cursor = ReactorCursor.objects.select_for_update().get(name=CURSOR)
        events: list[dict[str, Any]] = [
            dict(row)
            for row in Event.objects.filter(pk__gt=cursor.last_event_id, customer__isnull=False)
            .order_by("pk")
            .values("pk", "customer_id", "type", "properties", "occurred_at")[:batch_size]
        ]
        if not events:
            return 0
        journeys = _triggered_journeys()
        try:
            with transaction.atomic():
                _react(events, journeys, now)
        except Exception:
            # One bad row must not stop the log for everyone: redo the batch event by event
            # and set aside those that still fail, so the cursor moves on.
            log.warning("journeys.react_batch_failed", exc_info=True)
            for event in events:
                _react_one(event, journeys, now)
        cursor.last_event_id = events[-1]["pk"]
        cursor.save(update_fields=["last_event_id"])
    return len(events)


def _react(
    events: list[dict[str, Any]], journeys: list[tuple[Journey, Definition]], now: dt.datetime
) -> None:
    _enroll(events, journeys, now)
    _goals_meet(events)
    _waits_wake(events, now)


def _react_one(
    event: dict[str, Any], journeys: list[tuple[Journey, Definition]], now: dt.datetime
) -> bool:
    """React to one event in a savepoint; on failure set it aside. True when it went through."""
    return event_alone(
        reactor=CURSOR, event_id=event["pk"], work=lambda: _react([event], journeys, now)
    )


def set_aside_retry(*, event_id: int) -> bool:
    """React to a set-aside event again; it leaves the list when it goes through.

    Journeys start only from events of the last 48 hours (`TRIGGER_FRESHNESS`), so an older
    event retried marks goals and wakes waits but starts no journey.
    """
    event = set_aside_event(reactor=CURSOR, event_id=event_id)
    if event is None:
        return False
    return _react_one(event, _triggered_journeys(), clock.now())


def _triggered_journeys() -> list[tuple[Journey, Definition]]:
    found = []
    for journey in Journey.objects.filter(
        status=JourneyStatus.ACTIVE, current_version__isnull=False
    ).select_related("current_version"):
        assert journey.current_version is not None
        definition = journey.current_version.parsed()
        if definition.trigger.event:
            found.append((journey, definition))
    return found


def _enroll(
    events: list[dict[str, Any]], journeys: list[tuple[Journey, Definition]], now: dt.datetime
) -> None:
    by_type: dict[str, list[tuple[Journey, Definition]]] = defaultdict(list)
    for journey, definition in journeys:
        assert definition.trigger.event is not None
        by_type[definition.trigger.event].append((journey, definition))
    fresh = now - TRIGGER_FRESHNESS
    hits = [e for e in events if e["type"] in by_type and e["occurred_at"] >= fresh]
    if not hits:
        return
    customers = Customer.objects.in_bulk({e["customer_id"] for e in hits})
    categories = _categories(e["properties"].get("skus") or [] for e in hits)
    tiers = tier_contexts() if any(e["type"] == TIER_EVENT for e in hits) else {}
    for event in hits:
        customer = customers.get(event["customer_id"])
        if customer is None:
            continue
        for journey, definition in by_type[event["type"]]:
            if not _matches(definition.trigger, event, categories):
                continue
            props = event["properties"]
            context = {k: props[k] for k in _CONTEXT_KEYS if k in props}
            if event["type"] == TIER_EVENT and str(props.get("to")) in tiers:
                context["tier"] = tiers[str(props["to"])]
            enrollment_start(
                journey=journey,
                customer=customer,
                context=context,
                trigger_event_id=event["pk"],
                definition=definition,
                now=now,
            )


def _categories(sku_lists: Iterable[list[str]]) -> dict[str, str]:
    skus = {sku for skus in sku_lists for sku in skus}
    if not skus:
        return {}
    return dict(Product.objects.filter(sku__in=skus).values_list("sku", "category"))


def _matches(trigger: Trigger, event: dict[str, Any], categories: dict[str, str]) -> bool:
    props = event["properties"]
    if any(props.get(k) != v for k, v in trigger.properties.items()):
        return False
    skus = props.get("skus") or []
    if trigger.skus and not set(trigger.skus) & set(skus):
        return False
    if trigger.categories and not set(trigger.categories) & {categories.get(s) for s in skus}:
        return False
    if trigger.segment_id is not None and str(props.get("segment_id")) != str(trigger.segment_id):
        return False
    if trigger.kind == "first_order":
        return not Event.objects.filter(
            customer_id=event["customer_id"], type="order_placed", pk__lt=event["pk"]
        ).exists()
    return True


def _goals_meet(events: list[dict[str, Any]]) -> None:
    """Mark enrollments whose goal event arrived inside their window."""
    goals = _goals_by_version()
    goal_types = {goal[0] for goal in goals.values()}
    relevant = [e for e in events if e["type"] in goal_types]
    if not relevant:
        return
    candidates = Enrollment.objects.filter(
        customer_id__in={e["customer_id"] for e in relevant},
        version_id__in=list(goals),
        goal_met_at__isnull=True,
    ).exclude(status=EnrollmentStatus.CANCELLED)
    by_customer: dict[int, list[Enrollment]] = defaultdict(list)
    for enrollment in candidates:
        by_customer[enrollment.customer_id].append(enrollment)
    for event in relevant:
        for enrollment in by_customer.get(event["customer_id"], []):
            goal_type, within = goals[enrollment.version_id]
            if (
                enrollment.goal_met_at is None
                and goal_type == event["type"]
                and enrollment.trigger_event_id != event["pk"]
                and enrollment.entered_at
                <= event["occurred_at"]
                <= enrollment.entered_at + dt.timedelta(days=within)
            ):
                _goal_met(enrollment, event)


def _goal_met(enrollment: Enrollment, event: dict[str, Any]) -> None:
    enrollment.goal_met_at = event["occurred_at"]
    fields = ["goal_met_at"]
    if enrollment.status == EnrollmentStatus.ACTIVE:
        enrollment.status = EnrollmentStatus.CONVERTED
        enrollment.ended_at = event["occurred_at"]
        enrollment.next_run_at = None
        enrollment.waiting, enrollment.waiting_for = False, ""
        fields += ["status", "ended_at", "next_run_at", "waiting", "waiting_for"]
    enrollment.save(update_fields=fields)
    event_record(
        customer=Customer(pk=enrollment.customer_id),
        type="journey_goal_met",
        properties={
            "journey_id": enrollment.journey_id,
            "enrollment_id": enrollment.pk,
            "holdout": enrollment.holdout,
        },
        occurred_at=event["occurred_at"],
        source="journeys",
        idempotency_key=f"journey_goal:{enrollment.pk}",
    )


def _goals_by_version() -> dict[int, tuple[str, int]]:
    goals = {}
    for pk, definition in JourneyVersion.objects.exclude(
        journey__status=JourneyStatus.ARCHIVED
    ).values_list("pk", "definition"):
        goal = definition.get("goal")
        if goal:
            goals[pk] = (goal["event"], int(goal["within_days"]))
    return goals


def _waits_wake(events: list[dict[str, Any]], now: dt.datetime) -> None:
    """Bring waits on these event types forward; the engine re-checks what it waited for."""
    customers_by_type: dict[str, set[int]] = defaultdict(set)
    for event in events:
        customers_by_type[event["type"]].add(event["customer_id"])
    query = Q()
    for type_, customers in customers_by_type.items():
        query |= Q(customer_id__in=customers, waiting_for__contains=f",{type_},")
    Enrollment.objects.filter(query, status=EnrollmentStatus.ACTIVE, next_run_at__gt=now).update(
        next_run_at=now
    )
