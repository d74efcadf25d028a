"""Does the club work? The arithmetic of members against matched non-members.

Plain Python on counts, no Django: `lifelong.community.lift_query` counts customers per
stratum (the matching key at joining: tier, RFM segment and tenure) and per arm, and this
module turns the counts into three comparisons with 95 % intervals.

The estimate is the effect on the members (ATT): in each stratum the members' outcome is
compared with the non-members' of the same stratum, and the differences are weighted by the
members in the stratum. Members in a stratum without a single non-member cannot be matched
and are counted apart (`unmatched`).

- Rates (repeat purchase, lapsed): the members' side is their plain pooled rate (the
  weights are their own counts), the control side the non-members' rates reweighted to the
  members' mix of strata. The interval is Newcombe's (`journeys.uplift.uplift_interval`, the
  one the journeys' holdouts use) with the control arm at its effective size: the number of
  customers a simple random sample would need to give the reweighted rate its variance.
- Spend: difference of means, with a normal interval from the per-stratum variances (sums and
  sums of squares of each customer's spend in the window).

The coverage of both intervals is checked by simulation (`tests/test_lift_coverage.py`).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from lifelong.analytics.metrics import MIN_BASE
from lifelong.journeys.uplift import Z95, uplift_interval

Key = TypeVar("Key", bound=Hashable)

# Outcomes are measured over this many days after joining (for non-members: after the same day).
WINDOW_DAYS = 90


@dataclass(frozen=True)
class Cell:
    """One arm in one stratum: customers whose window has closed, and what they did in it.

    `spend` and `spend_sq` are the sum and the sum of squares of each customer's net spend
    in the window, in roubles (floats: they feed a variance, not a ledger).
    """

    n: int = 0
    repeat: int = 0
    lapsed: int = 0
    spend: float = 0.0
    spend_sq: float = 0.0


@dataclass(frozen=True)
class Estimate:
    """Members' figure, matched non-members' figure, the difference and its 95 % interval."""

    members: float
    controls: float
    diff: float
    low: float
    high: float

    @property
    def significant(self) -> bool:
        return self.low > 0 or self.high < 0


class Verdict(StrEnum):
    NO_DATA = "no_data"  # nobody's window has closed, or nobody could be matched
    TOO_FEW = "too_few"  # fewer than MIN_BASE matched members (or non-members)
    BETTER = "better"  # members bought again more often, and the interval says so
    WORSE = "worse"
    UNCLEAR = "unclear"  # enough people, no difference the data can tell from chance


@dataclass(frozen=True)
class Lift:
    members: int  # matched members whose window has closed
    controls: int  # non-member windows compared with them (one customer may be in several cohorts)
    unmatched: int  # members with no non-member of their stratum
    in_progress: int  # members whose 90 days are not over yet
    no_history: int  # closed members without an order before their cohort's start: no key
    repeat: Estimate | None
    lapsed: Estimate | None
    spend: Estimate | None
    min_base: int = MIN_BASE

    @property
    def verdict(self) -> Verdict:
        """Plain-language verdict on the repeat-purchase rate; never "better" on a small base."""
        if self.repeat is None:
            return Verdict.NO_DATA
        if self.members < self.min_base or self.controls < self.min_base:
            return Verdict.TOO_FEW
        if self.repeat.low > 0:
            return Verdict.BETTER
        if self.repeat.high < 0:
            return Verdict.WORSE
        return Verdict.UNCLEAR


def _matched(strata: Mapping[Key, tuple[Cell, Cell]]) -> list[tuple[Cell, Cell]]:
    return [(m, c) for m, c in strata.values() if m.n > 0 and c.n > 0]


def rate_estimate(pairs: list[tuple[Cell, Cell]], field: str) -> Estimate:
    """Stratified difference of the rate `field` ("repeat" or "lapsed"), members − controls."""
    total = sum(m.n for m, _c in pairs)
    hits = sum(getattr(m, field) for m, _c in pairs)
    p_members = hits / total
    p_controls = variance = kish = 0.0
    for m, c in pairs:
        weight = m.n / total
        p = getattr(c, field) / c.n
        p_controls += weight * p
        variance += weight * weight * p * (1 - p) / c.n
        kish += weight * weight / c.n
    # A weighted mean of rates, but the sum's rounding can overshoot 1 (every control
    # stratum at 100 % with member weights 1, 6, 3, 3 sums to 1.0000000000000002).
    p_controls = min(1.0, p_controls)
    # The effective size of the reweighted control arm. When every stratum's rate is 0 or 1
    # the variance is 0 and says nothing about the size: Kish's design-effect size stands in.
    spread = p_controls * (1 - p_controls)
    size = spread / variance if variance > 0 and spread > 0 else 1 / kish
    n_eff = max(1, round(size))
    x_eff = min(n_eff, max(0, round(p_controls * n_eff)))
    rounded, low, high = uplift_interval(hits, total, x_eff, n_eff)
    diff = p_members - p_controls
    # The interval's reach on each side from Newcombe at the effective counts, around the
    # exact difference (rounding the effective counts moves the centre a hair).
    return Estimate(
        members=p_members,
        controls=p_controls,
        diff=diff,
        low=max(-1.0, diff - (rounded - low)),
        high=min(1.0, diff + (high - rounded)),
    )


def _sample_variance(cell: Cell) -> float | None:
    if cell.n < 2:
        return None
    mean = cell.spend / cell.n
    return max(0.0, (cell.spend_sq - cell.n * mean * mean) / (cell.n - 1))


def _pooled_variance(cells: list[Cell]) -> float:
    n = sum(c.n for c in cells)
    if n < 2:
        return 0.0
    spend = sum(c.spend for c in cells)
    spend_sq = sum(c.spend_sq for c in cells)
    return max(0.0, (spend_sq - spend * spend / n) / (n - 1))


def spend_estimate(pairs: list[tuple[Cell, Cell]]) -> Estimate:
    """Stratified difference of the mean spend in the window, members − controls.

    A stratum with a single customer on a side has no variance of its own: that side's
    pooled variance stands in, so a lone customer never claims certainty.
    """
    total = sum(m.n for m, _c in pairs)
    pooled_m = _pooled_variance([m for m, _c in pairs])
    pooled_c = _pooled_variance([c for _m, c in pairs])
    mean_m = mean_c = variance = 0.0
    for m, c in pairs:
        weight = m.n / total
        mean_m += weight * m.spend / m.n
        mean_c += weight * c.spend / c.n
        var_m = _sample_variance(m)
        var_c = _sample_variance(c)
        variance += (
            weight
            * weight
            * (
                (pooled_m if var_m is None else var_m) / m.n
                + (pooled_c if var_c is None else var_c) / c.n
            )
        )
    diff = mean_m - mean_c
    half = Z95 * math.sqrt(variance)
    return Estimate(members=mean_m, controls=mean_c, diff=diff, low=diff - half, high=diff + half)


def lift_compute(
    strata: Mapping[Key, tuple[Cell, Cell]],
    *,
    in_progress: int = 0,
    no_history: int = 0,
    min_base: int = MIN_BASE,
) -> Lift:
    """The lift of closed windows, stratum key -> (members, non-members)."""
    pairs = _matched(strata)
    unmatched = sum(m.n for m, c in strata.values() if m.n > 0 and c.n == 0)
    members = sum(m.n for m, _c in pairs)
    controls = sum(c.n for _m, c in pairs)
    if not pairs:
        return Lift(
            members=0,
            controls=0,
            unmatched=unmatched,
            in_progress=in_progress,
            no_history=no_history,
            repeat=None,
            lapsed=None,
            spend=None,
            min_base=min_base,
        )
    return Lift(
        members=members,
        controls=controls,
        unmatched=unmatched,
        in_progress=in_progress,
        no_history=no_history,
        repeat=rate_estimate(pairs, "repeat"),
        lapsed=rate_estimate(pairs, "lapsed"),
        spend=spend_estimate(pairs),
        min_base=min_base,
    )
