"""Goal and team editing: the owner's pages (manage_accounts). Each goal and team reached by id
comes through `object_get` with the same permission."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from lifelong import clock
from lifelong.accounts.permissions import MANAGE_ACCOUNTS
from lifelong.team import services
from lifelong.team.models import Goal, Team
from lifelong.team.selectors import goals_progress
from lifelong.web.access import object_get, require, staff_user
from lifelong.web.forms_team import GoalForm, TeamForm

SHOWN_GOALS = 100


def _goals_page(
    request: HttpRequest,
    *,
    goal_form: GoalForm | None = None,
    team_form: TeamForm | None = None,
    status: int = 200,
) -> HttpResponse:
    now = clock.now()
    today = timezone.localdate(now)
    goals = (
        Goal.objects.filter(end__gte=today.replace(day=1))
        .select_related("user", "team")
        .order_by("start", "team_id", "user_id", "metric", "pk")[:SHOWN_GOALS]
    )
    context: dict[str, Any] = {
        "rows": goals_progress(goals, now=now),
        "teams": list(Team.objects.prefetch_related("members").order_by("name", "pk")),
        "goal_form": goal_form or GoalForm(initial={"day": today, "period": "month"}),
        "team_form": team_form or TeamForm(),
    }
    return render(request, "web/team/goals.html", context, status=status)


@require(MANAGE_ACCOUNTS)
def team_goals(request: HttpRequest) -> HttpResponse:
    return _goals_page(request)


def _goal_apply(request: HttpRequest, form: GoalForm, goal: Goal | None) -> Goal | None:
    if not form.is_valid():
        return None
    user, team = form.owner()
    data = form.cleaned_data
    try:
        return services.goal_save(
            goal=goal,
            metric=data["metric"],
            user=user,
            team=team,
            period=data["period"],
            day=data["day"],
            end=data["end"],
            target=data["target"],
            actor=staff_user(request),
        )
    except services.GoalError as exc:
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        return None


@require(MANAGE_ACCOUNTS)
@require_POST
def team_goal_add(request: HttpRequest) -> HttpResponse:
    form = GoalForm(request.POST)
    if _goal_apply(request, form, None) is None:
        return _goals_page(request, goal_form=form, status=400)
    messages.success(request, _("Goal saved."))
    return redirect("web:team_goals")


@require(MANAGE_ACCOUNTS)
def team_goal_edit(request: HttpRequest, pk: int) -> HttpResponse:
    goal = object_get(request, Goal, pk, MANAGE_ACCOUNTS)
    form = GoalForm(request.POST) if request.method == "POST" else GoalForm.of(goal)
    status = 200
    if request.method == "POST":
        if _goal_apply(request, form, goal) is not None:
            messages.success(request, _("Goal saved."))
            return redirect("web:team_goals")
        status = 400
    return render(request, "web/team/goal_edit.html", {"goal": goal, "form": form}, status=status)


@require(MANAGE_ACCOUNTS)
@require_POST
def team_goal_delete(request: HttpRequest, pk: int) -> HttpResponse:
    goal = object_get(request, Goal, pk, MANAGE_ACCOUNTS)
    services.goal_delete(goal=goal, actor=staff_user(request))
    messages.success(request, _("Goal deleted."))
    return redirect("web:team_goals")


def _team_apply(request: HttpRequest, form: TeamForm, team: Team | None) -> Team | None:
    if not form.is_valid():
        return None
    try:
        return services.team_save(
            team=team,
            name=form.cleaned_data["name"],
            members=list(form.cleaned_data["members"]),
            actor=staff_user(request),
        )
    except services.GoalError as exc:
        form.add_error("name", exc.message)
        return None


@require(MANAGE_ACCOUNTS)
@require_POST
def team_add(request: HttpRequest) -> HttpResponse:
    form = TeamForm(request.POST)
    if _team_apply(request, form, None) is None:
        return _goals_page(request, team_form=form, status=400)
    messages.success(request, _("Team saved."))
    return redirect("web:team_goals")


@require(MANAGE_ACCOUNTS)
def team_edit(request: HttpRequest, pk: int) -> HttpResponse:
    team = object_get(request, Team, pk, MANAGE_ACCOUNTS)
    if request.method == "POST":
        form = TeamForm(request.POST)
        if _team_apply(request, form, team) is not None:
            messages.success(request, _("Team saved."))
            return redirect("web:team_goals")
        status = 400
    else:
        form = TeamForm(initial={"name": team.name, "members": list(team.members.all())})
        status = 200
    return render(request, "web/team/team_edit.html", {"team": team, "form": form}, status=status)
