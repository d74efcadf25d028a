"""The team pages through the Django client: goals set and changed by the owner only (every
goal and team reached by id checked), progress and praise on the home page, and the report's
query count that does not grow with the staff."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from lifelong.accounts.models import Role
from lifelong.factories import UserFactory
from lifelong.team.models import Goal, Metric, Milestone, MilestoneKind, Team
from lifelong.team.tests.conftest import MARCH, at, said, task
from lifelong.web.tests.conftest import logged_in, staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def olga(db):
    return UserFactory.create(
        username="olga", first_name="Ольга", last_name="Кузнецова", role=Role.SUPPORT
    )


@pytest.fixture
def ivan(db):
    return UserFactory.create(username="ivan", first_name="Иван", role=Role.SUPPORT)


def test_the_owner_sets_a_goal_for_a_member_and_changes_it(olga, frozen_time):
    client = logged_in(staff(Role.OWNER, "anna"))
    response = client.post(
        reverse("web:team_goal_add"),
        {
            "who": f"u:{olga.pk}",
            "metric": Metric.TASKS_ON_TIME,
            "period": "month",
            "day": "2026-03-15",
            "target": "40",
        },
    )
    assert response.status_code == 302
    goal = Goal.objects.get()
    assert (goal.user, goal.start, goal.end, goal.target) == (olga, *MARCH, Decimal("40"))
    page = client.get(reverse("web:team_goals")).content.decode()
    assert f'id="goal-{goal.pk}"' in page and "Ольга Кузнецова" in page
    response = client.post(
        reverse("web:team_goal_edit", args=[goal.pk]),
        {
            "who": f"u:{olga.pk}",
            "metric": Metric.NPS,
            "period": "quarter",
            "day": "2026-03-15",
            "target": "150",
        },
    )
    assert response.status_code == 400
    assert "NPS" in response.content.decode()
    goal.refresh_from_db()
    assert goal.metric == Metric.TASKS_ON_TIME


def test_a_team_goal_for_a_new_team(olga, ivan, frozen_time):
    client = logged_in(staff(Role.OWNER, "anna"))
    response = client.post(reverse("web:team_add"), {"name": "Зал", "members": [olga.pk, ivan.pk]})
    assert response.status_code == 302
    team = Team.objects.get()
    assert set(team.members.all()) == {olga, ivan}
    client.post(
        reverse("web:team_goal_add"),
        {
            "who": f"t:{team.pk}",
            "metric": Metric.REVIEWS,
            "period": "custom",
            "day": "2026-03-01",
            "end": "2026-03-10",
            "target": "5",
        },
    )
    goal = Goal.objects.get(team=team)
    assert (goal.start, goal.end) == (dt.date(2026, 3, 1), dt.date(2026, 3, 10))


@pytest.mark.parametrize("role", [Role.MARKETER, Role.SUPPORT, Role.ANALYST])
def test_other_roles_cannot_reach_a_goal_or_team_by_id(olga, role, frozen_time):
    goal = Goal.objects.create(
        metric=Metric.REVIEWS, user=olga, start=MARCH[0], end=MARCH[1], target=5
    )
    team = Team.objects.create(name="Зал")
    client = logged_in(staff(role))
    assert client.get(reverse("web:team_goal_edit", args=[goal.pk])).status_code == 403
    assert client.post(reverse("web:team_goal_delete", args=[goal.pk])).status_code == 403
    assert client.post(reverse("web:team_edit", args=[team.pk]), {"name": "x"}).status_code == 403
    assert Goal.objects.filter(pk=goal.pk).exists()
    assert Team.objects.get().name == "Зал"


def test_the_home_page_shows_my_goals_news_and_praise(olga, frozen_time):
    Goal.objects.create(
        metric=Metric.TASKS_ON_TIME, user=olga, start=MARCH[0], end=MARCH[1], target=4
    )
    task(olga, due=at(dt.date(2026, 3, 1), 10), done=at(dt.date(2026, 3, 1), 9))
    said("Спасибо Ольге, всё быстро объяснила!", when=at(dt.date(2026, 2, 25)))
    Milestone.objects.create(
        key="round:x", kind=MilestoneKind.ROUND, metric=Metric.REVIEWS, user=olga, value=50
    )
    page = logged_in(olga).get(reverse("web:home")).content.decode()
    assert 'id="my-goals"' in page and '<progress value="25" max="100"' in page
    assert "в процессе" in page or "in progress" in page
    assert "«Спасибо Ольге, всё быстро объяснила!»" in page
    assert 'id="team-news"' in page
    owner_page = logged_in(staff(Role.OWNER, "anna")).get(reverse("web:home")).content.decode()
    assert "«Спасибо Ольге, всё быстро объяснила!»" in owner_page
    other = logged_in(staff(Role.SUPPORT, "masha")).get(reverse("web:home")).content.decode()
    assert "Спасибо Ольге" not in other


def test_the_report_costs_the_same_queries_for_more_staff(olga, frozen_time):
    client = logged_in(staff(Role.OWNER, "anna"))
    url = reverse("web:team_report") + "?metric=first_response"
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    team = Team.objects.create(name="Зал")
    for n in range(10):
        team.members.add(UserFactory.create(username=f"extra{n}", first_name=f"Сотрудник{n}"))
    Team.objects.create(name="Склад")
    with CaptureQueriesContext(connection) as many:
        page = client.get(url).content.decode()
    assert len(many) == len(few) + 1  # the teams' members, once for all teams
    assert "Сотрудник9" in page and "Склад" in page


def test_the_home_page_costs_the_same_queries_for_more_goals_and_staff(olga, ivan, frozen_time):
    team = Team.objects.create(name="Зал")
    team.members.set([olga, ivan])
    client = logged_in(olga)
    Goal.objects.create(metric=Metric.PRAISE, team=team, start=MARCH[0], end=MARCH[1], target=3)
    client.get(reverse("web:home"))
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("web:home"))
    for n in range(5):
        member = UserFactory.create(username=f"extra{n}")
        team.members.add(member)
        Goal.objects.create(
            metric=Metric.PRAISE, user=member, start=MARCH[0], end=MARCH[1], target=3
        )
    Goal.objects.create(metric=Metric.PRAISE, user=olga, start=MARCH[0], end=MARCH[1], target=3)
    with CaptureQueriesContext(connection) as many:
        client.get(reverse("web:home"))
    assert len(many) == len(few)


def test_the_goals_page_costs_the_same_queries_for_more_staff_and_goals(olga, frozen_time):
    client = logged_in(staff(Role.OWNER, "anna"))
    team = Team.objects.create(name="Зал")
    team.members.set([olga])
    Goal.objects.create(metric=Metric.REVIEWS, user=olga, start=MARCH[0], end=MARCH[1], target=2)
    Goal.objects.create(metric=Metric.REVIEWS, team=team, start=MARCH[0], end=MARCH[1], target=5)
    client.get(reverse("web:team_goals"))
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("web:team_goals"))
    for n in range(6):
        member = UserFactory.create(username=f"extra{n}", role=Role.SUPPORT)
        team.members.add(member)
        Goal.objects.create(
            metric=Metric.REVIEWS, user=member, start=MARCH[0], end=MARCH[1], target=2
        )
    with CaptureQueriesContext(connection) as many:
        page = client.get(reverse("web:team_goals"))
    assert len(many) == len(few)
    assert page.content.decode().count('class="goal-row"') == 8


def test_a_goal_for_a_deactivated_member_is_refused(olga, frozen_time):
    client = logged_in(staff(Role.OWNER, "anna"))
    form = client.get(reverse("web:team_goals"))
    assert f'value="u:{olga.pk}"' in form.content.decode()
    olga.is_active = False
    olga.save()
    response = client.post(
        reverse("web:team_goal_add"),
        {
            "who": f"u:{olga.pk}",
            "metric": Metric.REVIEWS,
            "period": "month",
            "day": "2026-03-01",
            "target": "3",
        },
    )
    assert response.status_code == 400
    assert not Goal.objects.exists()
