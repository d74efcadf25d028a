"""Reads for the journey pages: counts per journey and per node.

Every function runs a fixed, small number of grouped queries, whatever the number of
journeys, nodes or enrollments. Treated-vs-holdout results come from
`lifelong.journeys.results`, the one place every page takes them from.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Count, Q
from django.db.models.fields.json import KT

from lifelong import clock
from lifelong.events.models import Event
from lifelong.journeys.models import (
    Enrollment,
    EnrollmentStatus,
    Journey,
    JourneyStatus,
    StepRun,
)
from lifelong.journeys.problems import definitions_problems
from lifelong.journeys.results import journeys_results
from lifelong.journeys.uplift import NO_GOAL, Results
from lifelong.messaging.models import Message

# The journeys list flags steps with a problem this recent: an old one fixed since is history.
PROBLEMS_RECENT = dt.timedelta(days=7)


@dataclass
class JourneyStats:
    journey: Journey
    version_number: int | None = None
    active: int = 0
    waiting: int = 0
    completed: int = 0
    converted: int = 0
    cancelled: int = 0
    holdout_active: int = 0
    holdout_total: int = 0
    results: Results = field(default=NO_GOAL)
    problems: int = 0  # problem steps within PROBLEMS_RECENT
    # What the current version names that does not work here (problems.definition_problems).
    setup_problems: int = 0

    @property
    def total(self) -> int:
        return self.active + self.completed + self.converted + self.cancelled


@dataclass(frozen=True)
class NodeCounts:
    waiting: int = 0
    passed: int = 0  # steps that did their work (a customer-level skip included)
    problems: int = 0  # steps that could not: a template or channel gone (effects.PROBLEM)
    converted: int = 0
    sent: int = 0
    opened: int = 0
    clicked: int = 0
    replied: int = 0  # the step's messages a customer answered (message_replied events)


def journey_list_stats() -> list[JourneyStats]:
    """Every journey with its counts, results and problems: five queries, and the handful
    `definitions_problems` reads once for all journeys."""
    journeys = list(
        Journey.objects.select_related("current_version").order_by("status", "name", "pk")
    )
    stats = {
        j.pk: JourneyStats(
            journey=j, version_number=j.current_version.number if j.current_version else None
        )
        for j in journeys
    }
    if not journeys:
        return []
    rows = (
        Enrollment.objects.values("journey_id", "holdout")
        .annotate(
            active=Count("pk", filter=Q(status=EnrollmentStatus.ACTIVE)),
            waiting=Count("pk", filter=Q(status=EnrollmentStatus.ACTIVE, waiting=True)),
            completed=Count("pk", filter=Q(status=EnrollmentStatus.COMPLETED)),
            # Reaching the goal after the walk ended counts too (status stays completed).
            converted=Count("pk", filter=Q(goal_met_at__isnull=False)),
            cancelled=Count("pk", filter=Q(status=EnrollmentStatus.CANCELLED)),
            total=Count("pk"),
        )
        .order_by()
    )
    for row in rows:
        entry = stats.get(row["journey_id"])
        if entry is None:  # a journey created between the two reads
            continue
        if row["holdout"]:
            entry.holdout_active = row["active"]
            entry.holdout_total = row["total"]
        else:
            entry.active = row["active"]
            entry.waiting = row["waiting"]
            entry.completed = row["completed"]
            entry.converted = row["converted"]
            entry.cancelled = row["cancelled"]
    problems = (
        StepRun.objects.filter(problem=True, ran_at__gte=clock.now() - PROBLEMS_RECENT)
        .values_list("enrollment__journey_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for journey_id, count in problems:
        if journey_id in stats:
            stats[journey_id].problems = count
    for pk, results in journeys_results(list(stats), clock.now()).items():
        stats[pk].results = results
    _setup_problems_count(stats)
    return list(stats.values())


def _setup_problems_count(stats: dict[int, JourneyStats]) -> None:
    """Count what each journey's current version names that does not work (archived ones
    never run again, so they are left alone)."""
    checked = [
        (entry, entry.journey.current_version.parsed())
        for entry in stats.values()
        if entry.journey.current_version is not None
        and entry.journey.status != JourneyStatus.ARCHIVED
    ]
    found = definitions_problems([definition for _entry, definition in checked])
    for (entry, _definition), problems in zip(checked, found, strict=True):
        entry.setup_problems = len(problems)


def node_stats(journey: Journey) -> dict[str, NodeCounts]:
    """Per node id: waiting there now, steps run, converters who passed it, message funnel
    (sent, opened, clicked, replied to)."""
    waiting = dict(
        Enrollment.objects.filter(journey=journey, status=EnrollmentStatus.ACTIVE, holdout=False)
        .exclude(current_node="")
        .values_list("current_node")
        .annotate(n=Count("pk"))
        .order_by()
    )
    steps = {
        row["node_id"]: row
        for row in StepRun.objects.filter(enrollment__journey=journey)
        .values("node_id")
        .annotate(
            passed=Count("pk", filter=Q(problem=False)),
            problems=Count("pk", filter=Q(problem=True)),
            converted=Count(
                "enrollment_id", distinct=True, filter=Q(enrollment__goal_met_at__isnull=False)
            ),
        )
        .order_by()
    }
    sends = {
        row["node_id"]: row
        for row in Message.objects.filter(journey_id=journey.pk)
        .values("node_id")
        .annotate(
            sent=Count("pk", filter=Q(sent_at__isnull=False)),
            opened=Count("pk", filter=Q(opened_at__isnull=False)),
            clicked=Count("pk", filter=Q(clicked_at__isnull=False)),
        )
        .order_by()
    }
    # A reply names the message it answers (its journey and node): counted once per message.
    replies = dict(
        Event.objects.filter(type="message_replied", properties__journey_id=journey.pk)
        .annotate(node=KT("properties__node_id"))
        .values_list("node")
        .annotate(n=Count(KT("properties__message_id"), distinct=True))
        .order_by()
    )
    counts = {}
    for node_id in set(waiting) | set(steps) | set(sends):
        step = steps.get(node_id, {})
        send = sends.get(node_id, {})
        counts[node_id] = NodeCounts(
            waiting=waiting.get(node_id, 0),
            passed=step.get("passed", 0),
            problems=step.get("problems", 0),
            converted=step.get("converted", 0),
            sent=send.get("sent", 0),
            opened=send.get("opened", 0),
            clicked=send.get("clicked", 0),
            replied=replies.get(node_id, 0),
        )
    return counts
