"""The feedback Insights page: NPS and CSAT over time with their intervals, response rates,
themes and their trend, the weekly digest, and NPS per segment, tier and journey.

Every figure comes from lifelong.feedback.insights (one grouped query each), so the page, the
dashboard's digest and the weekly mail agree; the request costs a fixed number of queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import formats, translation
from django.utils.translation import gettext as _

from lifelong.accounts.permissions import VIEW_INSIGHTS
from lifelong.feedback import insights
from lifelong.feedback.digest import digest_themes, theme_names, week_label
from lifelong.feedback.insights import Estimate, GroupNps, Period
from lifelong.journeys.models import Journey
from lifelong.loyalty.models import Tier
from lifelong.segments.models import Segment
from lifelong.web.access import require

PERIODS_SHOWN = {"week": 12, "month": 12}
GROUP_DAYS = 90


@dataclass(frozen=True)
class PeriodRow:
    label: str
    nps: Estimate
    csat: Estimate
    rate: insights.RateFigure


@dataclass(frozen=True)
class GroupRow:
    name: str
    estimate: Estimate


def _period(request: HttpRequest) -> Period:
    return "month" if request.GET.get("period") == "month" else "week"


def _label(start: Any, period: Period) -> str:
    if period == "month":
        return formats.date_format(start, "YEAR_MONTH_FORMAT")
    return week_label(start)


def _groups(groups: list[GroupNps], names: dict[int, str], none: str) -> list[GroupRow]:
    return [
        GroupRow(
            name=names.get(g.key, "?") if g.key is not None else none,
            estimate=g.estimate,
        )
        for g in groups
    ]


def _chart(rows: list[PeriodRow]) -> dict[str, Any]:
    """Plain data for insights.js (json_script): the NPS line and its 95 % whiskers."""
    return {
        "labels": [row.label for row in rows],
        "nps": [None if row.nps.value is None else round(row.nps.value, 1) for row in rows],
        "interval": [
            None if row.nps.low is None else [round(row.nps.low, 1), round(row.nps.high or 0, 1)]
            for row in rows
        ],
        "text": {"nps": _("NPS"), "interval": _("95 % interval"), "y": _("NPS, points")},
    }


@require(VIEW_INSIGHTS)
def insights_page(request: HttpRequest) -> HttpResponse:
    period = _period(request)
    count = PERIODS_SHOWN[period]
    nps = insights.nps_by_period(period=period, count=count)
    csat = insights.csat_by_period(period=period, count=count)
    rates = insights.response_rates(period=period, count=count)
    rows = [
        PeriodRow(label=_label(n.start, period), nps=n.estimate, csat=c.estimate, rate=r)
        for n, c, r in zip(nps, csat, rates, strict=True)
    ]
    language = translation.get_language() or "ru"
    latest = nps[-1].start
    trends = insights.theme_trends(start=latest, period=period)
    praised = insights.praised_staff(start=latest, period=period)
    names = theme_names([t.slug for t in trends], language=language)
    by_segment = insights.nps_by_segment(days=GROUP_DAYS)
    by_tier = insights.nps_by_tier(days=GROUP_DAYS)
    by_journey = insights.nps_by_journey(days=GROUP_DAYS)
    segment_names = dict(
        Segment.objects.filter(pk__in=[g.key for g in by_segment]).values_list("pk", "name")
    )
    tier_names = dict(
        Tier.objects.filter(pk__in=[g.key for g in by_tier]).values_list("pk", "name")
    )
    journey_names = dict(
        Journey.objects.filter(pk__in=[g.key for g in by_journey]).values_list("pk", "name")
    )
    context = {
        "period": period,
        "rows": rows[::-1],
        "chart": _chart(rows),
        "min_base": insights.MIN_BASE,
        "latest_label": _label(latest, period),
        "trends": [(names.get(t.slug, t.slug), t) for t in trends],
        "praised": praised,
        "digest": digest_context(language),
        "group_days": GROUP_DAYS,
        "segments": _groups(by_segment, segment_names, ""),
        "tiers": _groups(by_tier, tier_names, _("No tier")),
        "journeys": _groups(by_journey, journey_names, _("Not from a journey")),
    }
    return render(request, "web/feedback/insights.html", context)


def digest_context(language: str) -> dict[str, Any]:
    """The last ended week's digest as web/feedback/_digest.html shows it (here and on the
    dashboard): four queries."""
    digest = insights.weekly_digest()
    return {
        "week": week_label(digest.start),
        "nps": digest.nps,
        "nps_previous": digest.nps_previous,
        "themes": digest_themes(digest, language=language),
    }
