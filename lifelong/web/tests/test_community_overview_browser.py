"""The Community page in a real browser: the joins-and-leaves chart draws under the
Content-Security-Policy, with this month's bars paler than the others."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from lifelong import clock
from lifelong.accounts.models import Role
from lifelong.community.models import Club, ClubKind, ClubMember, EntryRule, MemberStatus
from lifelong.factories import CustomerFactory
from lifelong.web.tests.conftest import staff

pytestmark = pytest.mark.browser


def test_the_joins_chart_draws_with_the_current_month_pale(staff_page, live_server):
    club = Club.objects.create(
        title="Клуб", kind=ClubKind.TELEGRAM_GROUP, chat_id="-1001", entry=EntryRule.STAFF
    )
    for days in (2, 40, 70):
        ClubMember.objects.create(
            club=club,
            customer=CustomerFactory.create(),
            status=MemberStatus.JOINED,
            joined_at=clock.now() - dt.timedelta(days=days),
        )
    page = staff_page(staff(Role.OWNER))
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{live_server.url}{reverse('web:community')}")
    page.wait_for_function("() => typeof Chart !== 'undefined'")
    drawn = page.evaluate(
        """() => {
          const chart = Chart.getChart(document.getElementById("chart-community-flow"));
          const joins = chart.data.datasets[0];
          return {
            months: chart.data.labels.length,
            joined: joins.data.reduce((a, b) => a + b, 0),
            current: joins.backgroundColor[joins.backgroundColor.length - 1],
            earlier: joins.backgroundColor[0],
            width: chart.canvas.width,
          };
        }"""
    )
    assert drawn["months"] == 12 and drawn["joined"] == 3 and drawn["width"] > 0
    assert drawn["current"] != drawn["earlier"]
    assert errors == []
