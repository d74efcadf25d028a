"""Times of day people actually shop and write: in their own time zone, mostly evenings."""

from __future__ import annotations

import datetime as dt
from functools import cache
from zoneinfo import ZoneInfo

from lifelong.demo.dice import Dice, Weights

_HOUR_WEIGHTS = Weights(
    [1, 0.5, 0.2, 0.1, 0.1, 0.2, 0.6, 1.5, 3, 4, 5, 5, 6, 6, 5, 5, 5, 6, 7, 8, 9, 8, 6, 3]
)


@cache
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_moment(dice: Dice, *, near: dt.datetime, time_zone: str) -> dt.datetime:
    """A likely moment (UTC, whole minutes) on the local calendar day that contains `near`."""
    tz = zone(time_zone)
    day = near.astimezone(tz).date()
    hour, minute = dice.index(_HOUR_WEIGHTS), dice.below(60)
    local = dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)
    return local.astimezone(dt.UTC)


def later(dice: Dice, start: dt.datetime, *, low_hours: float, high_hours: float) -> dt.datetime:
    """A moment between `low_hours` and `high_hours` after `start`, at least a minute later."""
    minutes = int(dice.uniform(low_hours * 60, high_hours * 60))
    return start + dt.timedelta(minutes=max(1, minutes))


def office_moment(dice: Dice, *, near: dt.datetime) -> dt.datetime:
    """A working-hours moment in Moscow, where the shop's team sits, on the day of `near`."""
    tz = zone("Europe/Moscow")
    day = near.astimezone(tz).date()
    local = dt.datetime(
        day.year, day.month, day.day, dice.between(10, 18), dice.below(60), tzinfo=tz
    )
    return local.astimezone(dt.UTC)
