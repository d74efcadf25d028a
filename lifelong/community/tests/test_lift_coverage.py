"""The community lift's intervals cover a known true lift in about 95 % of simulated shops.

Each seed draws a shop: six strata (tier x segment x tenure) with their own repeat rates,
lapse rates and order sizes, a few hundred members who crowd into the better strata (as a
club of the best customers does) and thousands of non-members spread otherwise. Members buy
again with a known extra probability in every stratum, so the true effect on the members is
known; the product's own arithmetic (`lift_compute`) gives the intervals. As in the journeys'
uplift test the seeds are fixed: 1,000 seeds put a true 95 % within ±3 standard errors
(0.0069 each) of 0.93-0.97. A naive comparison (members' rate against all non-members')
misses the truth nearly always here, which is why the matching exists.
"""

from __future__ import annotations

import numpy as np
import pytest

from lifelong.community.lift import Cell, lift_compute

SEEDS = range(1000)
BASE_REPEAT = np.array([0.15, 0.25, 0.35, 0.45, 0.55, 0.65])
BASE_LAPSED = np.array([0.50, 0.40, 0.30, 0.20, 0.15, 0.10])
ORDER_SIZE = np.array([1500.0, 2000.0, 2500.0, 3000.0, 4000.0, 6000.0])
MEMBER_MIX = np.array([0.05, 0.05, 0.10, 0.20, 0.25, 0.35])
CONTROL_MIX = np.array([0.35, 0.25, 0.15, 0.12, 0.08, 0.05])


def _cell(rng: np.random.Generator, n: int, repeat: float, lapsed: float, size: float) -> Cell:
    buyers = int(rng.binomial(n, repeat))
    # One customer's spend in the window: gamma around the stratum's order size, skewed right.
    amounts = rng.gamma(2.0, size / 2.0, size=buyers)
    return Cell(
        n=n,
        repeat=buyers,
        lapsed=int(rng.binomial(n, lapsed)),
        spend=float(amounts.sum()),
        spend_sq=float((amounts * amounts).sum()),
    )


def _shop(seed: int, lift: float, lapse_drop: float, members: tuple[int, int], controls: int):
    rng = np.random.default_rng(seed)
    n_members = rng.multinomial(int(rng.integers(members[0], members[1] + 1)), MEMBER_MIX)
    n_controls = rng.multinomial(controls, CONTROL_MIX)
    strata = {}
    for s in range(len(MEMBER_MIX)):
        strata[s] = (
            _cell(
                rng,
                int(n_members[s]),
                BASE_REPEAT[s] + lift,
                BASE_LAPSED[s] - lapse_drop,
                ORDER_SIZE[s],
            ),
            _cell(rng, int(n_controls[s]), BASE_REPEAT[s], BASE_LAPSED[s], ORDER_SIZE[s]),
        )
    # The true effect on these members: the same lift in every stratum, and for spend the
    # extra buyers' mean spend, weighted by where the members actually are.
    weights = n_members / n_members.sum()
    truth_spend = float((weights * lift * ORDER_SIZE).sum())
    return lift_compute(strata), truth_spend


@pytest.mark.parametrize(
    ("lift", "lapse_drop", "members", "controls"),
    [
        (0.08, 0.05, (200, 800), 8000),  # a club that works
        (0.0, 0.0, (200, 800), 8000),  # one that does nothing
        (0.05, 0.03, (60, 200), 600),  # a small shop: a few non-members per stratum
    ],
    ids=["works", "no-effect", "small-shop"],
)
def test_the_intervals_cover_the_true_lift_in_95_percent_of_seeds(
    lift, lapse_drop, members, controls
):
    covered = {"repeat": 0, "lapsed": 0, "spend": 0}
    for seed in SEEDS:
        result, truth_spend = _shop(seed, lift, lapse_drop, members, controls)
        assert result.repeat and result.lapsed and result.spend
        truths = {"repeat": lift, "lapsed": -lapse_drop, "spend": truth_spend}
        for name, truth in truths.items():
            estimate = getattr(result, name)
            assert estimate.low <= estimate.diff <= estimate.high
            covered[name] += estimate.low <= truth <= estimate.high
    for name, count in covered.items():
        coverage = count / len(SEEDS)
        assert 0.93 <= coverage <= 0.97, (name, coverage)


def test_a_naive_comparison_would_have_claimed_a_lift_that_is_not_there():
    """Without matching, a club of the best customers looks like it works even when it
    does nothing: its members were better customers before they joined."""
    result, _ = _shop(0, 0.0, 0.0, (200, 800), 8000)
    assert result.repeat is not None
    naive = result.repeat.members - float((CONTROL_MIX * BASE_REPEAT).sum())
    assert naive > 0.15
    assert result.repeat.low <= 0 <= result.repeat.high
