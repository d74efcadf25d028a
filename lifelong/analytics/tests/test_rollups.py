"""Rollup tables against a direct computation over the orders, and incremental == rebuild."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifelong import clock
from lifelong.analytics.metrics import kpis_compute
from lifelong.analytics.models import (
    CohortMonth,
    DailyMetrics,
    RollupState,
    StageCount,
    StageFlow,
)
from lifelong.analytics.rollups import (
    HOURLY_PERIODS,
    analytics_rollup,
    kpi_snapshots,
    rollups_rebuild,
    rollups_refresh,
    value_distribution,
)
from lifelong.commerce.models import Order, OrderStatus
from lifelong.commerce.services import UNCOUNTED_STATUSES, customer_summaries_refresh
from lifelong.customers.models import Customer
from lifelong.factories import CustomerFactory, OrderFactory
from lifelong.segments.models import CustomerState
from lifelong.segments.services import stages_refresh

pytestmark = pytest.mark.django_db
DAY = dt.timedelta(days=1)


def buy(customer: Customer, *, ago: dt.timedelta, total: str = "1000.00", **extra: Any) -> Order:
    return OrderFactory.create(
        customer=customer, placed_at=clock.now() - ago, total=Decimal(total), **extra
    )


def summaries() -> None:
    customer_summaries_refresh(Customer.objects.values_list("pk", flat=True))


def shop() -> None:
    """Three buyers, a lead, a cancelled and a refunded order, an order just after midnight."""
    anna, boris, vera = CustomerFactory.create_batch(3)
    CustomerFactory()  # a lead: no orders
    buy(anna, ago=DAY * 100, total="500.00")
    buy(anna, ago=DAY * 40, total="700.00", refunded_total=Decimal("200.00"))
    buy(anna, ago=DAY * 3, total="900.00")
    buy(boris, ago=DAY * 20, total="1500.00")
    buy(boris, ago=DAY * 20 - dt.timedelta(hours=2), total="300.00")  # same day, a repeat
    buy(boris, ago=DAY * 5, total="999.00", status=OrderStatus.CANCELLED)
    # 2026-03-01 21:30 UTC is already 2 March in Moscow: the day is local.
    buy(vera, ago=dt.timedelta(hours=12, minutes=30), total="250.00")
    buy(vera, ago=DAY * 400, total="800.00", status=OrderStatus.REFUNDED)
    summaries()


def direct_daily() -> list[tuple[Any, ...]]:
    """The daily table computed row by row in Python, from the definitions."""
    days: dict[dt.date, dict[str, Any]] = defaultdict(
        lambda: {"orders": 0, "revenue": Decimal(0), "buyers": set(), "repeat": 0, "rrev": 0}
    )
    for order in Order.objects.exclude(status__in=UNCOUNTED_STATUSES).select_related("customer"):
        row = days[timezone.localtime(order.placed_at).date()]
        row["orders"] += 1
        row["revenue"] += order.net_total
        row["buyers"].add(order.customer_id)
        first = order.customer.first_order_at
        assert first is not None
        if order.placed_at > first:
            row["repeat"] += 1
            row["rrev"] += order.net_total
    new: dict[dt.date, int] = defaultdict(int)
    for customer in Customer.objects.filter(first_order_at__isnull=False):
        new[timezone.localtime(customer.first_order_at).date()] += 1
    return sorted(
        (day, r["orders"], r["revenue"], len(r["buyers"]), new[day], r["repeat"], r["rrev"])
        for day, r in days.items()
    )


def direct_cohorts() -> list[tuple[Any, ...]]:
    cells: dict[tuple[dt.date, dt.date], dict[str, Any]] = defaultdict(
        lambda: {"who": set(), "revenue": Decimal(0)}
    )
    for order in Order.objects.exclude(status__in=UNCOUNTED_STATUSES).select_related("customer"):
        cohort = timezone.localtime(order.customer.first_order_at).date().replace(day=1)
        month = timezone.localtime(order.placed_at).date().replace(day=1)
        cells[cohort, month]["who"].add(order.customer_id)
        cells[cohort, month]["revenue"] += order.net_total
    return sorted(
        (c, m, (m.year - c.year) * 12 + m.month - c.month, len(v["who"]), v["revenue"])
        for (c, m), v in cells.items()
    )


def daily_rows() -> list[tuple[Any, ...]]:
    return list(
        DailyMetrics.objects.values_list(
            "day", "orders", "revenue", "buyers", "new_customers", "repeat_orders", "repeat_revenue"
        )
    )


def cohort_rows() -> list[tuple[Any, ...]]:
    return list(
        CohortMonth.objects.values_list("cohort", "month", "offset", "customers", "revenue")
    )


def all_rows() -> dict[str, list[tuple[Any, ...]]]:
    return {
        "daily": daily_rows(),
        "cohorts": cohort_rows(),
        "flows": list(StageFlow.objects.values_list("day", "from_stage", "to_stage", "customers")),
        "stages": list(StageCount.objects.values_list("day", "stage", "customers")),
    }


def test_daily_metrics_match_a_direct_computation(frozen_time):
    shop()
    rollups_rebuild()
    assert daily_rows() == direct_daily()
    today = DailyMetrics.objects.get(day=dt.date(2026, 3, 2))
    assert (today.orders, today.revenue, today.new_customers) == (1, Decimal("250.00"), 1)
    boris_day = DailyMetrics.objects.get(day=dt.date(2026, 2, 10))
    assert (boris_day.orders, boris_day.buyers, boris_day.repeat_orders) == (2, 1, 1)
    assert boris_day.repeat_revenue == Decimal("300.00")


def test_cohorts_match_a_direct_computation(frozen_time):
    shop()
    rollups_rebuild()
    assert cohort_rows() == direct_cohorts()
    anna_cohort = CohortMonth.objects.filter(cohort=dt.date(2025, 11, 1)).order_by("offset")
    assert [(c.offset, c.customers) for c in anna_cohort] == [(0, 1), (2, 1), (3, 1)]


def test_kpis_match_hand_counts(frozen_time):
    shop()
    snapshot = kpi_snapshots(now=clock.now())["30"]
    current, previous = snapshot["windows"][0], snapshot["windows"][1]
    # Last 30 days: anna (repeat), boris (first order + a repeat the same day), vera (new).
    assert current == {
        "active": 3,
        "repeat": 2,
        "multi": 1,
        "retained": 1,
        "orders": 4,
        "revenue": "2950.00",
        "repeat_revenue": "1200.00",
    }
    # 30-60 days ago: anna's partly refunded order only, and she came back (retained).
    assert previous["active"] == 1 and previous["revenue"] == "500.00"
    kpis = {k.key: k for k in kpis_compute(snapshot, min_base=1)}
    assert kpis["active_customers"].value == 3
    # Two or more orders in the window: boris only. Returning: anna and boris.
    assert kpis["repeat_rate"].value == pytest.approx(1 / 3)
    assert kpis["returning"].value == pytest.approx(2 / 3)
    assert kpis["average_order"].value == pytest.approx(2950 / 4)
    assert kpis["frequency"].value == pytest.approx(4 / 3)
    assert kpis["repeat_revenue_share"].value == pytest.approx(1200 / 2950)


def test_retention_counts_customers_active_in_both_windows(frozen_time):
    kept, lost = CustomerFactory.create_batch(2)
    for customer in (kept, lost):
        buy(customer, ago=DAY * 45)
    buy(kept, ago=DAY * 10)
    summaries()
    kpis = {k.key: k for k in kpis_compute(kpi_snapshots(now=clock.now())["30"], min_base=1)}
    assert kpis["retention"].value == pytest.approx(0.5)
    assert kpis["churn"].value == pytest.approx(0.5)
    assert kpis["churn"].improved is None  # nothing two periods back to compare with
    assert kpis["returning"].value == 1.0
    assert kpis["repeat_rate"].value == 0.0


def test_stage_counts_and_flows_come_from_customer_states(frozen_time):
    shop()
    stages_refresh()
    frozen_time.shift(DAY * 200)
    stages_refresh()
    rollups_rebuild()
    today = clock.now().date()
    counts = dict(StageCount.objects.filter(day=today).values_list("stage", "customers"))
    assert counts == {"lead": 1, "sleeping": 3}
    first = StageFlow.objects.filter(day=dt.date(2026, 3, 2))
    assert sum(f.customers for f in first) == 4
    assert {f.from_stage for f in first} == {""}
    later = StageFlow.objects.filter(day=today)
    assert {(f.from_stage, f.to_stage): f.customers for f in later} == {
        ("at_risk", "sleeping"): 1,
        ("new", "sleeping"): 1,
        ("repeat", "sleeping"): 1,
    }


def test_value_distribution_prefers_predicted_clv(frozen_time):
    shop()
    assert value_distribution()["source"] == "spend"
    customer = Customer.objects.filter(orders_count__gt=0).first()
    CustomerState.objects.create(customer=customer, predicted_clv=Decimal("1500.00"))
    histogram = value_distribution()
    assert histogram["source"] == "clv"
    assert sum(histogram["counts"]) == 1


def test_the_sweep_refreshes_between_daily_rebuilds(frozen_time):
    shop()
    assert analytics_rollup() == "rebuilt"
    frozen_time.shift(dt.timedelta(hours=2))
    buy(CustomerFactory(), ago=dt.timedelta(minutes=5), total="100.00")
    summaries()
    assert analytics_rollup() == "refreshed"
    assert daily_rows() == direct_daily()
    state = RollupState.objects.get()
    assert state.computed_at == clock.now()
    assert state.kpis["30"]["windows"][0]["active"] == 4
    # The year's figures wait for the daily rebuild.
    assert state.kpis["365"]["windows"][0]["active"] == 3
    assert state.kpis["365"]["end"] == state.rebuilt_at.isoformat() != state.kpis["30"]["end"]
    frozen_time.shift(DAY)
    assert analytics_rollup() == "rebuilt"


def test_an_old_order_imported_late_is_counted_by_the_next_rebuild(frozen_time):
    shop()
    analytics_rollup()
    frozen_time.shift(dt.timedelta(hours=1))
    buy(CustomerFactory(), ago=DAY * 60, total="100.00")
    summaries()
    analytics_rollup()
    assert daily_rows() != direct_daily()
    frozen_time.shift(DAY)
    analytics_rollup()
    assert daily_rows() == direct_daily()


new_orders = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=5),  # which customer; 5 = a new one
        st.integers(min_value=1, max_value=60 * 30),  # minutes after the first rollup
        st.sampled_from(["100.00", "1990.50", "35000.00"]),
        st.booleans(),  # cancelled
    ),
    max_size=12,
)
old_orders = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=4),
        st.integers(min_value=0, max_value=800),  # days before the first rollup
        st.sampled_from(["250.00", "990.00"]),
    ),
    max_size=15,
)


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(before=old_orders, after=new_orders)
def test_incremental_refresh_equals_a_full_rebuild(frozen_time, before, after):
    Order.objects.all().delete()
    CustomerState.objects.all().delete()
    Customer.objects.all().delete()
    RollupState.objects.all().delete()
    start = clock.now()
    people = CustomerFactory.create_batch(5)
    for who, days, total in before:
        buy(people[who], ago=DAY * days + dt.timedelta(hours=who), total=total)
    summaries()
    stages_refresh()
    rollups_rebuild()
    frozen_time.shift(dt.timedelta(hours=20))
    for who, minutes, total, cancelled in after:
        customer = people[who] if who < 5 else CustomerFactory()
        OrderFactory(
            customer=customer,
            placed_at=start + dt.timedelta(minutes=minutes),
            total=Decimal(total),
            status=OrderStatus.CANCELLED if cancelled else OrderStatus.PAID,
        )
    summaries()
    stages_refresh()
    rollups_refresh(since=timezone.localdate(start))
    hourly = {str(days) for days in HOURLY_PERIODS}

    def figures() -> tuple[Any, ...]:
        kpis = RollupState.objects.get().kpis
        return all_rows(), {days: kpis[days] for days in hourly}

    incremental = figures()
    rollups_rebuild()
    assert figures() == incremental
    assert daily_rows() == direct_daily()
    assert cohort_rows() == direct_cohorts()
    frozen_time.move_to(start)
