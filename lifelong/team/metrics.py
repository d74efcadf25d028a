"""The figures staff goals are measured by: one function per figure, each one grouped query
(GROUP BY staff member), so the home page, the owner's report and the milestone sweep show the
same number and cost the same few queries for three staff members or three hundred.

Definitions, over a window of days [start, end] in the shop's time zone, read up to `now`:
- tasks done on time: the member's tasks (assignee) due in the window, due before now, not
  cancelled; on time = done at or before the due time. Count = the on-time ones, share = on time
  / all of them. A task still open past its due time counts against the share.
- first response: for each conversation whose first staff reply was written in the window, the
  hours from the conversation opening (its first item) to that reply, credited to the reply's
  author; the figure is the median.
- next step: of the customers they manage (personal manager), the share with a task open at
  the window's end (or now, while it runs), whoever it is assigned to.
- retention: of the customers they manage who bought in the year before the window, the share
  who bought again within it (cancelled and refunded orders are not purchases). While the window
  runs the figure can only rise: it is marked incomplete, never final.
- NPS: answers to NPS surveys submitted in the window by the customers they manage: % promoters
  (9–10) − % detractors (0–6); no figure below MIN_NPS_ANSWERS answers.
- reviews collected: outside reviews (Yandex Maps, 2GIS, a marketplace, other) received in the
  window from the customers they manage.
- praise received: positive inbox items received in the window that name them (the same rule
  as the Insights page's praised staff: a complaint or a neutral mention is not praise).
"Customers they manage" is today's personal manager: the assignment keeps no history.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from lifelong.commerce.models import Order, OrderStatus
from lifelong.customers.models import Customer
from lifelong.feedback.models import REVIEW_SOURCES, Item, Reply, Response, SurveyKind
from lifelong.followups.models import Task, TaskStatus
from lifelong.team.models import Metric

K = TypeVar("K")
MIN_NPS_ANSWERS = 10
PROMOTER_MIN, DETRACTOR_MAX = 9, 6
ACTIVE_BEFORE = dt.timedelta(days=365)
NOT_PURCHASES = (OrderStatus.CANCELLED, OrderStatus.REFUNDED)
LOWER_IS_BETTER = frozenset({Metric.FIRST_RESPONSE})
# The lowest value a figure can take: progress is measured from there to the target.
FLOOR: dict[str, float] = {Metric.NPS: -100.0}
# Figures that count things, so a round number of them (the 100th) is worth telling.
COUNTED = (Metric.TASKS_ON_TIME, Metric.REVIEWS, Metric.PRAISE)
ALMOST_ONE = math.nextafter(1.0, 0.0)


def day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time()))


@dataclass(frozen=True)
class Window:
    """Days [start, end] (both included) as read at `now`."""

    start: dt.date
    end: dt.date
    now: dt.datetime

    @property
    def since(self) -> dt.datetime:
        return day_start(self.start)

    @property
    def until(self) -> dt.datetime:
        return day_start(self.end + dt.timedelta(days=1))

    @property
    def upto(self) -> dt.datetime:
        """Where reading stops: the window's end, or now while it runs."""
        return max(self.since, min(self.until, self.now))

    @property
    def complete(self) -> bool:
        return self.now >= self.until


@dataclass(frozen=True)
class Parts:
    """What a figure is made of, for one member or pooled for a team: `n` is the base (tasks
    due, customers, answers), `hits` what counts (on time, with a next step, bought again,
    promoters, reviews, praise), `misses` the detractors, `samples` the response hours."""

    n: int = 0
    hits: int = 0
    misses: int = 0
    samples: tuple[float, ...] = field(default=())

    def __add__(self, other: Parts) -> Parts:
        return Parts(
            n=self.n + other.n,
            hits=self.hits + other.hits,
            misses=self.misses + other.misses,
            samples=self.samples + other.samples,
        )


@dataclass(frozen=True)
class Figure:
    metric: str
    value: float | None  # None: nothing to measure yet (no tasks due, too few answers)
    parts: Parts
    complete: bool  # the window has ended: the figure is final


def _share(parts: Parts) -> float | None:
    return 100.0 * parts.hits / parts.n if parts.n else None


def value_of(metric: str, parts: Parts) -> float | None:
    """The figure a metric makes of its parts."""
    if metric in (Metric.TASKS_ON_TIME, Metric.REVIEWS, Metric.PRAISE):
        return float(parts.hits)
    if metric == Metric.FIRST_RESPONSE:
        return statistics.median(parts.samples) if parts.samples else None
    if metric == Metric.NPS:
        if parts.n < MIN_NPS_ANSWERS:
            return None
        return 100.0 * (parts.hits - parts.misses) / parts.n
    return _share(parts)


def _rows(qs: QuerySet, key: str, **counts: Count) -> dict[int, Parts]:
    rows = qs.order_by().values(key).annotate(**counts)
    return {
        row[key]: Parts(n=row.get("n", 0), hits=row.get("hits", 0), misses=row.get("misses", 0))
        for row in rows
    }


def _tasks(window: Window, users: Collection[int]) -> dict[int, Parts]:
    due = Task.objects.filter(
        assignee__in=users, due_at__gte=window.since, due_at__lt=window.upto
    ).exclude(status=TaskStatus.CANCELLED)
    on_time = Q(status=TaskStatus.DONE, completed_at__lte=F("due_at"))
    return _rows(due, "assignee", n=Count("pk"), hits=Count("pk", filter=on_time))


def _first_responses(window: Window, users: Collection[int]) -> dict[int, Parts]:
    earlier = Reply.objects.filter(conversation=OuterRef("conversation")).filter(
        Q(created_at__lt=OuterRef("created_at"))
        | Q(created_at=OuterRef("created_at"), pk__lt=OuterRef("pk"))
    )
    rows = (
        Reply.objects.filter(
            author__in=users, created_at__gte=window.since, created_at__lt=window.upto
        )
        .exclude(Exists(earlier))
        .values_list("author", "created_at", "conversation__opened_at")
        .order_by("author", "created_at", "pk")
    )
    hours: dict[int, list[float]] = {}
    for author, replied, opened in rows:
        hours.setdefault(author, []).append(max(0.0, (replied - opened).total_seconds() / 3600))
    return {user: Parts(n=len(h), samples=tuple(h)) for user, h in hours.items()}


def _managed(users: Collection[int]) -> QuerySet[Customer]:
    return Customer.objects.live().filter(personal_manager__in=users)


def _next_step(window: Window, users: Collection[int]) -> dict[int, Parts]:
    at = window.upto
    open_then = Task.objects.filter(customer=OuterRef("pk"), created_at__lte=at).exclude(
        status=TaskStatus.CANCELLED
    )
    open_then = open_then.filter(Q(completed_at__isnull=True) | Q(completed_at__gt=at))
    managed = _managed(users).annotate(stepped=Exists(open_then))
    return _rows(
        managed, "personal_manager", n=Count("pk"), hits=Count("pk", filter=Q(stepped=True))
    )


def _retention(window: Window, users: Collection[int]) -> dict[int, Parts]:
    purchases = Order.objects.filter(customer=OuterRef("pk")).exclude(status__in=NOT_PURCHASES)
    before = purchases.filter(
        placed_at__gte=window.since - ACTIVE_BEFORE, placed_at__lt=window.since
    )
    during = purchases.filter(placed_at__gte=window.since, placed_at__lt=window.upto)
    active = _managed(users).filter(Exists(before)).annotate(again=Exists(during))
    return _rows(active, "personal_manager", n=Count("pk"), hits=Count("pk", filter=Q(again=True)))


def _nps(window: Window, users: Collection[int]) -> dict[int, Parts]:
    answers = Response.objects.filter(
        survey__kind=SurveyKind.NPS,
        score__isnull=False,
        submitted_at__gte=window.since,
        submitted_at__lt=window.upto,
        customer__personal_manager__in=users,
        customer__merged_into__isnull=True,
    )
    return _rows(
        answers,
        "customer__personal_manager",
        n=Count("pk"),
        hits=Count("pk", filter=Q(score__gte=PROMOTER_MIN)),
        misses=Count("pk", filter=Q(score__lte=DETRACTOR_MAX)),
    )


def _reviews(window: Window, users: Collection[int]) -> dict[int, Parts]:
    reviews = Item.objects.filter(
        source__in=REVIEW_SOURCES,
        received_at__gte=window.since,
        received_at__lt=window.upto,
        conversation__customer__personal_manager__in=users,
    )
    return _rows(reviews, "conversation__customer__personal_manager", hits=Count("pk"))


def _praise(window: Window, users: Collection[int]) -> dict[int, Parts]:
    mentions = Item.mentioned_staff.through.objects.filter(
        user__in=users,
        item__sentiment="positive",
        item__received_at__gte=window.since,
        item__received_at__lt=window.upto,
    )
    return _rows(mentions, "user", hits=Count("item"))


_PARTS = {
    Metric.TASKS_ON_TIME: _tasks,
    Metric.TASKS_ON_TIME_SHARE: _tasks,
    Metric.FIRST_RESPONSE: _first_responses,
    Metric.NEXT_STEP: _next_step,
    Metric.RETENTION: _retention,
    Metric.NPS: _nps,
    Metric.REVIEWS: _reviews,
    Metric.PRAISE: _praise,
}


def parts_by_user(metric: str, window: Window, users: Collection[int]) -> dict[int, Parts]:
    """Each member's parts of the figure over the window: one query whatever their number."""
    if not users:
        return {}
    return _PARTS[Metric(metric)](window, list(users))


def figures(metric: str, window: Window, groups: Mapping[K, Collection[int]]) -> dict[K, Figure]:
    """The figure for each group of staff members (a person is a group of one, a team its
    members): their parts pooled (a team's median is the median of all its members' replies,
    its share counts all their customers), from one query for every group together."""
    everyone = {user for members in groups.values() for user in members}
    parts = parts_by_user(metric, window, everyone)
    out: dict[K, Figure] = {}
    for key, members in groups.items():
        pooled = sum((parts.get(user, Parts()) for user in set(members)), Parts())
        out[key] = Figure(
            metric=metric,
            value=value_of(metric, pooled),
            parts=pooled,
            complete=window.complete,
        )
    return out


def progress(metric: str, value: float | None, target: float) -> float:
    """How far the figure has come towards the target, from 0 to 1 (1: reached)."""
    if value is None:
        return 0.0
    if metric in LOWER_IS_BETTER:
        if value <= target:
            return 1.0
        # Above the target: how many times over it, read as a share (twice the target: 0.5).
        return max(0.0, min(1.0, target / value)) if value > 0 else 0.0
    floor = FLOOR.get(metric, 0.0)
    if target <= floor:
        return 1.0 if value >= target else 0.0
    share = max(0.0, min(1.0, (value - floor) / (target - floor)))
    # Rounding must not show a bar full before the target is reached.
    return share if value >= target else min(share, ALMOST_ONE)


def reached(metric: str, value: float | None, target: float) -> bool:
    if value is None:
        return False
    return value <= target if metric in LOWER_IS_BETTER else value >= target
