"""The arithmetic of a journey's results: conversion per arm and the uplift interval.

Plain Python on counts, no Django: `lifelong.journeys.results` counts the enrollments,
and the interval's coverage is tested by simulation on counts alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

Z95 = NormalDist().inv_cdf(0.975)


@dataclass(frozen=True)
class Uplift:
    diff: float
    low: float
    high: float

    @property
    def significant(self) -> bool:
        return self.low > 0 or self.high < 0

    # In percentage points, for display.
    @property
    def diff_pp(self) -> float:
        return 100 * self.diff

    @property
    def low_pp(self) -> float:
        return 100 * self.low

    @property
    def high_pp(self) -> float:
        return 100 * self.high


@dataclass(frozen=True)
class Arm:
    """One side of the comparison: enrollments whose goal window has closed, and converters."""

    n: int = 0
    converted: int = 0

    @property
    def rate(self) -> float | None:
        return self.converted / self.n if self.n else None

    @property
    def percent(self) -> float | None:
        return 100 * self.converted / self.n if self.n else None


@dataclass(frozen=True)
class Results:
    treated: Arm
    holdout: Arm
    uplift: Uplift | None
    has_goal: bool
    # Enrollments whose goal window is still open: not in the arms above.
    treated_open: int = 0
    holdout_open: int = 0

    @property
    def in_progress(self) -> int:
        return self.treated_open + self.holdout_open


NO_GOAL = Results(treated=Arm(), holdout=Arm(), uplift=None, has_goal=False)


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval for one proportion."""
    if n <= 0:
        raise ValueError("n must be positive")
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def uplift_interval(conv_t: int, n_t: int, conv_h: int, n_h: int) -> tuple[float, float, float]:
    """Difference of conversion rates (treated − holdout) with a 95 % interval.

    Newcombe's hybrid score interval (method 10 in Newcombe 1998): it combines the two
    Wilson intervals, so unlike Wald it stays inside [-1, 1] and keeps its coverage for
    the small groups and rates near 0 that a small shop's holdout produces.
    """
    if n_t <= 0 or n_h <= 0:
        raise ValueError("both groups need at least one enrollment")
    p_t, p_h = conv_t / n_t, conv_h / n_h
    low_t, high_t = wilson_interval(conv_t, n_t)
    low_h, high_h = wilson_interval(conv_h, n_h)
    diff = p_t - p_h
    low = diff - math.sqrt((p_t - low_t) ** 2 + (high_h - p_h) ** 2)
    high = diff + math.sqrt((high_t - p_t) ** 2 + (p_h - low_h) ** 2)
    return diff, low, high


def results_compute(
    treated: Arm, holdout: Arm, *, treated_open: int = 0, holdout_open: int = 0
) -> Results:
    """The results of closed-window counts: the uplift once both arms have someone."""
    uplift = None
    if treated.n and holdout.n:
        uplift = Uplift(
            *uplift_interval(treated.converted, treated.n, holdout.converted, holdout.n)
        )
    return Results(
        treated=treated,
        holdout=holdout,
        uplift=uplift,
        has_goal=True,
        treated_open=treated_open,
        holdout_open=holdout_open,
    )
