"""Calendar periods goals are set for: a month or a quarter, first and last day included."""

from __future__ import annotations

import datetime as dt

from lifelong.team.models import PeriodKind


def period_bounds(kind: str, day: dt.date) -> tuple[dt.date, dt.date]:
    """The month or quarter holding `day`: (first day, last day)."""
    if kind == PeriodKind.QUARTER:
        first = day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
        months = 3
    else:
        first, months = day.replace(day=1), 1
    year, month = divmod(first.month - 1 + months, 12)
    after = dt.date(first.year + year, month + 1, 1)
    return first, after - dt.timedelta(days=1)


def periods_back(kind: str, *, today: dt.date, count: int) -> list[tuple[dt.date, dt.date]]:
    """The period holding `today` and the `count - 1` before it, oldest first."""
    out = [period_bounds(kind, today)]
    while len(out) < count:
        out.append(period_bounds(kind, out[-1][0] - dt.timedelta(days=1)))
    return out[::-1]
