"""Activity that counts: active weeks for segments, journeys and earning rules, and the
"most active this month" lists.

The bot's updates keep per member per day counters (`ClubActivity`: messages, of them
replies, and reactions; never the text). From those:

- `community_active_week_record` (the `community.active_weeks` sweep) records one
  `community_active_week` event per club member and ISO week in which the member wrote at
  least the club's threshold of messages (`ClubActivityRule.week_messages`, 3 by default).
  The event's key names the member and the week, so running the sweep again, or every few
  minutes while the week goes on, records nothing twice. It looks at this week and the last
  one, so a week that reached the threshold late on Sunday is still recorded on Monday.
- `most_active` ranks a month's members by their counted activity: messages, plus replies
  again (answering another member is what a club is for), plus reactions.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db.models import F, Max, Sum
from django.db.models.functions import Coalesce

from lifelong import clock
from lifelong.community.models import (
    WEEK_MESSAGES_DEFAULT,
    Club,
    ClubActivity,
    ClubReward,
)
from lifelong.events.models import Event
from lifelong.events.services import events_record
from lifelong.lib.zones import zone_of

EVENT_TYPE = "community_active_week"
SOURCE = "community"
LIST_SIZE = 20
SCORE = F("messages") + F("replies") + F("reactions")


def week_start(day: dt.date) -> dt.date:
    """The Monday of the day's ISO week."""
    return day - dt.timedelta(days=day.weekday())


def week_code(monday: dt.date) -> str:
    year, week, _weekday = monday.isocalendar()
    return f"{year}-W{week:02d}"


def community_active_week_record(*, now: dt.datetime | None = None) -> int:
    """Record `community_active_week` for every member active enough in this ISO week or the
    last (by the day counters' UTC days); returns how many events were new. One grouped
    query per club and week: the counters' (club, day) index serves each."""
    today = (now or clock.now()).astimezone(dt.UTC).date()
    this_week = week_start(today)
    events: list[Event] = []
    clubs = Club.objects.filter(active=True).annotate(
        threshold=Coalesce("activity_rule__week_messages", WEEK_MESSAGES_DEFAULT)
    )
    for club in clubs.order_by("pk"):
        for monday in (this_week - dt.timedelta(days=7), this_week):
            rows = (
                ClubActivity.objects.filter(
                    club=club,
                    day__gte=monday,
                    day__lt=monday + dt.timedelta(days=7),
                    member__customer__isnull=False,
                )
                .values("member_id", "member__customer_id")
                .annotate(n_messages=Sum("messages"), latest=Max("last_at"))
                .filter(n_messages__gte=max(1, club.threshold))
                .order_by("member_id")
            )
            code = week_code(monday)
            events += [
                Event(
                    customer_id=row["member__customer_id"],
                    type=EVENT_TYPE,
                    properties={"club_id": club.pk, "week": code, "messages": row["n_messages"]},
                    occurred_at=row["latest"],
                    received_at=clock.now(),
                    source=SOURCE,
                    idempotency_key=f"{EVENT_TYPE}:{row['member_id']}:{code}",
                )
                for row in rows
            ]
    # Most of these were recorded by an earlier run this week: only the new ones are written.
    recorded = set(
        Event.objects.filter(idempotency_key__in=[e.idempotency_key for e in events]).values_list(
            "idempotency_key", flat=True
        )
    )
    fresh = [e for e in events if e.idempotency_key not in recorded]
    events_record(fresh)
    return len(fresh)


def month_start(moment: dt.datetime | None = None) -> dt.date:
    """The first day of the month `moment` falls in, on the business's calendar."""
    local = (moment or clock.now()).astimezone(zone_of(settings.TIME_ZONE)).date()
    return local.replace(day=1)


def month_after(month: dt.date) -> dt.date:
    return (month + dt.timedelta(days=32)).replace(day=1)


@dataclass(frozen=True)
class Active:
    """One line of a "most active" list."""

    customer_id: int | None
    name: str
    messages: int
    replies: int
    reactions: int
    rewards: frozenset[str]

    @property
    def score(self) -> int:
        return self.messages + self.replies + self.reactions


def most_active(
    *, month: dt.date, club: Club | None = None, limit: int = LIST_SIZE
) -> list[Active]:
    """The month's most active members, highest counted activity first (ties: more messages,
    then the customer or member first seen), with the rewards each customer already got for
    the month.

    Per club: its members, matched to a customer or not (only a customer can be rewarded).
    Overall: customers, their clubs added up. Two queries either way.
    """
    rows = ClubActivity.objects.filter(
        day__gte=month, day__lt=month_after(month), member__isnull=False
    )
    names = ("member__customer__first_name", "member__customer__last_name")
    group: tuple[str, ...]
    if club is not None:
        rows = rows.filter(club=club)
        group = ("member_id", "member__customer_id", "member__name", *names)
        tie = "member_id"
    else:
        rows = rows.filter(member__customer__isnull=False)
        group = ("member__customer_id", *names)
        tie = "member__customer_id"
    ranked = list(
        rows.values(*group)
        .annotate(
            score=Sum(SCORE),
            n_messages=Sum("messages"),
            n_replies=Sum("replies"),
            n_reactions=Sum("reactions"),
        )
        .filter(score__gt=0)
        .order_by("-score", "-n_messages", tie)[:limit]
    )
    customers = [r["member__customer_id"] for r in ranked if r["member__customer_id"]]
    given: dict[int, set[str]] = {}
    for customer_id, kind in ClubReward.objects.filter(
        month=month, customer_id__in=customers
    ).values_list("customer_id", "kind"):
        given.setdefault(customer_id, set()).add(kind)
    return [
        Active(
            customer_id=r["member__customer_id"],
            name=_name(r),
            messages=r["n_messages"] or 0,
            replies=r["n_replies"] or 0,
            reactions=r["n_reactions"] or 0,
            rewards=frozenset(given.get(r["member__customer_id"], ())),
        )
        for r in ranked
    ]


def _name(row: dict[str, object]) -> str:
    customer = " ".join(
        str(row[k] or "") for k in ("member__customer__first_name", "member__customer__last_name")
    ).strip()
    return customer or str(row.get("member__name") or "") or "—"
