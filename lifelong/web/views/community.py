"""The Community page: the clubs with their members, joins and leaves by month, and whether
the clubs lift repeat purchases (members against matched non-members).

The lift comes from `community.lift_query.community_lift` (its module says who is compared
with whom); this view only words it. The request costs a fixed number of queries whatever
the number of clubs, members or cohorts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q
from django.db.models.functions import TruncMonth
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from lifelong import clock
from lifelong.accounts.permissions import VIEW
from lifelong.community.lift import WINDOW_DAYS, Estimate, Lift, Verdict
from lifelong.community.lift_query import community_lift
from lifelong.community.models import Club, ClubMember, MemberStatus
from lifelong.web.access import require

MONTHS_SHOWN = 12
RECENT_DAYS = 30
DASH = "—"
MINUS = "−"  # U+2212: a hyphen reads as a dash next to a number


@dataclass(frozen=True)
class Row:
    """One outcome of the lift panel as the page prints it."""

    label: str
    members: str
    controls: str
    diff: str
    interval: str
    # "good" or "bad" only when the base is big enough and the interval excludes zero.
    tone: str


def _number(value: float, *, sign: bool = False, places: int = 1) -> str:
    value = round(value, places)
    text = formats.number_format(abs(value), decimal_pos=places, force_grouping=True)
    if value < 0:
        return MINUS + text
    return ("+" if sign and value > 0 else "") + text


def _count(value: int) -> str:
    return formats.number_format(value, force_grouping=True)


def _rate_row(label: str, estimate: Estimate | None, *, lower_is_better: bool, sure: bool) -> Row:
    if estimate is None:
        return Row(label, DASH, DASH, DASH, "", "")
    tone = ""
    if sure and estimate.significant:
        good = (estimate.diff < 0) if lower_is_better else (estimate.diff > 0)
        tone = "good" if good else "bad"
    pp = _("pp")
    return Row(
        label=label,
        members=f"{_number(100 * estimate.members)} %",
        controls=f"{_number(100 * estimate.controls)} %",
        diff=f"{_number(100 * estimate.diff, sign=True)} {pp}",
        interval=f"{_number(100 * estimate.low)} … {_number(100 * estimate.high)} {pp}",
        tone=tone,
    )


def _money_row(label: str, estimate: Estimate | None, *, sure: bool) -> Row:
    if estimate is None:
        return Row(label, DASH, DASH, DASH, "", "")
    tone = ""
    if sure and estimate.significant:
        tone = "good" if estimate.diff > 0 else "bad"
    return Row(
        label=label,
        members=f"{_number(estimate.members, places=0)} ₽",
        controls=f"{_number(estimate.controls, places=0)} ₽",
        diff=f"{_number(estimate.diff, sign=True, places=0)} ₽",
        interval=f"{_number(estimate.low, places=0)} … {_number(estimate.high, places=0)} ₽",
        tone=tone,
    )


def lift_rows(lift: Lift) -> list[Row]:
    """The three outcomes; colour (good/bad) only where the verdict may speak at all."""
    sure = lift.verdict in (Verdict.BETTER, Verdict.WORSE, Verdict.UNCLEAR)
    return [
        _rate_row(
            _("Bought again within %(days)s days") % {"days": WINDOW_DAYS},
            lift.repeat,
            lower_is_better=False,
            sure=sure,
        ),
        _rate_row(
            _("Lapsed by day %(days)s") % {"days": WINDOW_DAYS},
            lift.lapsed,
            lower_is_better=True,
            sure=sure,
        ),
        _money_row(
            _("Spend in %(days)s days, per customer") % {"days": WINDOW_DAYS}, lift.spend, sure=sure
        ),
    ]


def lift_verdict(lift: Lift, min_base: int) -> str:
    """One plain sentence; it never calls a difference real on immature or small data."""
    verdict = lift.verdict
    if verdict == Verdict.NO_DATA:
        if lift.unmatched:
            return _(
                "No member could be compared yet: none of the members whose %(days)s days are "
                "over has a customer outside the clubs with the same tier, segment and tenure."
            ) % {"days": WINDOW_DAYS}
        return _(
            "Nothing to compare yet: the comparison starts when the first members have been "
            "in a club for %(days)s days."
        ) % {"days": WINDOW_DAYS}
    if verdict == Verdict.TOO_FEW:
        return _(
            "Too few people to tell yet: a verdict needs at least %(n)s members and %(n)s "
            "matched non-members whose %(days)s days are over. The figures below are shown as "
            "they are, and a difference between them may well be chance."
        ) % {"n": min_base, "days": WINDOW_DAYS}
    assert lift.repeat is not None
    values = {
        "diff": _number(100 * abs(lift.repeat.diff)),
        "low": _number(100 * lift.repeat.low),
        "high": _number(100 * lift.repeat.high),
    }
    if verdict == Verdict.BETTER:
        return (
            _(
                "Members bought again more often than similar customers outside the clubs: by "
                "%(diff)s percentage points (95 %% interval %(low)s to %(high)s)."
            )
            % values
        )
    if verdict == Verdict.WORSE:
        return (
            _(
                "Members bought again less often than similar customers outside the clubs: by "
                "%(diff)s percentage points (95 %% interval %(low)s to %(high)s)."
            )
            % values
        )
    return (
        _(
            "No difference the data can tell from chance yet: the 95 %% interval of the "
            "difference in repeat purchases runs from %(low)s to %(high)s percentage points."
        )
        % values
    )


def _month_counts(field: str, since: dt.datetime, extra: Q | None = None) -> dict[dt.date, int]:
    rows = (
        ClubMember.objects.filter(**{f"{field}__gte": since})
        .filter(extra or Q())
        .annotate(month=TruncMonth(field, tzinfo=dt.UTC))
        .values("month")
        .annotate(n=Count("pk"))
        .order_by()
        .values_list("month", "n")
    )
    return {month.date(): n for month, n in rows}


def _months_back(today: dt.date, count: int) -> list[dt.date]:
    months, year, month = [], today.year, today.month
    for _i in range(count):
        months.append(dt.date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return months[::-1]


def flow_chart(now: dt.datetime) -> dict[str, Any]:
    """Joins, leaves and removals per month over the last year (three grouped queries).

    The last month is not over: `partial` is its index, drawn pale by the page's script.
    """
    months = _months_back(now.astimezone(dt.UTC).date(), MONTHS_SHOWN)
    since = dt.datetime.combine(months[0], dt.time(), tzinfo=dt.UTC)
    joins = _month_counts("joined_at", since)
    leaves = _month_counts("left_at", since)
    removals = _month_counts("removed_at", since)
    return {
        "labels": [formats.date_format(m, "YEAR_MONTH_FORMAT") for m in months],
        "joins": [joins.get(m, 0) for m in months],
        "leaves": [leaves.get(m, 0) for m in months],
        "removals": [removals.get(m, 0) for m in months],
        "partial": len(months) - 1,
        "text": {
            "joins": pgettext("club members, a chart's series", "Joined"),
            "leaves": pgettext("club members, a chart's series", "Left"),
            "removals": pgettext("club members, a chart's series", "Removed"),
        },
    }


@require(VIEW)
def community_overview(request: HttpRequest) -> HttpResponse:
    now = clock.now()
    recent = now - dt.timedelta(days=RECENT_DAYS)
    clubs = list(
        Club.objects.select_related("tier")
        .annotate(
            in_club=Count("members", filter=Q(members__status=MemberStatus.JOINED)),
            joined_recently=Count("members", filter=Q(members__joined_at__gte=recent)),
            left_recently=Count(
                "members",
                filter=Q(members__left_at__gte=recent) | Q(members__removed_at__gte=recent),
            ),
        )
        .order_by("-active", "title", "pk")
    )
    lift = community_lift(now)
    min_base = lift.min_base
    context = {
        "clubs": [(club, reverse("web:club", args=[club.pk])) for club in clubs],
        "clubs_url": reverse("web:clubs"),
        "active_url": reverse("web:community_activity"),
        "recent_days": RECENT_DAYS,
        "chart": flow_chart(now),
        "lift": lift,
        "lift_rows": lift_rows(lift),
        "verdict": lift_verdict(lift, min_base),
        "verdict_kind": lift.verdict.value,
        "counts": {
            "members": _count(lift.members),
            "controls": _count(lift.controls),
            "in_progress": _count(lift.in_progress),
            "no_history": _count(lift.no_history),
            "unmatched": _count(lift.unmatched),
        },
        "window_days": WINDOW_DAYS,
        "min_base": min_base,
    }
    return render(request, "web/community/overview.html", context)
