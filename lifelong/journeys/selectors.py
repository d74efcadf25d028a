"""Reads for the journey pages: counts per journey and per node, and treated-vs-holdout results.

Every function runs a fixed, small number of grouped queries, whatever the number of
journeys, nodes or enrollments.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass, field
from statistics import NormalDist

from django.db.models import Count, Q

from lifelong import clock
from lifelong.journeys.models import (
    Enrollment,
    EnrollmentStatus,
    Journey,
    JourneyVersion,
    StepRun,
)
from lifelong.messaging.models import Message

Z95 = NormalDist().inv_cdf(0.975)
# The journeys list flags steps with a problem this recent: an old one fixed since is history.
PROBLEMS_RECENT = dt.timedelta(days=7)


@dataclass(frozen=True)
class Uplift:
    diff: float
    low: float
    high: float

    @property
    def significant(self) -> bool:
        return self.low > 0 or self.high < 0

    # In percentage points, for display.
    @property
    def diff_pp(self) -> float:
        return 100 * self.diff

    @property
    def low_pp(self) -> float:
        return 100 * self.low

    @property
    def high_pp(self) -> float:
        return 100 * self.high


@dataclass(frozen=True)
class Arm:
    """One side of the comparison: enrollments whose outcome is known, and those that converted."""

    n: int = 0
    converted: int = 0

    @property
    def rate(self) -> float | None:
        return self.converted / self.n if self.n else None

    @property
    def percent(self) -> float | None:
        return 100 * self.converted / self.n if self.n else None


@dataclass(frozen=True)
class Results:
    treated: Arm
    holdout: Arm
    uplift: Uplift | None
    has_goal: bool


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
    treated_arm: Arm = field(default_factory=Arm)
    holdout_arm: Arm = field(default_factory=Arm)
    has_goal: bool = False
    problems: int = 0  # problem steps within PROBLEMS_RECENT

    @property
    def total(self) -> int:
        return self.active + self.completed + self.converted + self.cancelled

    @property
    def results(self) -> Results:
        return _results(self.treated_arm, self.holdout_arm, self.has_goal)


@dataclass(frozen=True)
class NodeCounts:
    waiting: int = 0
    passed: int = 0  # steps that did their work (a customer-level skip included)
    problems: int = 0  # steps that could not: a template or channel gone (effects.PROBLEM)
    converted: int = 0
    sent: int = 0
    opened: int = 0
    clicked: int = 0


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval for one proportion."""
    if n <= 0:
        raise ValueError("n must be positive")
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def uplift_interval(conv_t: int, n_t: int, conv_h: int, n_h: int) -> tuple[float, float, float]:
    """Difference of conversion rates (treated − holdout) with a 95 % interval.

    Newcombe's hybrid score interval (method 10 in Newcombe 1998): it combines the two
    Wilson intervals, so unlike Wald it stays inside [-1, 1] and keeps its coverage for
    the small groups and rates near 0 that a small shop's holdout produces.
    """
    if n_t <= 0 or n_h <= 0:
        raise ValueError("both groups need at least one enrollment")
    p_t, p_h = conv_t / n_t, conv_h / n_h
    low_t, high_t = wilson_interval(conv_t, n_t)
    low_h, high_h = wilson_interval(conv_h, n_h)
    diff = p_t - p_h
    low = diff - math.sqrt((p_t - low_t) ** 2 + (high_h - p_h) ** 2)
    high = diff + math.sqrt((high_t - p_t) ** 2 + (p_h - low_h) ** 2)
    return diff, low, high


def _results(treated: Arm, holdout: Arm, has_goal: bool) -> Results:
    uplift = None
    if treated.n and holdout.n:
        uplift = Uplift(
            *uplift_interval(treated.converted, treated.n, holdout.converted, holdout.n)
        )
    return Results(treated=treated, holdout=holdout, uplift=uplift, has_goal=has_goal)


def _decided_q(journey_ids: list[int], now: dt.datetime) -> tuple[Q, set[int]]:
    """Enrollments whose goal outcome is known: converted, or their goal window is over.

    The window is the version's own (it may differ between versions). Returns the filter
    and the journeys that have a goal in any version.
    """
    by_days: dict[int, list[int]] = defaultdict(list)
    with_goal: set[int] = set()
    for pk, journey_id, days in JourneyVersion.objects.filter(
        journey_id__in=journey_ids
    ).values_list("pk", "journey_id", "definition__goal__within_days"):
        if days is None:
            continue
        by_days[int(days)].append(pk)
        with_goal.add(journey_id)
    decided = Q(goal_met_at__isnull=False)
    for days, versions in by_days.items():
        decided |= Q(version_id__in=versions, entered_at__lte=now - dt.timedelta(days=days))
    decided &= ~Q(status=EnrollmentStatus.CANCELLED)
    return decided, with_goal


def journey_list_stats() -> list[JourneyStats]:
    """Every journey with its enrollment counts and recent problems: four queries in all."""
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
    decided, with_goal = _decided_q(list(stats), clock.now())
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
            decided=Count("pk", filter=decided),
            goal_met=Count("pk", filter=decided & Q(goal_met_at__isnull=False)),
        )
        .order_by()
    )
    for row in rows:
        entry = stats.get(row["journey_id"])
        if entry is None:  # a journey created between the two reads
            continue
        arm = Arm(n=row["decided"], converted=row["goal_met"])
        if row["holdout"]:
            entry.holdout_active = row["active"]
            entry.holdout_total = row["total"]
            entry.holdout_arm = arm
        else:
            entry.active = row["active"]
            entry.waiting = row["waiting"]
            entry.completed = row["completed"]
            entry.converted = row["converted"]
            entry.cancelled = row["cancelled"]
            entry.treated_arm = arm
    problems = (
        StepRun.objects.filter(problem=True, ran_at__gte=clock.now() - PROBLEMS_RECENT)
        .values_list("enrollment__journey_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for journey_id, count in problems:
        if journey_id in stats:
            stats[journey_id].problems = count
    for pk, entry in stats.items():
        entry.has_goal = pk in with_goal
    return list(stats.values())


def journey_results(journey: Journey) -> Results:
    """Treated against holdout conversion for one journey, with the uplift interval."""
    decided, with_goal = _decided_q([journey.pk], clock.now())
    arms = {
        row["holdout"]: Arm(n=row["n"], converted=row["goal_met"])
        for row in Enrollment.objects.filter(decided, journey=journey)
        .values("holdout")
        .annotate(n=Count("pk"), goal_met=Count("pk", filter=Q(goal_met_at__isnull=False)))
        .order_by()
    }
    return _results(arms.get(False, Arm()), arms.get(True, Arm()), journey.pk in with_goal)


def node_stats(journey: Journey) -> dict[str, NodeCounts]:
    """Per node id: waiting there now, steps run, converters who passed it, message funnel."""
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
        )
    return counts
