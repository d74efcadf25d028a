"""Milestones and the weekly thanks: each told once, whatever the number of sweep runs, and only
when earned (a share goal only once its period has ended)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from lifelong.accounts.models import AuditLog
from lifelong.factories import UserFactory
from lifelong.jobs.sweeps import sweep_by_name, sweep_run
from lifelong.team.milestones import ROUND_NUMBERS, milestone_text, milestones_sweep
from lifelong.team.models import Goal, Metric, Milestone, MilestoneKind, Team
from lifelong.team.tests.conftest import MARCH, at, said, task
from lifelong.team.thanks import thanks_send_weekly, week_thanks

pytestmark = pytest.mark.django_db
DAY = dt.date(2026, 3, 1)


def goal(metric: str, target: int, **who) -> Goal:
    return Goal.objects.create(
        metric=metric, start=MARCH[0], end=MARCH[1], target=Decimal(target), **who
    )


def on_time(user, n: int, day: dt.date = DAY) -> None:
    for _i in range(n):
        task(user, due=at(day, 10), done=at(day, 9))


def test_a_count_goal_is_celebrated_once_when_reached(olga, settings, frozen_time):
    settings.EMAIL_HOST = ""
    mine = goal(Metric.TASKS_ON_TIME, 3, user=olga)
    on_time(olga, 2)
    assert milestones_sweep() == 0
    on_time(olga, 1)
    assert milestones_sweep() == 1
    assert milestones_sweep() == 0
    frozen_time.shift(dt.timedelta(days=1))
    assert milestones_sweep() == 0
    milestone = Milestone.objects.get()
    assert (milestone.kind, milestone.goal, milestone.value) == (MilestoneKind.GOAL, mine, 3)
    assert "Ольга Кузнецова" in milestone_text(milestone)


def test_a_share_goal_waits_for_its_period_to_end(olga, ivan, frozen_time):
    team = Team.objects.create(name="Зал")
    team.members.set([olga, ivan])
    goal(Metric.TASKS_ON_TIME_SHARE, 50, team=team)
    on_time(olga, 1)
    task(ivan, due=at(DAY, 8))  # still open: the team is at 50 %
    assert milestones_sweep() == 0  # reached, but March runs: the share could fall
    frozen_time.move_to("2026-04-01 09:00:00+03:00")
    assert milestones_sweep() == 1
    assert Milestone.objects.get().team == team


def test_round_numbers_tell_the_highest_newly_passed_once(olga, settings, frozen_time):
    settings.EMAIL_HOST = "smtp.shop.test"
    olga.email = "olga@shop.test"
    olga.save()
    on_time(olga, 26, day=dt.date(2026, 2, 10))
    assert milestones_sweep() == 1
    assert Milestone.objects.get().key == f"round:{Metric.TASKS_ON_TIME}:{olga.pk}:25"
    assert len(mail.outbox) == 1 and "25" in mail.outbox[0].subject
    on_time(olga, 20, day=dt.date(2026, 2, 11))
    assert milestones_sweep() == 0  # 46: no new round number
    on_time(olga, 4, day=dt.date(2026, 2, 12))
    assert sweep_run(sweep_by_name("team.milestones"))
    assert Milestone.objects.filter(value=50).count() == 1
    assert len(mail.outbox) == 2
    assert sweep_run(sweep_by_name("team.milestones"))
    assert len(mail.outbox) == 2


@hsettings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.integers(0, 30), min_size=1, max_size=4))
def test_each_round_number_is_recorded_at_most_once(olga, frozen_time, batches):
    Milestone.objects.all().delete()
    olga.tasks.all().delete()
    done = 0
    for n in batches:
        on_time(olga, n, day=dt.date(2026, 2, 10))
        done += n
        milestones_sweep()
        milestones_sweep()
    values = list(Milestone.objects.values_list("value", flat=True))
    assert len(values) == len(set(values))
    passed = [r for r in ROUND_NUMBERS if r <= done]
    assert (max(values) if values else None) == (passed[-1] if passed else None)


def test_the_weekly_thanks_lists_the_praised_once_per_week(olga, ivan, settings, frozen_time):
    settings.EMAIL_HOST = "smtp.shop.test"
    settings.LANGUAGE_CODE = "ru"
    for user in (olga, ivan):
        user.email = f"{user.username}@shop.test"
        user.save()
    last_week = dt.date(2026, 2, 23)
    said("Спасибо Ольге, всё быстро объяснила!", when=at(last_week))
    said("Ольга нагрубила по телефону, ужасно", when=at(last_week))
    said("Огромное спасибо Ольге, очень помогла", when=at(DAY))  # this week: next mail
    assert [t.name for t in week_thanks(last_week)] == ["Ольга Кузнецова"]
    assert thanks_send_weekly() == 2
    body = mail.outbox[0].body
    assert "«Спасибо Ольге, всё быстро объяснила!»" in body and "нагрубила" not in body
    assert thanks_send_weekly() == 0
    frozen_time.shift(dt.timedelta(days=1))
    assert sweep_run(sweep_by_name("team.thanks_weekly"))
    assert len(mail.outbox) == 2
    assert AuditLog.objects.filter(object_type="team.thanks").count() == 2


def test_no_thanks_mail_without_praise_or_mail_server(olga, settings, frozen_time):
    settings.EMAIL_HOST = "smtp.shop.test"
    assert thanks_send_weekly() == 0
    said("Спасибо Ольге, всё быстро объяснила!", when=at(dt.date(2026, 2, 24)))
    settings.EMAIL_HOST = ""
    assert thanks_send_weekly() == 0
    assert not mail.outbox


def test_the_sweep_costs_the_same_queries_for_more_staff(olga, settings, frozen_time):
    settings.EMAIL_HOST = ""
    goal(Metric.TASKS_ON_TIME, 3, user=olga)
    milestones_sweep()
    with CaptureQueriesContext(connection) as few:
        milestones_sweep()
    for n in range(8):
        member = UserFactory.create(username=f"extra{n}")
        goal(Metric.TASKS_ON_TIME, 3, user=member)
        on_time(member, 1)
    with CaptureQueriesContext(connection) as many:
        milestones_sweep()
    assert len(many) == len(few)
