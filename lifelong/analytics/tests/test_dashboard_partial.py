"""The dashboard marks the periods that are not over: today (or this week) and this month.

A half-filled day or month drawn like a whole one reads as a collapse; the view flags
them, the chart draws them dashed and pale, the heatmap striped, with a note saying why.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.urls import reverse
from django.utils import formats

from lifelong import clock
from lifelong.accounts.models import Role
from lifelong.analytics.rollups import analytics_rollup
from lifelong.commerce.services import customer_summaries_refresh
from lifelong.conftest import client_for
from lifelong.customers.models import Customer
from lifelong.factories import CustomerFactory, OrderFactory, UserFactory
from lifelong.web.journey_results import forest_rows

pytestmark = pytest.mark.django_db
DAY = dt.timedelta(days=1)
URL = reverse("web:dashboard")
# 22:30 UTC on 31 March is already 1 April in Moscow, the shop's own calendar.
LATE = dt.datetime(2026, 3, 31, 22, 30, tzinfo=dt.UTC)
TODAY = dt.date(2026, 4, 1)


@pytest.fixture
def page(db):
    with time_machine.travel(LATE, tick=False):
        for n in range(40):
            customer = CustomerFactory()
            OrderFactory(customer=customer, placed_at=clock.now() - DAY * (n * 9 % 330))
            OrderFactory(customer=customer, placed_at=clock.now() - DAY * (n % 20), total="700")
        customer_summaries_refresh(Customer.objects.values_list("pk", flat=True))
        analytics_rollup()
        client = client_for(UserFactory.create(username="analyst", role=Role.ANALYST))
        yield lambda period: client.get(URL, {"period": period})


@pytest.mark.parametrize(
    ("period", "first_day"), [(30, TODAY), (90, TODAY), (365, TODAY - 6 * DAY)]
)
def test_the_bucket_holding_today_is_flagged_partial(page, period, first_day):
    response = page(period)
    trend = response.context["charts"]["trend"]
    # Only the newest bucket: the one that holds today, local time, and nothing before it.
    assert trend["partial"] == len(trend["labels"]) - 1
    assert trend["labels"][-1] == formats.date_format(first_day, "SHORT_DATE_FORMAT")
    note = (
        "Эта неделя ещё не закончилась" if period == 365 else "Сегодняшний день ещё не закончился"
    )
    assert note in response.content.decode()


def test_the_current_month_of_every_cohort_is_flagged_partial(page):
    response = page(30)
    rows = response.context["cohorts"]
    assert rows[-1].cohort == dt.date(2026, 4, 1) and rows[-1].partial
    assert not any(row.partial for row in rows[:-1])
    for row in rows:
        months_ago = (TODAY.year - row.cohort.year) * 12 + TODAY.month - row.cohort.month
        for cell in row.cells:
            # The diagonal is April: still filling up. Earlier months are over.
            assert cell.partial == (cell.offset == months_ago), (row.cohort, cell.offset)
            if cell.offset > months_ago:
                assert cell.share is None
    body = response.content.decode()
    drawn = sum(1 for row in rows for cell in row.cells if cell.partial and cell.share is not None)
    assert drawn == 11
    assert len(re.findall(r'class="cell heat-\d+( hot)? partial"', body)) == drawn
    assert "текущий месяц ещё не закончился" in body


def test_the_forest_axis_ends_on_round_numbers_around_zero():
    _rows, ticks = forest_rows([])
    assert [t["label"] for t in ticks] == ["−5", "−2,5", "0", "+2,5", "+5"]
    assert [t["x"] for t in ticks] == [0, 25, 50, 75, 100]
    assert [t["zero"] for t in ticks] == [False, False, True, False, False]
