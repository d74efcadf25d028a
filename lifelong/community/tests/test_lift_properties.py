"""Invariants of the lift arithmetic, for any strata hypothesis can think of."""

from __future__ import annotations

import math

from hypothesis import example, given
from hypothesis import strategies as st

from lifelong.community.lift import Cell, lift_compute


@st.composite
def cells(draw, *, min_n: int = 0) -> Cell:
    n = draw(st.integers(min_value=min_n, max_value=400))
    repeat = draw(st.integers(min_value=0, max_value=n))
    lapsed = draw(st.integers(min_value=0, max_value=n))
    amounts = draw(st.lists(st.integers(0, 50_000), min_size=repeat, max_size=repeat))
    return Cell(
        n=n,
        repeat=repeat,
        lapsed=lapsed,
        spend=float(sum(amounts)),
        spend_sq=float(sum(a * a for a in amounts)),
    )


strata = st.dictionaries(st.integers(0, 20), st.tuples(cells(), cells()), max_size=8)


@given(strata)
@example(
    # Member weights whose floating-point sum is 1.0000000000000002, every control repeating.
    {
        key: (Cell(n=n, repeat=0, lapsed=0, spend=0.0, spend_sq=0.0), Cell(1, 1, 1, 5.0, 25.0))
        for key, n in enumerate((1, 6, 3, 3))
    }
)
def test_every_interval_holds_its_estimate_and_rates_stay_rates(groups):
    lift = lift_compute(groups)
    matched = [(m, c) for m, c in groups.values() if m.n and c.n]
    assert lift.members == sum(m.n for m, _c in matched)
    assert lift.unmatched == sum(m.n for m, c in groups.values() if m.n and not c.n)
    if not matched:
        assert lift.repeat is None and lift.spend is None
        return
    for estimate in (lift.repeat, lift.lapsed):
        assert estimate is not None
        assert 0 <= estimate.members <= 1 and 0 <= estimate.controls <= 1
        assert -1 <= estimate.low <= estimate.diff <= estimate.high <= 1
    assert lift.spend is not None
    assert lift.spend.low <= lift.spend.diff <= lift.spend.high


@given(st.dictionaries(st.integers(0, 20), cells(min_n=1), min_size=1, max_size=8))
def test_members_just_like_their_look_alikes_show_no_difference(groups):
    lift = lift_compute({key: (cell, cell) for key, cell in groups.items()})
    for estimate in (lift.repeat, lift.lapsed, lift.spend):
        assert estimate is not None
        assert math.isclose(estimate.diff, 0, abs_tol=1e-9)
        assert estimate.low <= 0 <= estimate.high
    assert not lift.repeat or not lift.repeat.significant


@given(strata, st.integers(2, 5))
def test_more_non_members_of_the_same_kind_move_no_estimate(groups, factor):
    """The non-members are reweighted to the members' mix: how many there are per stratum
    changes the interval's width, never the point estimate."""
    scaled = {
        key: (
            m,
            Cell(
                n=c.n * factor,
                repeat=c.repeat * factor,
                lapsed=c.lapsed * factor,
                spend=c.spend * factor,
                spend_sq=c.spend_sq * factor,
            ),
        )
        for key, (m, c) in groups.items()
    }
    before, after = lift_compute(groups), lift_compute(scaled)
    for name in ("repeat", "lapsed", "spend"):
        a, b = getattr(before, name), getattr(after, name)
        if a is None:
            assert b is None
            continue
        assert math.isclose(a.diff, b.diff, rel_tol=1e-9, abs_tol=1e-6)
