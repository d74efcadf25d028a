"""The analytics dashboard and its CSV exports: reads the rollup tables.

Everything shown is computed by the `analytics_rollup` sweep, except the churn reasons
staff recorded (one grouped query) and the journeys' results (read live, as the journey
pages read them); a request runs a fixed handful of small queries whatever the size of
the shop.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Subquery, Sum
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from lifelong import clock
from lifelong.accounts.permissions import VIEW
from lifelong.analytics.metrics import MIN_BASE, PERIODS, Kpi, kpis_compute, returns_compute
from lifelong.analytics.models import CohortMonth, DailyMetrics, RollupState, StageCount, StageFlow
from lifelong.analytics.rollups import HOURLY_PERIODS
from lifelong.journeys.models import Journey
from lifelong.journeys.results import journeys_results
from lifelong.segments.models import Stage
from lifelong.web.access import require
from lifelong.web.exports import csv_download
from lifelong.web.journey_results import forest_rows
from lifelong.web.templatetags.web import money
from lifelong.web.views.churn import churn_summary
from lifelong.web.views.insights import digest_context

COHORT_MONTHS = 12
HEAT_STEPS = 10  # shades of the cohort heatmap: classes heat-0 .. heat-10 in dashboard.css
WEEKLY_AFTER_DAYS = 90
STAGE_ORDER = [
    Stage.LEAD,
    Stage.NEW,
    Stage.REPEAT,
    Stage.LOYAL,
    Stage.AT_RISK,
    Stage.SLEEPING,
    Stage.CHURNED,
]
STAGE_COLOURS = {
    Stage.LEAD: "#94a3b8",
    Stage.NEW: "#38bdf8",
    Stage.REPEAT: "#22c55e",
    Stage.LOYAL: "#15803d",
    Stage.AT_RISK: "#f59e0b",
    Stage.SLEEPING: "#f97316",
    Stage.CHURNED: "#b91c1c",
}
KPI_LABELS = {
    "active_customers": gettext_lazy("Active customers"),
    "repeat_rate": gettext_lazy("Repeat purchase rate"),
    "returning": gettext_lazy("Returning customers"),
    "retention": gettext_lazy("Retention"),
    "churn": gettext_lazy("Churn"),
    "average_order": gettext_lazy("Average order value"),
    "frequency": gettext_lazy("Purchase frequency"),
    "repeat_revenue_share": gettext_lazy("Revenue from repeat orders"),
}
KPI_HINTS = {
    "active_customers": gettext_lazy("customers with an order in the period"),
    "repeat_rate": gettext_lazy("of active customers ordered twice or more"),
    "returning": gettext_lazy("of active customers had bought before"),
    "retention": gettext_lazy("of the previous period's buyers bought again"),
    "churn": gettext_lazy("of the previous period's buyers did not return"),
    "average_order": gettext_lazy("net of refunds"),
    "frequency": gettext_lazy("orders per active customer"),
    "repeat_revenue_share": gettext_lazy("share of net revenue"),
}
# Shown on hover: what exactly each figure counts (docs/analytics.md says the same).
KPI_DEFINITIONS = {
    "active_customers": gettext_lazy("Customers with at least one counted order in the period."),
    "repeat_rate": gettext_lazy(
        "Customers with two or more orders in the period, of the period's active customers."
    ),
    "returning": gettext_lazy(
        "Active customers with an order in the period that was not their first ever order, "
        "of the period's active customers."
    ),
    "retention": gettext_lazy(
        "Customers who bought in the previous period and again in this one, "
        "of the previous period's buyers."
    ),
    "churn": gettext_lazy("The previous period's buyers who bought nothing in this one."),
    "average_order": gettext_lazy("Net revenue (after refunds) divided by the number of orders."),
    "frequency": gettext_lazy("Orders divided by active customers."),
    "repeat_revenue_share": gettext_lazy(
        "Net revenue of orders after a customer's first, of all net revenue."
    ),
}


def period_of(request: HttpRequest) -> int:
    """The period in days chosen on the page (30 unless 90 or 365 was asked for)."""
    try:
        days = int(request.GET.get("period", ""))
    except ValueError:
        return PERIODS[0]
    return days if days in PERIODS else PERIODS[0]


def _fixed(value: float, places: int) -> str:
    # number_format cuts extra digits off; 4.9999 must read 5.0, not 4.9.
    return formats.number_format(round(value, places), decimal_pos=places)


def _format(kind: str, value: float | None) -> str:
    if value is None:
        return "—"
    if kind == "rate":
        return _fixed(value * 100, 1) + " %"
    if kind == "money":
        return money(Decimal(str(round(value, 2))))
    if kind == "count":
        return formats.number_format(round(value), force_grouping=True)
    return _fixed(value, 2)


def _change(kpi: Kpi) -> str:
    change = kpi.change
    if change is None:
        # A share over too few customers, now or before: no change to speak of either.
        return "—" if kpi.too_few else ""
    sign = "±" if kpi.improved is None else "+" if change > 0 else "−"
    unit = _("pp") if kpi.kind == "rate" else "%"
    return f"{sign}{_fixed(abs(change) * 100, 1)} {unit}"


@dataclass(frozen=True)
class KpiView:
    key: str
    label: str
    hint: str
    definition: str
    value: str
    previous: str
    change: str
    trend: str  # "good", "bad" or "" (no change, or nothing to compare with)
    too_few: str = ""  # why a share is "—": too few customers to compute it over


def kpi_views(snapshot: dict[str, Any]) -> list[KpiView]:
    views = []
    for kpi in kpis_compute(snapshot):
        improved = kpi.improved
        views.append(
            KpiView(
                key=kpi.key,
                label=str(KPI_LABELS[kpi.key]),
                hint=str(KPI_HINTS[kpi.key]),
                definition=str(KPI_DEFINITIONS[kpi.key]),
                value=_format(kpi.kind, kpi.value),
                previous=_format(kpi.kind, kpi.previous),
                change=_change(kpi),
                trend="" if improved is None else "good" if improved else "bad",
                too_few=_(
                    "Not shown below %(n)s customers: one or two buyers would swing it "
                    "between 0 and 100 %%."
                )
                % {"n": MIN_BASE}
                if kpi.too_few
                else "",
            )
        )
    return views


def returns_views(snapshot: dict[str, Any]) -> list[dict[str, Any]]:
    """The returns and refusals table: this period (still maturing) and the one before."""
    return [
        {
            "label": _("This period, so far") if row.partial else _("Previous period"),
            "partial": row.partial,
            "orders": _format("count", row.orders),
            "cancelled": _format("count", row.cancelled),
            "cancelled_rate": _format("rate", row.cancelled_rate),
            "returned": _format("count", row.returned),
            "returned_rate": _format("rate", row.returned_rate),
            "refunded": money(row.refunded),
        }
        for row in returns_compute(snapshot)
    ]


def _month_start(day: dt.date, back: int) -> dt.date:
    index = day.year * 12 + day.month - 1 - back
    return dt.date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class CohortCell:
    offset: int
    share: float | None  # of the cohort active this month; None for months still ahead
    customers: int
    heat: int  # 0..10 on the colour scale: a class of the stylesheet, as pages carry no style
    # The current month: not over, so its share is still growing and is drawn apart (it
    # would otherwise read as a collapse along the diagonal).
    partial: bool = False


@dataclass(frozen=True)
class CohortRow:
    cohort: dt.date
    size: int
    cells: Sequence[CohortCell]
    partial: bool = False  # this month's cohort, still gaining customers


def cohort_rows(today: dt.date) -> tuple[list[CohortRow], float]:
    """The last 12 monthly cohorts with the share of each active 1..11 months later.

    Month 0 is everybody by definition, so it is shown as the cohort's size instead.
    The colour scale runs from 0 to the highest share on the grid (returned too): repeat
    shares are usually a few per cent, and a scale up to 100 % would paint them all white.
    The current month's cells (the diagonal) are flagged partial: the month is not over.
    """
    first = _month_start(today, COHORT_MONTHS - 1)
    active: dict[dt.date, dict[int, int]] = {}
    for cohort, offset, customers in CohortMonth.objects.filter(
        cohort__gte=first, offset__lt=COHORT_MONTHS
    ).values_list("cohort", "offset", "customers"):
        active.setdefault(cohort, {})[offset] = customers
    shares: dict[tuple[dt.date, int], float | None] = {}
    for back in range(COHORT_MONTHS):
        cohort = _month_start(today, back)
        size = active.get(cohort, {}).get(0, 0)
        for offset in range(1, COHORT_MONTHS):
            shares[cohort, offset] = (
                active[cohort].get(offset, 0) / size if size and offset <= back else None
            )
    top = max((v for v in shares.values() if v), default=0.0)
    rows = []
    for back in range(COHORT_MONTHS - 1, -1, -1):
        cohort = _month_start(today, back)
        cells = []
        for offset in range(1, COHORT_MONTHS):
            share = shares[cohort, offset]
            cells.append(
                CohortCell(
                    offset=offset,
                    share=share,
                    customers=active.get(cohort, {}).get(offset, 0),
                    heat=round(HEAT_STEPS * share / top) if share and top else 0,
                    partial=offset == back,
                )
            )
        rows.append(
            CohortRow(
                cohort=cohort,
                size=active.get(cohort, {}).get(0, 0),
                cells=cells,
                partial=back == 0,
            )
        )
    return rows, top


def daily_trend(*, since: dt.date, period: int) -> list[tuple[dt.date, Decimal, int]]:
    """(first day, net revenue, orders) per day of the period, or per week for a year.

    Days without orders are zeros on the chart, not gaps that squeeze the axis; buckets
    end today, so the newest bar is a whole week and the oldest may be shorter. The newest
    bucket holds today, which is not over: the chart draws it as partial.
    """
    by_day = {
        day: (revenue, orders)
        for day, revenue, orders in DailyMetrics.objects.filter(day__gt=since).values_list(
            "day", "revenue", "orders"
        )
    }
    step = 7 if period > WEEKLY_AFTER_DAYS else 1
    days = [since + dt.timedelta(days=i) for i in range(1, period + 1)]
    buckets = [days[max(0, end - step) : end] for end in range(len(days), 0, -step)][::-1]
    trend = []
    for bucket in buckets:
        cells = [by_day.get(day, (Decimal(0), 0)) for day in bucket]
        trend.append(
            (bucket[0], sum((r for r, _n in cells), Decimal(0)), sum(n for _r, n in cells))
        )
    return trend


def _stage_label(value: str) -> str:
    return str(Stage(value).label) if value in Stage.values else value


def _charts(
    state: RollupState,
    stages: dict[str, int],
    flows: list[dict[str, Any]],
    trend: list[tuple[dt.date, Decimal, int]],
) -> dict[str, Any]:
    """Plain data for dashboard.js (serialised with json_script, never into HTML)."""
    order = [s.value for s in STAGE_ORDER]
    sources = [s for s in order if any(f["from_stage"] == s for f in flows)]
    targets = [s for s in order if any(f["to_stage"] == s for f in flows)]
    moved = {(f["from_stage"], f["to_stage"]): f["n"] for f in flows}
    histogram = state.value_histogram or {}
    return {
        "stages": {
            "labels": [_stage_label(s) for s in order],
            "counts": [stages.get(s, 0) for s in order],
            "colours": [STAGE_COLOURS[Stage(s)] for s in order],
        },
        "flows": {
            "labels": [_stage_label(s) for s in sources],
            "datasets": [
                {
                    "label": "→ " + _stage_label(t),
                    "data": [moved.get((s, t), 0) for s in sources],
                    "backgroundColor": STAGE_COLOURS[Stage(t)],
                }
                for t in targets
            ],
        },
        "lorenz": state.lorenz,
        "histogram": {
            "edges": histogram.get("edges", []),
            "counts": histogram.get("counts", []),
        },
        "trend": {
            "labels": [formats.date_format(day, "SHORT_DATE_FORMAT") for day, *_rest in trend],
            "revenue": [float(revenue) for _day, revenue, _n in trend],
            "orders": [n for _day, _revenue, n in trend],
            # The bucket holding today, still filling up: drawn dashed and pale.
            "partial": len(trend) - 1 if trend else None,
        },
        "text": {
            "customers": _("Customers"),
            "revenue": _("Revenue"),
            "orders": _("Orders"),
            "buyers_share": _("Share of buyers, from the smallest"),
            "revenue_share": _("Share of revenue"),
            "equality": _("Equal spend"),
            "actual": _("Actual"),
            "value": _("Predicted CLV") if histogram.get("source") == "clv" else _("Net spend"),
        },
    }


@require(VIEW)
def dashboard(request: HttpRequest) -> HttpResponse:
    period = period_of(request)
    state = RollupState.objects.filter(pk=1).first()
    context: dict[str, Any] = {
        "period": period,
        "periods": PERIODS,
        "state": state,
        # Churn reasons are staff input, not a rollup: one small grouped query, shown even
        # before the first rollup.
        "churn": churn_summary(days=period),
        # Survey answers are read live, not rolled up: a few grouped queries, shown always.
        "feedback_digest": digest_context(translation.get_language() or "ru"),
    }
    if state is None or state.computed_at is None:
        return render(request, "web/dashboard/index.html", context)
    today = timezone.localdate(clock.now())
    since = today - dt.timedelta(days=period)
    latest_day = StageCount.objects.order_by("-day").values("day")[:1]
    stages = dict(
        StageCount.objects.filter(day=Subquery(latest_day)).values_list("stage", "customers")
    )
    # First classifications are bookkeeping, not customers moving: left out of the flows.
    flows = list(
        StageFlow.objects.filter(day__gt=since)
        .exclude(from_stage="")
        .values("from_stage", "to_stage")
        .annotate(n=Sum("customers"))
        .order_by()
    )
    trend = daily_trend(since=since, period=period)
    cohorts, cohort_top = cohort_rows(today)
    pareto = None
    if state.lorenz:
        xs = [round(x, 6) for x, _y in state.lorenz]
        if 0.8 in xs:
            pareto = (1.0 - state.lorenz[xs.index(0.8)][1]) * 100
    context.update(
        as_of=state.computed_at if period in HOURLY_PERIODS else state.rebuilt_at,
        kpis=kpi_views(state.kpis.get(str(period), {})),
        returns=returns_views(state.kpis.get(str(period), {})),
        min_base=MIN_BASE,
        cohorts=cohorts,
        cohort_top=cohort_top,
        cohort_offsets=range(1, COHORT_MONTHS),
        charts=_charts(state, stages, flows, trend),
        value_source=(state.value_histogram or {}).get("source", ""),
        pareto=pareto,
        flows_total=sum(f["n"] for f in flows),
    )
    context["journeys"], context["journey_ticks"] = journey_rows()
    return render(request, "web/dashboard/index.html", context)


def journey_rows() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every journey with a goal and someone in it, for the forest plot: read live.

    The figures come from `journeys_results`, as on the journey list and page (three
    queries), so the dashboard never shows an older figure than they do.
    """
    journeys = list(Journey.objects.order_by("name", "pk"))
    results = journeys_results([j.pk for j in journeys], clock.now())
    return forest_rows(
        [
            (journey, results[journey.pk])
            for journey in journeys
            if results[journey.pk].has_goal
            and (
                results[journey.pk].treated.n
                or results[journey.pk].holdout.n
                or results[journey.pk].in_progress
            )
        ]
    )


@require(VIEW)
def dashboard_kpis_csv(request: HttpRequest) -> StreamingHttpResponse:
    """The KPI tiles of every period as rows: period, metric, value, previous."""
    state = RollupState.objects.filter(pk=1).first()
    rows: list[Sequence[object]] = [[_("period, days"), _("metric"), _("value"), _("previous")]]
    for days in PERIODS:
        snapshot = state.kpis.get(str(days), {}) if state else {}
        for kpi in kpis_compute(snapshot) if snapshot else []:
            rows.append([days, str(KPI_LABELS[kpi.key]), _raw(kpi.value), _raw(kpi.previous)])
    return csv_download(rows, filename="kpis.csv")


def _raw(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


@require(VIEW)
def dashboard_cohorts_csv(request: HttpRequest) -> StreamingHttpResponse:
    """Every cohort cell: cohort month, month, months since first order, customers, revenue."""
    header = [_("cohort"), _("month"), _("months since first order"), _("customers"), _("revenue")]
    cells = CohortMonth.objects.values_list("cohort", "month", "offset", "customers", "revenue")
    return csv_download([header, *cells.iterator()], filename="cohorts.csv")
