"""Writes: teams and goals, audited. Who may call them (owner only) is the views' business."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from lifelong import clock
from lifelong.accounts.models import User
from lifelong.accounts.services import audit_record
from lifelong.lib.errors import DomainError
from lifelong.team.metrics import FLOOR
from lifelong.team.models import Goal, Metric, PeriodKind, Team
from lifelong.team.periods import period_bounds

MAX_TARGET = Decimal("1000000")


class GoalError(DomainError):
    pass


def team_save(*, team: Team | None, name: str, members: list[User], actor: User) -> Team:
    """Create or rename a team and set its members."""
    name = " ".join(name.split())
    if not name:
        raise GoalError(_("Give the team a name."), field="name")
    with transaction.atomic():
        if team is None:
            team = Team(name=name)
        team.name = name
        try:
            with transaction.atomic():
                team.save()
        except IntegrityError:
            raise GoalError(_("A team with this name already exists."), field="name") from None
        team.members.set(members)
        audit_record(
            actor=actor,
            action="team.saved",
            obj=team,
            changes={"name": name, "members": sorted(u.pk for u in members)},
        )
    return team


def goal_save(
    *,
    goal: Goal | None,
    metric: str,
    user: User | None,
    team: Team | None,
    period: str,
    day: dt.date,
    end: dt.date | None = None,
    target: Decimal,
    actor: User,
) -> Goal:
    """Create or change a goal. A month or quarter goal covers the whole period holding `day`;
    a custom one runs from `day` to `end`, both included."""
    if metric not in Metric.values:
        raise GoalError(_("Choose what the goal measures."), field="metric")
    if (user is None) == (team is None):
        raise GoalError(_("Choose a staff member or a team."), field="user")
    if period == PeriodKind.CUSTOM:
        if end is None or end < day:
            raise GoalError(_("The end must be on or after the start."), field="end")
        start = day
    elif period in PeriodKind.values:
        start, end = period_bounds(period, day)
    else:
        raise GoalError(_("Choose a period."), field="period")
    floor = Decimal(str(FLOOR.get(metric, 0.0)))
    if not floor <= target <= MAX_TARGET:
        raise GoalError(_("The target is out of range."), field="target")
    if metric in (Metric.TASKS_ON_TIME_SHARE, Metric.NEXT_STEP, Metric.RETENTION) and target > 100:
        raise GoalError(_("A share is at most 100 %."), field="target")
    if metric == Metric.NPS and target > 100:
        raise GoalError(_("NPS is at most 100."), field="target")
    goal = goal or Goal(created_by=actor)
    goal.metric, goal.user, goal.team, goal.period = metric, user, team, period
    goal.start, goal.end, goal.target, goal.updated_at = start, end, target, clock.now()
    try:
        with transaction.atomic():
            goal.save()
            audit_record(
                actor=actor,
                action="team.goal_saved",
                obj=goal,
                changes={
                    "metric": metric,
                    "user": user.pk if user else None,
                    "team": team.pk if team else None,
                    "start": start.isoformat(),
                    "end": end.isoformat(),
                    "target": str(target),
                },
            )
    except IntegrityError:
        raise GoalError(
            _("There is already such a goal for this period: change that one."), field="metric"
        ) from None
    return goal


def goal_delete(*, goal: Goal, actor: User) -> None:
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="team.goal_deleted",
            obj=goal,
            changes={"metric": goal.metric, "start": goal.start.isoformat()},
        )
        goal.delete()
