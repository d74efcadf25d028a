"""The per-manager report for the owner: each staff member's figure on one metric over the
last periods, the current one drawn as incomplete, with their own targets."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from lifelong.accounts.permissions import MANAGE_ACCOUNTS
from lifelong.team.models import Metric, PeriodKind
from lifelong.team.selectors import manager_trend
from lifelong.web.access import require

PERIODS_SHOWN = {PeriodKind.MONTH: 6, PeriodKind.QUARTER: 4}


def _label(start: dt.date, kind: str) -> str:
    if kind == PeriodKind.QUARTER:
        return f"Q{(start.month + 2) // 3} {start.year}"
    return start.strftime("%m.%Y")


@require(MANAGE_ACCOUNTS)
def team_report(request: HttpRequest) -> HttpResponse:
    metric = request.GET.get("metric", "")
    metric = metric if metric in Metric.values else Metric.TASKS_ON_TIME
    kind = request.GET.get("period", "")
    kind = kind if kind == PeriodKind.QUARTER else PeriodKind.MONTH
    trend = manager_trend(metric, kind=kind, count=PERIODS_SHOWN[PeriodKind(kind)])
    labels = [
        start.strftime("%m.%Y")
        if kind == PeriodKind.MONTH
        else f"Q{(start.month + 2) // 3} {start.year}"
        for start, _end in trend.periods
    ]
    chart: dict[str, Any] = {
        "labels": labels,
        # The last period runs: the chart draws its stretch dashed.
        "incomplete": [not figure.complete for figure in trend.rows[0].figures]
        if trend.rows
        else [],
        # One line per person: a team's pooled line would sit among its members' own.
        "series": [
            {"name": row.name, "values": [f.value for f in row.figures]}
            for row in trend.rows
            if not row.team
        ],
    }
    context = {
        "trend": trend,
        "labels": labels,
        "metric": metric,
        "metric_label": Metric(metric).label,
        "metrics": Metric.choices,
        "kind": kind,
        "chart": chart,
    }
    return render(request, "web/team/report.html", context)
