"""Writes for journeys: create, version, activate, pause, archive, enroll."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from lifelong import clock
from lifelong.accounts.models import User
from lifelong.accounts.services import audit_record
from lifelong.customers.models import Customer
from lifelong.events.field_limits import TextLimit, json_check, refused_as, text_limit
from lifelong.events.models import Event
from lifelong.events.services import event_record
from lifelong.journeys.definition import Definition, definition_parse
from lifelong.journeys.models import (
    Enrollment,
    EnrollmentStatus,
    Journey,
    JourneyStatus,
    JourneyVersion,
    ReactorCursor,
)
from lifelong.journeys.problems import Problem, definition_problems
from lifelong.lib.errors import DomainError


class JourneyError(DomainError):
    """A change a journey cannot take in its current state."""


class JourneyProblems(JourneyError):
    """A journey that would not work in this shop as it is: `problems` lists why."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(p.message for p in problems), field="definition")
        self.problems = problems


@transaction.atomic
def journey_create(
    *,
    name: str,
    slug: str,
    definition: Mapping[str, Any],
    description: str = "",
    actor: User | None = None,
) -> Journey:
    """A new journey (a draft) with its first version."""
    journey = Journey.objects.create(name=name, slug=slug, description=description)
    journey_version_save(journey=journey, definition=definition, actor=actor)
    if actor is not None:
        audit_record(actor=actor, action="journey.create", obj=journey, changes={"slug": slug})
    return journey


@transaction.atomic
def journey_version_save(
    *, journey: Journey, definition: Mapping[str, Any], actor: User | None = None
) -> JourneyVersion:
    """Validate and store a new version; new entrants get it, running ones keep theirs."""
    parsed = definition_parse(definition)
    # The lock serialises version numbers between two editors saving at once.
    Journey.objects.select_for_update().filter(pk=journey.pk).first()
    last = journey.versions.order_by("-number").values_list("number", flat=True).first() or 0
    version = JourneyVersion.objects.create(
        journey=journey,
        number=last + 1,
        definition=parsed.model_dump(mode="json"),
        created_by=actor,
    )
    journey.current_version = version
    journey.updated_at = clock.now()
    journey.save(update_fields=["current_version", "updated_at"])
    if actor is not None:
        audit_record(
            actor=actor, action="journey.version", obj=journey, changes={"number": version.number}
        )
    return version


def journey_launch_problems(journey: Journey) -> list[Problem]:
    """Why the journey cannot start (or resume) now; empty when it can."""
    version = journey.current_version
    if version is None:
        return [Problem(None, _("Add at least one step before starting the journey."))]
    return definition_problems(version.parsed())


def journey_launch(*, journey: Journey, actor: User | None = None) -> Journey:
    """Start a draft or resume a paused journey, after checking every reference it makes.

    Raises JourneyProblems listing them when a template, channel, segment, survey or event
    type it names does not work here: nothing changes then. This is how people start a
    journey (the staff pages, and any API); `journey_status_set` is the bare transition.
    """
    problems = journey_launch_problems(journey)
    if problems:
        raise JourneyProblems(problems)
    return journey_status_set(journey=journey, status=JourneyStatus.ACTIVE, actor=actor)


def journey_status_set(*, journey: Journey, status: str, actor: User | None = None) -> Journey:
    """Activate, pause, resume or archive. Archiving cancels every running enrollment.

    No checks of what the journey names: people start journeys through `journey_launch`.
    """
    if status not in JourneyStatus.values:
        raise JourneyError(f"unknown status {status!r}")
    if journey.status == JourneyStatus.ARCHIVED and status != JourneyStatus.ARCHIVED:
        raise JourneyError("an archived journey cannot run again; copy it instead")
    with transaction.atomic():
        journey.status = status
        journey.updated_at = clock.now()
        journey.save(update_fields=["status", "updated_at"])
        if status == JourneyStatus.ACTIVE:
            reactor_cursor_ensure()
        if status == JourneyStatus.ARCHIVED:
            journey.enrollments.filter(status=EnrollmentStatus.ACTIVE).update(
                status=EnrollmentStatus.CANCELLED,
                ended_at=clock.now(),
                next_run_at=None,
                exit_reason="journey archived",
            )
        if actor is not None:
            audit_record(
                actor=actor, action="journey.status", obj=journey, changes={"status": status}
            )
    return journey


# The event reactor's cursor row (`ReactorCursor.name`).
CURSOR = "journeys"


def reactor_cursor_ensure() -> None:
    """Start the event reactor's cursor at the end of the log, once.

    History predates every journey, so a new cursor skips it. It is placed when the first
    journey goes live (and by the reactor itself otherwise), so an order that arrives between
    the activation and the reactor's first run still starts the journey.
    """
    ReactorCursor.objects.get_or_create(
        name=CURSOR, defaults={"last_event_id": Event.objects.aggregate(m=Max("pk"))["m"] or 0}
    )


def holdout_assign(*, journey_id: int, customer_id: int, percent: int) -> bool:
    """Stable per customer and journey, so a re-entry lands in the same group."""
    digest = hashlib.sha256(f"holdout:{journey_id}:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100 < percent


def enrollment_start(
    *,
    journey: Journey,
    customer: Customer,
    key: str | None = None,
    context: Mapping[str, Any] | None = None,
    trigger_event_id: int | None = None,
    definition: Definition | None = None,
    now: dt.datetime | None = None,
) -> Enrollment | None:
    """Enroll a customer in the journey's current version, honouring the re-entry policy.

    Returns None when the policy (or an existing enrollment with the same key) says no.
    """
    version = journey.current_version
    if version is None or customer.merged_into_id is not None:
        return None
    definition = definition or version.parsed()
    now = now or clock.now()
    reentry = definition.reentry
    with refused_as(JourneyError, "context"):
        json_check(context or {})
    if key is None:
        key = _reentry_key(definition, context or {}, now, trigger_event_id)
    if key is None:
        return None
    if reentry.policy == "after_days":
        last = (
            Enrollment.objects.filter(journey=journey, customer=customer)
            .order_by("-entered_at")
            .values_list("entered_at", flat=True)
            .first()
        )
        if last is not None and last > now - dt.timedelta(days=reentry.days):
            return None
    holdout = holdout_assign(
        journey_id=journey.pk, customer_id=customer.pk, percent=definition.holdout_percent
    )
    start = definition.start
    if holdout:
        # Nothing runs; the enrollment ends when its goal window does.
        first_run = now + dt.timedelta(days=definition.goal.within_days if definition.goal else 0)
    elif definition.trigger.kind == "cart_abandoned":
        # The journey starts only if no order follows the cart within the window.
        first_run = now + dt.timedelta(hours=definition.trigger.hours)
    else:
        first_run = now
    try:
        with transaction.atomic():
            enrollment = Enrollment.objects.create(
                journey=journey,
                version=version,
                customer=customer,
                key=key,
                holdout=holdout,
                current_node=start or "",
                next_run_at=first_run,
                context=dict(context or {}),
                trigger_event_id=trigger_event_id,
                entered_at=now,
            )
            event_record(
                customer=customer,
                type="journey_entered",
                properties={
                    "journey_id": journey.pk,
                    "journey": journey.name,
                    "enrollment_id": enrollment.pk,
                    "holdout": holdout,
                },
                occurred_at=now,
                source="journeys",
            )
    except IntegrityError:
        # Only the re-entry key may clash; any other refusal is a fault, not a "no".
        if not Enrollment.objects.filter(journey=journey, customer=customer, key=key).exists():
            raise
        return None
    return enrollment


ORDER_KEY = "order:"


def _reentry_key(
    definition: Definition,
    context: Mapping[str, Any],
    now: dt.datetime,
    trigger_event_id: int | None,
) -> str | None:
    policy = definition.reentry.policy
    if policy == "once":
        return "once"
    if policy == "per_event":
        # An event read again after a crash finds its enrollment already there.
        return None if trigger_event_id is None else f"event:{trigger_event_id}"
    if policy == "per_order":
        order = context.get("order_id")
        if order is None:
            return None
        # The key column holds the order id after its prefix, or the insert would fail.
        with refused_as(JourneyError, "context.order_id"):
            TextLimit(text_limit(Enrollment, "key").length - len(ORDER_KEY)).check(str(order))
        return f"{ORDER_KEY}{order}"
    return f"at:{now:%Y%m%dT%H%M%S.%f}"
