"""The dashboard's rollups: small tables recomputed from orders and stages with GROUP BY.

`analytics_rollup` is the sweep. Each run recomputes the recent days and months
(everything since a day before its previous run), today's stage counts and the 30- and
90-day KPI windows. Once a day it rebuilds every table from scratch instead, with the
Lorenz curve, the value histogram and the 365-day KPIs; that picks up what an
incremental run cannot see: orders imported with old dates, late refunds and
cancellations of old orders, merges. Aggregation always happens in the database; only
the grouped rows (one per day, per cohort cell, per stage) come back to Python.

Days and months are local to settings.TIME_ZONE, the business's own calendar.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import numpy as np
from django.db import transaction
from django.db.models import (
    Count,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    FloatField,
    OuterRef,
    Q,
    Sum,
)
from django.db.models.functions import Cast, TruncDate, TruncMonth
from django.utils import timezone

from lifelong import clock
from lifelong.analytics.metrics import PERIODS, WINDOWS, value_histogram
from lifelong.analytics.models import (
    CohortMonth,
    DailyMetrics,
    RollupState,
    StageCount,
    StageFlow,
)
from lifelong.commerce.models import Order, OrderStatus, Refund
from lifelong.commerce.services import COUNTED
from lifelong.customers.models import Customer
from lifelong.segments.models import CustomerState, StageChange
from lifelong.segments.rfm import live_buyers, lorenz_curve

log = logging.getLogger(__name__)

REBUILD_EVERY = dt.timedelta(days=1)
# An incremental run starts this long before the previous run, so orders that arrived
# late but dated in the last day are counted.
OVERLAP = dt.timedelta(days=1)
LORENZ_POINTS = 21
# The hourly runs refresh these periods; a year's figures move slowly and scanning three
# years of orders every hour costs most of a run, so the daily rebuild refreshes 365 days.
HOURLY_PERIODS = (30, 90)
CENT = Decimal("0.01")
BATCH = 1000

NET = ExpressionWrapper(
    F("total") - F("refunded_total"), output_field=DecimalField(max_digits=16, decimal_places=2)
)
# An order after the customer's first counted order: the customer came back.
REPEAT = Q(placed_at__gt=F("customer__first_order_at"))


def _money(value: Decimal | float | None) -> Decimal:
    return Decimal(str(value or 0)).quantize(CENT)


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=timezone.get_current_timezone())


def _local_date(value: dt.datetime) -> dt.date:
    return timezone.localtime(value).date()


def _counted_orders(since: dt.datetime | None) -> Any:
    orders = Order.objects.filter(COUNTED).order_by()
    return orders if since is None else orders.filter(placed_at__gte=since)


# --- tables ---------------------------------------------------------------------------


def _daily_write(since: dt.datetime | None) -> int:
    grouped = (
        _counted_orders(since)
        .annotate(day=TruncDate("placed_at"))
        .values("day")
        .annotate(
            n=Count("pk"),
            revenue=Sum(NET),
            buyers=Count("customer_id", distinct=True),
            repeat_orders=Count("pk", filter=REPEAT),
            repeat_revenue=Sum(NET, filter=REPEAT),
        )
    )
    firsts = Customer.objects.live().filter(first_order_at__isnull=False)
    if since is not None:
        firsts = firsts.filter(first_order_at__gte=since)
    new_by_day = dict(
        firsts.order_by()
        .annotate(day=TruncDate("first_order_at"))
        .values("day")
        .annotate(n=Count("pk"))
        .values_list("day", "n")
    )
    stale = DailyMetrics.objects.all()
    if since is not None:
        stale = stale.filter(day__gte=_local_date(since))
    stale.delete()
    rows = [
        DailyMetrics(
            day=row["day"],
            orders=row["n"],
            revenue=_money(row["revenue"]),
            buyers=row["buyers"],
            new_customers=new_by_day.get(row["day"], 0),
            repeat_orders=row["repeat_orders"],
            repeat_revenue=_money(row["repeat_revenue"]),
        )
        for row in grouped
    ]
    DailyMetrics.objects.bulk_create(rows, batch_size=BATCH)
    return len(rows)


def _months_between(start: dt.date, end: dt.date) -> int:
    return (end.year - start.year) * 12 + end.month - start.month


def _cohorts_write(since: dt.datetime | None) -> int:
    """Cohort cells for activity months from the month of `since` (all when None)."""
    start = None
    if since is not None:
        start = _local_date(since).replace(day=1)
    grouped = (
        _counted_orders(None if start is None else _day_start(start))
        .annotate(cohort=TruncMonth("customer__first_order_at"), month=TruncMonth("placed_at"))
        .values("cohort", "month")
        .annotate(customers=Count("customer_id", distinct=True), revenue=Sum(NET))
    )
    stale = CohortMonth.objects.all()
    if start is not None:
        stale = stale.filter(month__gte=start)
    stale.delete()
    rows = []
    for row in grouped:
        cohort, month = _local_date(row["cohort"]), _local_date(row["month"])
        rows.append(
            CohortMonth(
                cohort=cohort,
                month=month,
                offset=_months_between(cohort, month),
                customers=row["customers"],
                revenue=_money(row["revenue"]),
            )
        )
    CohortMonth.objects.bulk_create(rows, batch_size=BATCH)
    return len(rows)


def _stage_flows_write(since: dt.datetime | None) -> int:
    changes = StageChange.objects.order_by()
    stale = StageFlow.objects.all()
    if since is not None:
        changes = changes.filter(at__gte=since)
        stale = stale.filter(day__gte=_local_date(since))
    grouped = (
        changes.annotate(day=TruncDate("at"))
        .values("day", "from_stage", "to_stage")
        .annotate(n=Count("pk"))
    )
    stale.delete()
    rows = [
        StageFlow(
            day=row["day"],
            from_stage=row["from_stage"],
            to_stage=row["to_stage"],
            customers=row["n"],
        )
        for row in grouped
    ]
    StageFlow.objects.bulk_create(rows, batch_size=BATCH)
    return len(rows)


def _stage_counts_write(today: dt.date) -> None:
    counts = (
        CustomerState.objects.exclude(stage="")
        .order_by()
        .values("stage")
        .annotate(n=Count("pk"))
        .values_list("stage", "n")
    )
    StageCount.objects.filter(day=today).delete()
    StageCount.objects.bulk_create(
        [StageCount(day=today, stage=stage, customers=n) for stage, n in counts]
    )


# --- whole-base figures -----------------------------------------------------------------


def kpi_snapshots(*, now: dt.datetime, periods: Sequence[int] = PERIODS) -> dict[str, Any]:
    """Raw counts of every KPI window of every period, from one grouped pass over orders.

    Per customer, the inner GROUP BY counts orders (and repeat orders, and money) in
    each window; the outer aggregate counts customers with orders in a window, in two
    consecutive windows (retained), and sums orders and money. The result is JSON-ready:
    {"30": {"end": iso, "windows": [{...}, {...}, {"active": n}]}, "90": ..., "365": ...}.
    """
    per_customer: dict[str, Any] = {}
    totals: dict[str, Any] = {}
    for days in periods:
        for k in range(WINDOWS):
            inside = Q(
                placed_at__gt=now - dt.timedelta(days=days * (k + 1)),
                placed_at__lte=now - dt.timedelta(days=days * k),
            )
            o = f"o{days}_{k}"
            per_customer[o] = Count("pk", filter=inside)
            totals[f"{days}_{k}_active"] = Count("customer_id", filter=Q(**{f"{o}__gt": 0}))
            if k == WINDOWS - 1:
                continue
            per_customer[f"r{days}_{k}"] = Count("pk", filter=inside & REPEAT)
            per_customer[f"m{days}_{k}"] = Sum(NET, filter=inside)
            per_customer[f"rm{days}_{k}"] = Sum(NET, filter=inside & REPEAT)
            totals[f"{days}_{k}_repeat"] = Count("customer_id", filter=Q(**{f"r{days}_{k}__gt": 0}))
            # Two or more orders inside the window: the usual repeat purchase rate's count.
            totals[f"{days}_{k}_multi"] = Count("customer_id", filter=Q(**{f"{o}__gt": 1}))
            totals[f"{days}_{k}_retained"] = Count(
                "customer_id", filter=Q(**{f"{o}__gt": 0, f"o{days}_{k + 1}__gt": 0})
            )
            totals[f"{days}_{k}_orders"] = Sum(o)
            totals[f"{days}_{k}_revenue"] = Sum(f"m{days}_{k}")
            totals[f"{days}_{k}_repeat_revenue"] = Sum(f"rm{days}_{k}")
    oldest = now - dt.timedelta(days=max(periods) * WINDOWS)
    result = (
        Order.objects.filter(COUNTED, placed_at__gt=oldest, placed_at__lte=now)
        .order_by()
        .values("customer_id")
        .annotate(**per_customer)
        .aggregate(**totals)
    )
    snapshots: dict[str, Any] = {}
    for days in periods:
        windows: list[dict[str, Any]] = []
        for k in range(WINDOWS):
            window: dict[str, Any] = {"active": result[f"{days}_{k}_active"] or 0}
            if k < WINDOWS - 1:
                window.update(
                    repeat=result[f"{days}_{k}_repeat"] or 0,
                    multi=result[f"{days}_{k}_multi"] or 0,
                    retained=result[f"{days}_{k}_retained"] or 0,
                    orders=result[f"{days}_{k}_orders"] or 0,
                    revenue=str(_money(result[f"{days}_{k}_revenue"])),
                    repeat_revenue=str(_money(result[f"{days}_{k}_repeat_revenue"])),
                )
            windows.append(window)
        snapshots[str(days)] = {"end": now.isoformat(), "windows": windows}
    return snapshots


def returns_snapshots(*, now: dt.datetime, periods: Sequence[int] = PERIODS) -> dict[str, Any]:
    """Orders placed in each of a period's two latest windows and what became of them.

    One grouped pass over every order (cancelled ones too): how many were placed, how many
    were cancelled (refusals), how many came back (goods returned in a refund, or the
    whole order refunded) and the money refunded on the rest. Counted by the order's
    date, so a window's returns keep arriving after it ends. JSON-ready:
    {"30": [{"orders": n, "cancelled": n, "returned": n, "refunded": "0.00"}, {...}], ...}.
    """
    cancelled = Q(status=OrderStatus.CANCELLED)
    returned = Q(status=OrderStatus.REFUNDED) | Q(goods_back=True)
    totals: dict[str, Any] = {}
    for days in periods:
        for k in range(WINDOWS - 1):
            inside = Q(
                placed_at__gt=now - dt.timedelta(days=days * (k + 1)),
                placed_at__lte=now - dt.timedelta(days=days * k),
            )
            totals[f"{days}_{k}_orders"] = Count("pk", filter=inside)
            totals[f"{days}_{k}_cancelled"] = Count("pk", filter=inside & cancelled)
            totals[f"{days}_{k}_returned"] = Count("pk", filter=inside & ~cancelled & returned)
            totals[f"{days}_{k}_refunded"] = Sum("refunded_total", filter=inside & ~cancelled)
    oldest = now - dt.timedelta(days=max(periods) * (WINDOWS - 1))
    result = (
        Order.objects.filter(placed_at__gt=oldest, placed_at__lte=now)
        .order_by()
        .annotate(goods_back=Exists(Refund.objects.filter(order=OuterRef("pk"), is_return=True)))
        .aggregate(**totals)
    )
    return {
        str(days): [
            {
                "orders": result[f"{days}_{k}_orders"] or 0,
                "cancelled": result[f"{days}_{k}_cancelled"] or 0,
                "returned": result[f"{days}_{k}_returned"] or 0,
                "refunded": str(_money(result[f"{days}_{k}_refunded"])),
            }
            for k in range(WINDOWS - 1)
        ]
        for days in periods
    }


def value_distribution() -> dict[str, Any]:
    """Histogram of predicted 12-month CLV; of net spend while no CLV has been predicted."""
    predicted = (
        CustomerState.objects.filter(predicted_clv__isnull=False)
        .order_by()
        .values_list(Cast("predicted_clv", FloatField()), flat=True)
    )
    values = np.fromiter(predicted, dtype=np.float64)
    source = "clv"
    if not len(values):
        spend = live_buyers().order_by().values_list(Cast("total_spent", FloatField()), flat=True)
        values = np.fromiter(spend, dtype=np.float64)
        source = "spend"
    return {"source": source, **value_histogram(values)}


# --- entry points -----------------------------------------------------------------------


def _refresh(state: RollupState, *, since: dt.datetime | None, now: dt.datetime) -> None:
    _daily_write(since)
    _cohorts_write(since)
    _stage_flows_write(since)
    _stage_counts_write(_local_date(now))
    periods = PERIODS if since is None else HOURLY_PERIODS
    snapshots = kpi_snapshots(now=now, periods=periods)
    for days, windows in returns_snapshots(now=now, periods=periods).items():
        snapshots[days]["returns"] = windows
    state.kpis = {**state.kpis, **snapshots}
    state.computed_at = now
    fields = ["kpis", "computed_at"]
    if since is None:
        # Whole-base distributions move slowly: the daily rebuild refreshes them, so the
        # hourly runs skip reading a million spend and CLV values.
        state.lorenz = [[x, y] for x, y in lorenz_curve(points=LORENZ_POINTS)]
        state.value_histogram = value_distribution()
        state.rebuilt_at = now
        fields += ["lorenz", "value_histogram", "rebuilt_at"]
    state.save(update_fields=fields)


def _locked_state() -> RollupState | None:
    RollupState.current()
    return RollupState.objects.select_for_update(skip_locked=True).filter(pk=1).first()


@transaction.atomic
def rollups_rebuild() -> None:
    """Recompute every rollup table from all orders and stage changes (waits for a running one)."""
    RollupState.current()
    state = RollupState.objects.select_for_update().get(pk=1)
    _refresh(state, since=None, now=clock.now())


@transaction.atomic
def rollups_refresh(*, since: dt.date) -> None:
    """Recompute the days and cohort months from `since` on, and the whole-base figures."""
    RollupState.current()
    state = RollupState.objects.select_for_update().get(pk=1)
    _refresh(state, since=_day_start(since), now=clock.now())


def analytics_rollup() -> str:
    """Sweep: refresh the dashboard's rollups; returns "rebuilt", "refreshed" or "busy".

    Incremental from the day before the previous run; a full rebuild when the last one
    is older than a day. A run already in progress elsewhere (the state row is
    locked) makes this one skip: the other worker is doing the same work.
    """
    with transaction.atomic():
        state = _locked_state()
        if state is None:
            return "busy"
        now = clock.now()
        if (
            state.rebuilt_at is None
            or state.computed_at is None
            or now - state.rebuilt_at >= REBUILD_EVERY
        ):
            _refresh(state, since=None, now=now)
            return "rebuilt"
        since = _local_date(min(state.computed_at, now) - OVERLAP)
        _refresh(state, since=_day_start(since), now=now)
        return "refreshed"
