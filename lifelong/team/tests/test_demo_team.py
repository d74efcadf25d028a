"""The demo shop's team: this month's goals with progress read from the demo's own work, past
months for the report, one customer's thanks naming Ольга through the inbox, and team news."""

from __future__ import annotations

import pytest
from django.utils import timezone

from lifelong import clock
from lifelong.accounts.models import User
from lifelong.demo.generator import demo_build
from lifelong.demo.team import THANKS
from lifelong.feedback.models import Item
from lifelong.team.milestones import milestones_sweep
from lifelong.team.models import Goal, Metric
from lifelong.team.selectors import goals_of, goals_progress, manager_trend, praise_of


@pytest.mark.django_db
def test_the_demo_team_has_goals_praise_and_history():
    demo_build(customers=400, seed=11)
    olga = User.objects.get(username="demo-support")
    today = timezone.localdate(clock.now())
    rows = goals_progress(goals_of(olga, today=today))
    assert {r.goal.metric for r in rows} >= {Metric.TASKS_ON_TIME, Metric.PRAISE}
    assert all(r.in_progress for r in rows)
    praised = Item.objects.get(text=THANKS)
    assert list(praised.mentioned_staff.all()) == [olga]
    assert praised in praise_of(olga)
    assert next(r for r in rows if r.goal.metric == Metric.PRAISE and r.goal.user).figure.value >= 1
    trend = manager_trend(Metric.RETENTION)
    row = next(r for r in trend.rows if r.name == "Ольга Кузнецова")
    assert all(f.value is not None for f in row.figures)  # past months have results
    assert row.targets[0] is None and all(t is not None for t in row.targets[1:])
    assert not row.figures[-1].complete and row.figures[-2].complete
    assert milestones_sweep() == 0  # the build ran it: nothing new to tell
    # A rebuild replaces the goals, it does not add to them.
    count = Goal.objects.count()
    demo_build(customers=400, seed=11)
    assert Goal.objects.count() == count
