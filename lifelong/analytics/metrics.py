"""Dashboard figures from the rollup's raw counts: plain Python and NumPy, no Django.

The rollup stores counts (customers, orders, money) per time window; every ratio is
derived here, in one place, so the dashboard and its CSV export always agree.

Windows for a period of P days, ending at the rollup time t: window 0 is (t - P, t],
window 1 the P days before it, window 2 the P days before that (needed only for the
previous period's retention).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

PERIODS = (30, 90, 365)
WINDOWS = 3
HISTOGRAM_BINS = 20
UNCHANGED = 0.0005
# The fewest customers a share of customers is computed over. Below it one or two buyers
# swing the figure between 0 and 100 % (a previous period with a single buyer read as
# "retention 0 %, churn 100 %"), so the value and its change are shown as "—" instead.
MIN_BASE = 30
# The histogram's x axis stops at this quantile; the few above it share the last bar,
# otherwise one whale squeezes everybody else into the first bin.
HISTOGRAM_QUANTILE = 0.99


@dataclass(frozen=True)
class Kpi:
    """One dashboard figure now and in the previous period.

    `kind` says how to show it: "count", "money", "rate" (0..1) or "number";
    `higher_is_better` colours the change (churn going up is bad news).
    """

    key: str
    kind: str
    value: float | None
    previous: float | None
    higher_is_better: bool = True
    # A share of fewer than MIN_BASE customers: the figure (now or before) is left out.
    too_few: bool = False

    @property
    def change(self) -> float | None:
        """Rates change by percentage points (as a fraction); everything else relatively."""
        if self.value is None or self.previous is None:
            return None
        if self.kind == "rate":
            return self.value - self.previous
        if not self.previous:
            return None
        return (self.value - self.previous) / self.previous

    @property
    def improved(self) -> bool | None:
        """None when unchanged: less than 0.05 % (or 0.05 points for rates) is noise."""
        change = self.change
        if change is None or abs(change) < UNCHANGED:
            return None
        return (change > 0) == self.higher_is_better


def ratio(numerator: float | Decimal, denominator: float | Decimal) -> float | None:
    """numerator / denominator as a float, or None when there is nothing to divide by."""
    if not denominator:
        return None
    return float(numerator) / float(denominator)


def _window(snapshot: Mapping[str, Any], index: int) -> Mapping[str, Any]:
    windows = snapshot.get("windows") or []
    return windows[index] if index < len(windows) else {}


def kpis_compute(snapshot: Mapping[str, Any], *, min_base: int = MIN_BASE) -> list[Kpi]:
    """The dashboard's KPIs for one period from its stored window counts.

    Definitions (window 0 against window 1, and window 1 against window 2):
    - active customers: customers with a counted order in the window;
    - repeat purchase rate: share of them with two or more orders in the window;
    - returning customers: share of them who had bought before, i.e. placed an order
      after their very first one in the window (a customer whose first order ever
      falls in the window and who bought again counts too);
    - retention: share of the previous window's active customers active again in this
      one; churn is the rest;
    - average order value: net revenue / orders; purchase frequency: orders / active
      customers; repeat revenue share: net revenue of repeat orders / net revenue.

    Shares over fewer than `min_base` customers (of their buyers, for the revenue share)
    are None, with too_few set.
    Snapshots stored before "multi" was counted give no repeat purchase rate.
    """
    cur, prev, before = _window(snapshot, 0), _window(snapshot, 1), _window(snapshot, 2)

    def n(window: Mapping[str, Any], key: str) -> Decimal:
        return Decimal(str(window.get(key) or 0))

    def share(part: float | Decimal, base: Decimal) -> float | None:
        return ratio(part, base) if base >= min_base else None

    def customers_kpi(key: str, part: str, *, higher_is_better: bool = True) -> Kpi:
        values: list[float | None] = []
        too_few = False
        for w in (cur, prev):
            if not w or part not in w:
                values.append(None)
                continue
            too_few = too_few or n(w, "active") < min_base
            values.append(share(n(w, part), n(w, "active")))
        return Kpi(key, "rate", values[0], values[1], higher_is_better, too_few)

    def kept(w: Mapping[str, Any], earlier: Mapping[str, Any]) -> float | None:
        return share(n(w, "retained"), n(earlier, "active")) if earlier else None

    retention = (kept(cur, prev), kept(prev, before))
    churn = tuple(None if k is None else 1.0 - k for k in retention)
    small_base = any(w and n(w, "active") < min_base for w in (prev, before))
    active = (float(n(cur, "active")), float(n(prev, "active")) if prev else None)
    aov = (ratio(n(cur, "revenue"), n(cur, "orders")), ratio(n(prev, "revenue"), n(prev, "orders")))
    frequency = (
        ratio(n(cur, "orders"), n(cur, "active")),
        ratio(n(prev, "orders"), n(prev, "active")),
    )
    # A share of revenue, but of a few buyers' revenue: the same minimum base of buyers.
    repeat_share = tuple(
        ratio(n(w, "repeat_revenue"), n(w, "revenue")) if n(w, "active") >= min_base else None
        for w in (cur, prev)
    )
    return [
        Kpi("active_customers", "count", *active),
        customers_kpi("repeat_rate", "multi"),
        customers_kpi("returning", "repeat"),
        Kpi("retention", "rate", *retention, too_few=small_base),
        Kpi("churn", "rate", churn[0], churn[1], higher_is_better=False, too_few=small_base),
        Kpi("average_order", "money", *aov),
        Kpi("frequency", "number", *frequency),
        Kpi(
            "repeat_revenue_share",
            "rate",
            repeat_share[0],
            repeat_share[1],
            too_few=any(w and n(w, "active") < min_base for w in (cur, prev)),
        ),
    ]


def _nice_step(raw: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k that is at least `raw` (round axis labels)."""
    if raw <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1.0, 2.0, 2.5, 5.0, 10.0):
        if factor * power >= raw:
            return factor * power
    return 10.0 * power


def value_histogram(
    values: npt.NDArray[np.float64], *, bins: int = HISTOGRAM_BINS
) -> dict[str, Any]:
    """Equal-width bins with round edges from 0 to about the 99th percentile.

    Values beyond the last edge are counted in the last bin; negative values (net of
    refunds) in the first. Returns {"edges": [bins + 1 floats], "counts": [bins ints]}.
    """
    if not len(values):
        return {"edges": [], "counts": []}
    top = float(np.quantile(values, HISTOGRAM_QUANTILE))
    if top <= 0:
        top = float(values.max()) or 1.0
    step = _nice_step(top / bins)
    edges = np.arange(bins + 1, dtype=np.float64) * step
    index = np.clip((values // step).astype(np.int64), 0, bins - 1)
    counts = np.bincount(index, minlength=bins)
    used = int(np.flatnonzero(counts).max()) + 1
    return {"edges": edges[: used + 1].tolist(), "counts": counts[:used].tolist()}


@dataclass(frozen=True)
class ReturnsWindow:
    """Orders placed in one window and what became of them (rates None below MIN_BASE).

    `partial` marks the window ending now: its orders are young, and returns and
    cancellations of them are still to come, so its rates can only grow.
    """

    orders: int
    cancelled: int
    returned: int
    refunded: Decimal
    cancelled_rate: float | None
    returned_rate: float | None
    partial: bool


def returns_compute(
    snapshot: Mapping[str, Any], *, min_base: int = MIN_BASE
) -> list[ReturnsWindow]:
    """Refusals (cancelled orders) and returns (goods back or whole order refunded) per
    window, the newest first; rates are of the orders placed in the window, returns of the
    orders not cancelled."""
    rows = []
    for index, window in enumerate(snapshot.get("returns") or []):
        orders, cancelled = int(window["orders"]), int(window["cancelled"])
        returned = int(window["returned"])
        kept = orders - cancelled
        rows.append(
            ReturnsWindow(
                orders=orders,
                cancelled=cancelled,
                returned=returned,
                refunded=Decimal(window["refunded"]),
                cancelled_rate=ratio(cancelled, orders) if orders >= min_base else None,
                returned_rate=ratio(returned, kept) if kept >= min_base else None,
                partial=index == 0,
            )
        )
    return rows
