"""The points liability: what the business owes in points, what it is worth, and when it expires.

Two set-based reads, whatever the number of members: one aggregate over the customer
accounts' cached balances (which `verify` keeps equal to the entries) and one GROUP BY
month over the open lots inside the next months, served by the `lot_expiry_due` index
(expires_at where remaining > 0).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from lifelong import clock
from lifelong.loyalty.models import Account, AccountKind, Lot, Programme
from lifelong.loyalty.services import months_add

MONTHS_AHEAD = 12


@dataclass(frozen=True)
class Balances:
    """Sums over every customer account. Debts (a refund after points were spent) are
    owed to the business, so they are shown apart and not netted against the liability."""

    available: int
    debt: int
    pending: int
    held: int
    members: int

    @property
    def outstanding(self) -> int:
        return self.available + self.pending + self.held


@dataclass(frozen=True)
class ExpiryMonth:
    month: dt.date
    points: int


@dataclass(frozen=True)
class Liability:
    balances: Balances
    point_value: Decimal
    # Open lots whose expiry has passed and the sweep has not reached yet.
    overdue: int
    months: list[ExpiryMonth]
    later: int
    never: int

    @property
    def value(self) -> Decimal:
        return (self.point_value * self.balances.outstanding).quantize(Decimal("0.01"))

    def month_value(self, points: int) -> Decimal:
        return (self.point_value * points).quantize(Decimal("0.01"))


def _month_start(moment: dt.datetime) -> dt.datetime:
    local = timezone.localtime(moment)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def liability_balances() -> Balances:
    totals = Account.objects.filter(kind=AccountKind.CUSTOMER).aggregate(
        available_sum=Sum("available", filter=Q(available__gt=0), default=0),
        debt_sum=Sum("available", filter=Q(available__lt=0), default=0),
        pending_sum=Sum("pending", default=0),
        held_sum=Sum("held", default=0),
        members=Count("pk", filter=Q(available__gt=0) | Q(pending__gt=0) | Q(held__gt=0)),
    )
    return Balances(
        available=int(totals["available_sum"]),
        debt=-int(totals["debt_sum"]),
        pending=int(totals["pending_sum"]),
        held=int(totals["held_sum"]),
        members=int(totals["members"]),
    )


def liability_report(*, months_ahead: int = MONTHS_AHEAD) -> Liability:
    """The liability now, with the open lots' points by the month they expire in.

    Months are calendar months in the business's time zone, from the current one on;
    held points are not in any lot (a hold draws them out), so they never expire here.
    """
    now = clock.now()
    start = _month_start(now)
    end = months_add(start, months_ahead)
    open_lots = Lot.objects.filter(remaining__gt=0)
    edges = open_lots.aggregate(
        overdue=Sum("remaining", filter=Q(expires_at__lte=now), default=0),
        later=Sum("remaining", filter=Q(expires_at__gte=end), default=0),
        never=Sum("remaining", filter=Q(expires_at__isnull=True), default=0),
    )
    rows = (
        open_lots.filter(expires_at__gt=now, expires_at__lt=end)
        .annotate(month=TruncMonth("expires_at"))
        .values("month")
        .annotate(points=Sum("remaining"))
        .order_by("month")
    )
    by_month = {timezone.localtime(row["month"]).date(): int(row["points"]) for row in rows}
    months = []
    for n in range(months_ahead):
        month = months_add(start, n).date()
        months.append(ExpiryMonth(month=month, points=by_month.pop(month, 0)))
    assert not by_month, f"months outside the window: {sorted(by_month)}"
    return Liability(
        balances=liability_balances(),
        point_value=Programme.current().point_value,
        overdue=int(edges["overdue"]),
        months=months,
        later=int(edges["later"]),
        never=int(edges["never"]),
    )
