"""Insights: what the survey answers and the inbox add up to. Read-only, one function per figure,
so every page (the Insights page, the dashboard, the weekly email) shows the same number.

Every figure is one grouped query (GROUP BY period, theme, segment, tier or journey): the
request costs the same handful of queries for a hundred responses or ten million.

Honesty rules, in one place:
- a period is shown only once it has ended; a response rate only once every invite made in
  the period has run out (its answering window closed), since later answers would raise it;
- below MIN_BASE answers (or invites) a figure is None and pages show "—": an NPS of 20 people
  moves by ±40 points on a whim;
- intervals are 95 %: NPS by the normal approximation of the promoter − detractor difference
  (its variance is (p + d − (p − d)²) / n), CSAT by Wilson's score interval for a share.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from django.db import connection
from django.db.models import Case, Count, F, Max, Q, QuerySet, When
from django.db.models.functions import TruncMonth, TruncWeek
from django.utils import timezone

from lifelong import clock
from lifelong.feedback.models import Invite, Item, Response, SurveyKind

Period = Literal["week", "month"]
MIN_BASE = 30
Z95 = 1.959964
PROMOTER_MIN, DETRACTOR_MAX = 9, 6  # NPS 0–10
SATISFIED_MIN = 4  # CSAT 1–5
QUOTE_CHARS = 160
QUOTES_PER_THEME = 2
TOP_THEMES = 3
PRAISED_SHOWN = 10


@dataclass(frozen=True)
class Estimate:
    """A figure with its 95 % interval, all None below MIN_BASE."""

    n: int
    value: float | None
    low: float | None
    high: float | None


@dataclass(frozen=True)
class PeriodFigure:
    start: dt.date
    estimate: Estimate


@dataclass(frozen=True)
class RateFigure:
    start: dt.date
    invites: int
    responses: int
    rate: float | None  # None: below MIN_BASE invites, or some invite still open
    complete: bool  # every invite made in the period has run out


@dataclass(frozen=True)
class ThemeTrend:
    slug: str
    current: int
    previous: int

    @property
    def change(self) -> int:
        return self.current - self.previous


@dataclass(frozen=True)
class GroupNps:
    key: int | None
    estimate: Estimate


def nps_estimate(*, n: int, promoters: int, detractors: int) -> Estimate:
    """NPS in points (−100…100) with its 95 % interval (normal approximation, clipped)."""
    if n < MIN_BASE:
        return Estimate(n=n, value=None, low=None, high=None)
    p, d = promoters / n, detractors / n
    value = p - d
    half = Z95 * math.sqrt(max(p + d - value * value, 0.0) / n)
    return Estimate(
        n=n,
        value=100 * value,
        low=100 * max(-1.0, value - half),
        high=100 * min(1.0, value + half),
    )


def wilson_estimate(*, n: int, hits: int) -> Estimate:
    """A share in per cent with Wilson's 95 % score interval."""
    if n < MIN_BASE:
        return Estimate(n=n, value=None, low=None, high=None)
    share = hits / n
    z2 = Z95 * Z95
    centre = (share + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * math.sqrt(share * (1 - share) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return Estimate(
        n=n,
        value=100 * share,
        low=100 * max(0.0, min(share, centre - half)),
        high=100 * min(1.0, max(share, centre + half)),
    )


def period_start(day: dt.date, period: Period) -> dt.date:
    if period == "week":
        return day - dt.timedelta(days=day.weekday())
    return day.replace(day=1)


def period_next(start: dt.date, period: Period) -> dt.date:
    if period == "week":
        return start + dt.timedelta(days=7)
    return (start + dt.timedelta(days=32)).replace(day=1)


def periods_ended(*, period: Period, count: int, now: dt.datetime | None = None) -> list[dt.date]:
    """The starts of the last `count` periods that have ended, oldest first."""
    current = period_start(timezone.localdate(now or clock.now()), period)
    starts = []
    for _i in range(count):
        current = period_start(current - dt.timedelta(days=1), period)
        starts.append(current)
    return starts[::-1]


def _at(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time()))


def _trunc(field: str, period: Period) -> TruncWeek | TruncMonth:
    zone = timezone.get_current_timezone()
    return TruncWeek(field, tzinfo=zone) if period == "week" else TruncMonth(field, tzinfo=zone)


def _day(value: dt.date | dt.datetime) -> dt.date:
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    return value


def _scored(kind: str) -> QuerySet[Response]:
    return Response.objects.filter(survey__kind=kind, score__isnull=False)


def _by_period(
    rows: QuerySet[Response], *, period: Period, count: int
) -> tuple[list[dt.date], Any]:
    starts = periods_ended(period=period, count=count)
    rows = rows.filter(
        submitted_at__gte=_at(starts[0]), submitted_at__lt=_at(period_next(starts[-1], period))
    )
    return starts, rows.annotate(period=_trunc("submitted_at", period)).values("period")


def nps_by_period(*, period: Period = "week", count: int = 12) -> list[PeriodFigure]:
    """NPS of relationship-NPS surveys per ended period, oldest first: one query."""
    starts, rows = _by_period(_scored(SurveyKind.NPS), period=period, count=count)
    found = {
        _day(row["period"]): row
        for row in rows.annotate(
            n=Count("pk"),
            promoters=Count("pk", filter=Q(score__gte=PROMOTER_MIN)),
            detractors=Count("pk", filter=Q(score__lte=DETRACTOR_MAX)),
        ).order_by()
    }
    empty = {"n": 0, "promoters": 0, "detractors": 0}
    return [
        PeriodFigure(
            start=start,
            estimate=nps_estimate(
                n=found.get(start, empty)["n"],
                promoters=found.get(start, empty)["promoters"],
                detractors=found.get(start, empty)["detractors"],
            ),
        )
        for start in starts
    ]


def csat_by_period(*, period: Period = "week", count: int = 12) -> list[PeriodFigure]:
    """CSAT (share of 4–5 on CSAT surveys) per ended period, oldest first: one query."""
    starts, rows = _by_period(_scored(SurveyKind.CSAT), period=period, count=count)
    found = {
        _day(row["period"]): (row["n"], row["hits"])
        for row in rows.annotate(
            n=Count("pk"), hits=Count("pk", filter=Q(score__gte=SATISFIED_MIN))
        ).order_by()
    }
    figures = []
    for start in starts:
        n, hits = found.get(start, (0, 0))
        figures.append(PeriodFigure(start=start, estimate=wilson_estimate(n=n, hits=hits)))
    return figures


def response_rates(*, period: Period = "week", count: int = 12) -> list[RateFigure]:
    """Answered invites / invites, by the period the invite was made in: one query.

    A period's rate is given only when the last of its invites has expired, so a late
    answer can no longer change it, and when it holds at least MIN_BASE invites."""
    now = clock.now()
    starts = periods_ended(period=period, count=count)
    rows = (
        Invite.objects.filter(
            created_at__gte=_at(starts[0]), created_at__lt=_at(period_next(starts[-1], period))
        )
        .annotate(period=_trunc("created_at", period))
        .values("period")
        .annotate(
            invites=Count("pk"),
            responses=Count("response"),
            last_expiry=Max("expires_at"),
        )
        .order_by()
    )
    found = {_day(row["period"]): row for row in rows}
    figures = []
    for start in starts:
        row = found.get(start)
        invites = row["invites"] if row else 0
        responses = row["responses"] if row else 0
        complete = row is None or row["last_expiry"] <= now
        figures.append(
            RateFigure(
                start=start,
                invites=invites,
                responses=responses,
                rate=100 * responses / invites if complete and invites >= MIN_BASE else None,
                complete=complete,
            )
        )
    return figures


def _unnested(table: str) -> str:
    """`table` as r joined with its themes as t.value: JSON arrays unnest differently per
    database, the rest is plain SQL either way."""
    if connection.vendor == "postgresql":
        return f"{table} r CROSS JOIN LATERAL jsonb_array_elements_text(r.themes) AS t(value)"
    return f"{table} r, json_each(r.themes) AS t"


def _theme_rows(table: str, stamp: str, extra: str) -> str:
    # Names and constants only; values go as parameters.
    return (
        "SELECT t.value AS value, "  # noqa: S608
        f"CASE WHEN r.{stamp} >= %s THEN 1 ELSE 0 END AS now_, "
        f"CASE WHEN r.{stamp} < %s THEN 1 ELSE 0 END AS before_ "
        f"FROM {_unnested(table)} WHERE r.{stamp} >= %s AND r.{stamp} < %s {extra}"
    )


def theme_trends(*, start: dt.date, period: Period = "week") -> list[ThemeTrend]:
    """Mentions per theme in the period from `start` and in the period before it, from survey
    responses and from inbox items that are not survey responses (counted once): one
    grouped query. Sorted by this period's count, then by the rise."""
    previous = period_start(start - dt.timedelta(days=1), period)
    params = [_at(start), _at(start), _at(previous), _at(period_next(start, period))]
    responses = _theme_rows(Response._meta.db_table, "submitted_at", "")
    items = _theme_rows(Item._meta.db_table, "received_at", "AND r.source <> 'survey'")
    sql = (
        "SELECT value, SUM(now_), SUM(before_) "  # noqa: S608
        f"FROM ({responses} UNION ALL {items}) mentions GROUP BY value"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params * 2)
        rows = cursor.fetchall()
    trends = [
        ThemeTrend(slug=str(slug), current=int(now or 0), previous=int(before or 0))
        for slug, now, before in rows
    ]
    return sorted(trends, key=lambda t: (-t.current, -t.change, t.slug))


@dataclass(frozen=True)
class PraisedStaff:
    user_id: int
    name: str
    mentions: int  # positive inbox items naming them in the period


def praised_staff(
    *, start: dt.date, period: Period = "week", limit: int = PRAISED_SHOWN
) -> list[PraisedStaff]:
    """The staff members most often named in positive inbox items received in the period
    from `start` (every survey comment is an item too, so it counts once): one query, the
    mentions table read by its item and user indexes. A complaint or a neutral mention is
    not praise and does not count."""
    mentions = Item.mentioned_staff.through.objects.filter(
        item__sentiment="positive",
        item__received_at__gte=_at(start),
        item__received_at__lt=_at(period_next(start, period)),
    )
    rows = (
        mentions.values("user_id", "user__first_name", "user__last_name", "user__username")
        .annotate(n=Count("item_id"))
        .order_by("-n", "user__first_name", "user_id")[:limit]
    )
    return [
        PraisedStaff(
            user_id=row["user_id"],
            name=f"{row['user__first_name']} {row['user__last_name']}".strip()
            or row["user__username"],
            mentions=row["n"],
        )
        for row in rows
    ]


def theme_quotes(*, slugs: Iterable[str], start: dt.date, end: dt.date) -> dict[str, list[str]]:
    """Up to QUOTES_PER_THEME short comments per theme from the responses in [start, end):
    one query (a window function ranks each theme's comments, the shortest sensible first,
    since a digest quote must read at a glance)."""
    slugs = list(slugs)
    if not slugs:
        return {}
    source = _unnested(Response._meta.db_table)
    marks = ", ".join(["%s"] * len(slugs))
    # Names and placeholders only; values go as parameters.
    sql = (
        "SELECT value, comment FROM (SELECT t.value AS value, r.comment AS comment, "  # noqa: S608
        "ROW_NUMBER() OVER (PARTITION BY t.value ORDER BY "
        "CASE WHEN LENGTH(r.comment) BETWEEN 20 AND %s THEN 0 ELSE 1 END, "
        "r.submitted_at DESC, r.id DESC) AS place "
        f"FROM {source} WHERE r.submitted_at >= %s AND r.submitted_at < %s "
        f"AND r.comment <> '' AND t.value IN ({marks})) ranked "
        "WHERE place <= %s ORDER BY value, place"
    )
    quotes: dict[str, list[str]] = {slug: [] for slug in slugs}
    with connection.cursor() as cursor:
        # Twice as many as shown, so the same comment sent twice still leaves two quotes.
        cursor.execute(sql, [QUOTE_CHARS, _at(start), _at(end), *slugs, 2 * QUOTES_PER_THEME])
        for slug, comment in cursor.fetchall():
            quote, shown = _short(" ".join(str(comment).split())), quotes[str(slug)]
            if quote not in shown and len(shown) < QUOTES_PER_THEME:
                shown.append(quote)
    return quotes


def _short(text: str) -> str:
    if len(text) <= QUOTE_CHARS:
        return text
    return text[: QUOTE_CHARS - 1].rsplit(" ", 1)[0] + "…"


@dataclass(frozen=True)
class DigestTheme:
    slug: str
    current: int
    previous: int
    quotes: list[str]

    @property
    def change(self) -> int:
        return self.current - self.previous


@dataclass(frozen=True)
class Digest:
    start: dt.date  # Monday of the week summed up
    themes: list[DigestTheme]
    nps: Estimate
    nps_previous: Estimate
    risen: list[ThemeTrend]  # themes mentioned more than the week before, beyond the top three


def weekly_digest(*, start: dt.date | None = None) -> Digest:
    """The week's top three themes with quotes and the change from the week before, and its
    NPS against the week before. `start` is a Monday; by default the last ended week."""
    start = start or periods_ended(period="week", count=1)[0]
    end = start + dt.timedelta(days=7)
    trends = [t for t in theme_trends(start=start, period="week") if t.current]
    top = trends[:TOP_THEMES]
    quotes = theme_quotes(slugs=[t.slug for t in top], start=start, end=end)
    nps = _nps_between(start - dt.timedelta(days=7), start, end)
    return Digest(
        start=start,
        themes=[
            DigestTheme(slug=t.slug, current=t.current, previous=t.previous, quotes=quotes[t.slug])
            for t in top
        ],
        nps=nps[1],
        nps_previous=nps[0],
        risen=[t for t in trends[TOP_THEMES:] if t.change > 0][:3],
    )


def _nps_between(before: dt.date, start: dt.date, end: dt.date) -> tuple[Estimate, Estimate]:
    """NPS of [before, start) and of [start, end): one query."""
    new = Q(submitted_at__gte=_at(start))
    row = (
        _scored(SurveyKind.NPS)
        .filter(submitted_at__gte=_at(before), submitted_at__lt=_at(end))
        .aggregate(
            n_new=Count("pk", filter=new),
            p_new=Count("pk", filter=new & Q(score__gte=PROMOTER_MIN)),
            d_new=Count("pk", filter=new & Q(score__lte=DETRACTOR_MAX)),
            n_old=Count("pk", filter=~new),
            p_old=Count("pk", filter=~new & Q(score__gte=PROMOTER_MIN)),
            d_old=Count("pk", filter=~new & Q(score__lte=DETRACTOR_MAX)),
        )
    )
    old, current = (
        nps_estimate(n=row[f"n_{part}"], promoters=row[f"p_{part}"], detractors=row[f"d_{part}"])
        for part in ("old", "new")
    )
    return old, current


def _nps_groups(rows: QuerySet[Response], key: str) -> list[GroupNps]:
    grouped = (
        rows.values(key)
        .annotate(
            n=Count("pk"),
            promoters=Count("pk", filter=Q(score__gte=PROMOTER_MIN)),
            detractors=Count("pk", filter=Q(score__lte=DETRACTOR_MAX)),
        )
        .order_by()
    )
    groups = [
        GroupNps(
            key=row[key],
            estimate=nps_estimate(
                n=row["n"], promoters=row["promoters"], detractors=row["detractors"]
            ),
        )
        for row in grouped
    ]
    return sorted(groups, key=lambda g: -g.estimate.n)


def _recent_nps(days: int) -> QuerySet[Response]:
    return _scored(SurveyKind.NPS).filter(submitted_at__gte=clock.now() - dt.timedelta(days=days))


def nps_by_segment(*, days: int = 90) -> list[GroupNps]:
    """NPS of the last `days` per segment the customer is in now (a customer counts in each
    of their segments): one query. `key` is the segment id."""
    return _nps_groups(
        _recent_nps(days).filter(customer__segment_memberships__segment__active=True),
        "customer__segment_memberships__segment",
    )


def nps_by_tier(*, days: int = 90) -> list[GroupNps]:
    """NPS of the last `days` per loyalty tier held now: a manual tier still valid and not
    below the qualified one counts, else the qualified tier (as tiers_current decides);
    `key` None is customers with no tier row. One query."""
    now = clock.now()
    held = Case(
        When(
            Q(
                customer__loyalty_tier__manual_tier__isnull=False,
                customer__loyalty_tier__manual_until__gt=now,
            )
            & (
                Q(customer__loyalty_tier__tier__isnull=True)
                | Q(
                    customer__loyalty_tier__manual_tier__position__gte=F(
                        "customer__loyalty_tier__tier__position"
                    )
                )
            ),
            then=F("customer__loyalty_tier__manual_tier"),
        ),
        default=F("customer__loyalty_tier__tier"),
    )
    return _nps_groups(_recent_nps(days).annotate(held_tier=held), "held_tier")


def nps_by_journey(*, days: int = 90) -> list[GroupNps]:
    """NPS of the last `days` per journey whose survey node sent the invite; `key` None is
    invites sent otherwise. One query."""
    return _nps_groups(_recent_nps(days), "invite__enrollment__journey")
