"""When a campaign runs: its send time, or the next date of its recurrence.

Dates and times of day are the shop's (settings.TIME_ZONE): "the first Monday at 10:00" is
one moment for the whole run; each customer's send window then picks their own hour.
"""

from __future__ import annotations

import calendar
import datetime as dt

from django.conf import settings

from lifelong.campaigns.models import Campaign, Recurrence
from lifelong.lib.zones import zone_of

DEFAULT_TIME = dt.time(10)
# Far enough to find any yearly date, near enough to stay cheap.
HORIZON_DAYS = 370


def month_day(value: str) -> tuple[int, int]:
    """ "MM-DD" as (month, day); ValueError when it is no day of a (leap) year."""
    month, day = (int(part) for part in value.split("-"))
    dt.date(2000, month, day)  # 2000 is a leap year: 02-29 is allowed
    return month, day


def _on_date(day: dt.date, dates: set[tuple[int, int]]) -> bool:
    if (day.month, day.day) in dates:
        return True
    # 29 February comes on the 28th in the other years.
    return (2, 29) in dates and (day.month, day.day) == (2, 28) and not calendar.isleap(day.year)


def _matches(campaign: Campaign, day: dt.date, dates: set[tuple[int, int]]) -> bool:
    if campaign.recurrence == Recurrence.DAILY:
        return True
    if campaign.recurrence == Recurrence.WEEKLY:
        return day.weekday() == campaign.weekday
    if campaign.recurrence == Recurrence.MONTHLY:
        if day.weekday() != campaign.weekday:
            return False
        if campaign.nth == -1:
            return (day + dt.timedelta(days=7)).month != day.month
        return (day.day - 1) // 7 + 1 == campaign.nth
    if campaign.recurrence == Recurrence.DATES:
        return _on_date(day, dates)
    return False


def next_occurrence(campaign: Campaign, after: dt.datetime) -> dt.datetime | None:
    """The campaign's first run strictly after `after`, or None when there is none.

    A one-off campaign runs at `send_at` (None once that has passed); a recurring one on its
    next matching day at `send_time`, until `recur_until` (inclusive).
    """
    if campaign.recurrence == Recurrence.ONCE:
        return campaign.send_at if campaign.send_at and campaign.send_at > after else None
    zone = zone_of(settings.TIME_ZONE)
    at = campaign.send_time or DEFAULT_TIME
    dates = {month_day(d) for d in campaign.recur_dates}
    start = after.astimezone(zone).date()
    for offset in range(HORIZON_DAYS):
        day = start + dt.timedelta(days=offset)
        if campaign.recur_until is not None and day > campaign.recur_until:
            return None
        if _matches(campaign, day, dates):
            moment = dt.datetime.combine(day, at, tzinfo=zone).astimezone(dt.UTC)
            if moment > after:
                return moment
    return None
