"""Reads shared by the home page, the report, the goal pages and the sweeps: goals with their
progress, the per-manager trend, and the praise staff received. Queries grow with the number of
distinct (metric, period) pairs shown, never with the number of staff members."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from lifelong import clock
from lifelong.accounts.models import User
from lifelong.feedback.models import Item
from lifelong.team.metrics import Figure, Window, figures, progress, reached
from lifelong.team.models import Goal, Milestone, Team
from lifelong.team.periods import periods_back

PRAISE_DAYS = 30
PRAISE_SHOWN = 5
NOTICE_DAYS = 14
NOTICES_SHOWN = 5


@dataclass(frozen=True)
class GoalProgress:
    goal: Goal
    figure: Figure
    share: float  # 0…1, how far towards the target
    reached: bool

    @property
    def percent(self) -> int:
        return int(self.share * 100)

    @property
    def in_progress(self) -> bool:
        return not self.figure.complete


def team_members(team_ids: Iterable[int]) -> dict[int, list[int]]:
    """Each team's member ids (one query)."""
    members: dict[int, list[int]] = defaultdict(list)
    rows = Team.members.through.objects.filter(team_id__in=set(team_ids)).order_by("user_id")
    for team_id, user_id in rows.values_list("team_id", "user_id"):
        members[team_id].append(user_id)
    return members


def goals_progress(goals: Iterable[Goal], *, now: dt.datetime | None = None) -> list[GoalProgress]:
    """Each goal with its figure so far: one query per distinct (metric, period) pair."""
    now = now or clock.now()
    goals = list(goals)
    members = team_members(g.team_id for g in goals if g.team_id)
    by_window: dict[tuple[str, dt.date, dt.date], list[Goal]] = defaultdict(list)
    for goal in goals:
        by_window[(goal.metric, goal.start, goal.end)].append(goal)
    found: dict[int, Figure] = {}
    for (metric, start, end), group in by_window.items():
        window = Window(start=start, end=end, now=now)
        groups = {g.pk: _members_of(g, members) for g in group}
        found.update(figures(metric, window, groups))
    out = []
    for goal in goals:
        figure, target = found[goal.pk], float(goal.target)
        out.append(
            GoalProgress(
                goal=goal,
                figure=figure,
                share=progress(goal.metric, figure.value, target),
                reached=reached(goal.metric, figure.value, target),
            )
        )
    return out


def _members_of(goal: Goal, members: dict[int, list[int]]) -> list[int]:
    if goal.team_id is not None:
        return members.get(goal.team_id, [])
    return [goal.user_id] if goal.user_id is not None else []


def goals_of(user: User, *, today: dt.date) -> QuerySet[Goal]:
    """The goals running today for the member and for the teams they are in."""
    return (
        Goal.objects.filter(start__lte=today, end__gte=today)
        .filter(Q(user=user) | Q(team__members=user))
        .select_related("user", "team")
        .distinct()
        .order_by("team_id", "metric", "pk")
    )


def notices_for(user: User, *, now: dt.datetime | None = None) -> list[Milestone]:
    """The milestones of the last NOTICE_DAYS days the member should hear of: their own, their
    teams', and their teammates' (the whole staff when they are in no team)."""
    since = (now or clock.now()) - dt.timedelta(days=NOTICE_DAYS)
    rows = Milestone.objects.filter(reached_at__gte=since).select_related("user", "team", "goal")
    teams = list(Team.objects.filter(members=user).values_list("pk", flat=True))
    if teams:
        mates = Team.members.through.objects.filter(team_id__in=teams).values("user_id")
        rows = rows.filter(Q(user=user) | Q(team_id__in=teams) | Q(user_id__in=mates))
    return list(rows.order_by("-reached_at", "-pk")[:NOTICES_SHOWN])


def praise_of(
    user: User | None, *, now: dt.datetime | None = None, limit: int = PRAISE_SHOWN
) -> list[Item]:
    """Positive inbox items of the last PRAISE_DAYS days naming `user` (any staff member when
    None, for the owner), newest first, with the staff they name and the customer."""
    since = (now or clock.now()) - dt.timedelta(days=PRAISE_DAYS)
    items = Item.objects.filter(sentiment="positive", received_at__gte=since)
    items = (
        items.filter(mentioned_staff=user) if user else items.filter(mentioned_staff__isnull=False)
    )
    return list(
        items.distinct()
        .select_related("conversation__customer")
        .prefetch_related(Prefetch("mentioned_staff", queryset=User.objects.order_by("pk")))
        .order_by("-received_at", "-pk")[:limit]
    )


@dataclass(frozen=True)
class TrendRow:
    name: str
    team: bool  # a team's pooled figure, not one member's
    figures: list[Figure]  # one per period, oldest first
    targets: list[float | None]  # the member's or team's own goal for that period, if any

    @property
    def cells(self) -> list[tuple[Figure, float | None]]:
        return list(zip(self.figures, self.targets, strict=True))


@dataclass(frozen=True)
class Trend:
    metric: str
    periods: list[tuple[dt.date, dt.date]]
    rows: list[TrendRow]  # active staff members, then teams


def manager_trend(
    metric: str, *, kind: str = "month", count: int = 6, now: dt.datetime | None = None
) -> Trend:
    """Every active staff member's figure over the last `count` periods, the current one last
    (incomplete while it runs), with their own targets, then each team's pooled figure: one
    query per period, one for the goals, two for staff and teams."""
    now = now or clock.now()
    periods = periods_back(kind, today=timezone.localdate(now), count=count)
    staff = list(User.objects.filter(is_active=True).order_by("first_name", "username", "pk"))
    teams = list(Team.objects.order_by("name", "pk"))
    members = team_members(t.pk for t in teams)
    groups: dict[tuple[str, int], list[int]] = {("u", u.pk): [u.pk] for u in staff}
    groups |= {("t", t.pk): members.get(t.pk, []) for t in teams}
    by_period = [figures(metric, Window(start=s, end=e, now=now), groups) for s, e in periods]
    targets: dict[tuple[str, int | None, dt.date, dt.date], float] = {}
    goals = Goal.objects.filter(metric=metric, start__in=[s for s, _e in periods])
    for goal in goals.filter(Q(user__in=staff) | Q(team__in=teams)):
        whose = ("t", goal.team_id) if goal.team_id else ("u", goal.user_id)
        targets[(*whose, goal.start, goal.end)] = float(goal.target)
    named = [(("u", u.pk), u.get_full_name() or u.get_username()) for u in staff]
    named += [(("t", t.pk), t.name) for t in teams]
    rows = [
        TrendRow(
            name=name,
            team=key[0] == "t",
            figures=[found[key] for found in by_period],
            targets=[targets.get((key[0], key[1], s, e)) for s, e in periods],
        )
        for key, name in named
    ]
    return Trend(metric=metric, periods=periods, rows=rows)
