"""Fast scalar random draws on top of numpy's Generator.

One numpy call per scalar costs microseconds, which adds up to seconds over a demo's
hundreds of thousands of draws; uniforms drawn in blocks and shaped in Python do not.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import TypeVar

import numpy as np

T = TypeVar("T")
_BLOCK = 4096
_STANDARD_NORMAL = NormalDist()


class Weights:
    """Fixed relative weights, ready for repeated weighted picks."""

    def __init__(self, weights: Sequence[float]) -> None:
        self.cumulative = list(itertools.accumulate(weights))


class Dice:
    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng  # for the few vector or exotic draws (gamma, beta, dirichlet)
        self._block: list[float] = []

    def random(self) -> float:
        """Uniform in [0, 1)."""
        if not self._block:
            self._block = self.rng.random(_BLOCK).tolist()
            self._block.reverse()
        return self._block.pop()

    def chance(self, p: float) -> bool:
        return self.random() < p

    def below(self, n: int) -> int:
        """Uniform integer in [0, n)."""
        return min(int(self.random() * n), n - 1)

    def between(self, low: int, high: int) -> int:
        """Uniform integer in [low, high]."""
        return low + self.below(high - low + 1)

    def pick(self, options: Sequence[T]) -> T:
        return options[self.below(len(options))]

    def index(self, weights: Weights) -> int:
        """An index drawn with probability proportional to its weight."""
        cumulative = weights.cumulative
        return min(
            bisect.bisect_right(cumulative, self.random() * cumulative[-1]), len(cumulative) - 1
        )

    def weighted(self, options: Sequence[T], weights: Weights) -> T:
        return options[self.index(weights)]

    def uniform(self, low: float, high: float) -> float:
        return low + (high - low) * self.random()

    def exponential(self, mean: float) -> float:
        return -mean * math.log1p(-self.random())

    def normal(self, mean: float, sigma: float) -> float:
        u = min(max(self.random(), 1e-12), 1 - 1e-12)
        return mean + sigma * _STANDARD_NORMAL.inv_cdf(u)
