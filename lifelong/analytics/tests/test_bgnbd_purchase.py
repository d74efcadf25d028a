"""P(a purchase within the horizon) under BG/NBD, against a direct integration over the
posterior of the purchase rate and the dropout probability."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats
from scipy.special import betaln

from lifelong.analytics.bgnbd import (
    BGNBDParams,
    bgnbd_probability_alive,
    bgnbd_probability_purchase,
)

# The CDNOW fit of Fader, Hardie & Lee (2005), weeks as the unit.
CDNOW = BGNBDParams(r=0.243, alpha=4.414, a=0.793, b=2.426)


def by_integration(params: BGNBDParams, x: int, t_x: float, T: float, t: float) -> float:
    """1 - P(no purchase in (T, T + t]) from the posterior, the rate integrated numerically.

    The dropout probability p enters only through E[(1 - p)^x] (alive) and E[p (1 - p)^(x-1)]
    (dropped out after the last purchase), moments of the Beta prior.
    """
    gamma = stats.gamma(params.r, scale=1.0 / params.alpha)
    a, b = params.a, params.b
    stays = np.exp(betaln(a, b + x) - betaln(a, b))
    left = np.exp(betaln(a + 1, b + x - 1) - betaln(a, b)) if x > 0 else 0.0

    def mass(horizon: float) -> float:
        def density(lam: float) -> float:
            alive = stays * lam**x * np.exp(-lam * (T + horizon))
            dead = left * lam**x * np.exp(-lam * t_x)
            return float((alive + dead) * gamma.pdf(lam))

        value, _error = integrate.quad(density, 0, np.inf, epsabs=0.0, epsrel=1e-9, limit=200)
        return value

    return 1.0 - mass(t) / mass(0.0)


@pytest.mark.parametrize(
    ("x", "t_x", "T"), [(0, 0.0, 38.86), (0, 0.0, 5.0), (2, 30.43, 38.86), (7, 35.0, 38.0)]
)
def test_matches_a_direct_integration_over_the_posterior(x, t_x, T):
    got = bgnbd_probability_purchase(
        params=CDNOW, horizon=13.0, frequency=[x], recency=[t_x], age=[T]
    )[0]
    assert got == pytest.approx(by_integration(CDNOW, x, t_x, T, 13.0), rel=1e-5, abs=1e-7)


@settings(max_examples=200)
@given(
    x=st.integers(0, 40),
    share=st.floats(0, 1),
    T=st.floats(0.1, 200),
    horizon=st.floats(0.1, 200),
)
def test_a_purchase_is_never_likelier_than_being_alive_and_grows_with_the_horizon(
    x, share, T, horizon
):
    t_x = share * T if x else 0.0
    kwargs = {"params": CDNOW, "frequency": [x], "recency": [t_x], "age": [T]}
    alive = bgnbd_probability_alive(**kwargs)[0]
    soon = bgnbd_probability_purchase(horizon=horizon, **kwargs)[0]
    later = bgnbd_probability_purchase(horizon=horizon * 2, **kwargs)[0]
    assert 0.0 <= soon <= later <= alive <= 1.0


def test_a_one_time_buyers_chance_falls_with_the_silence_though_p_alive_stays_one():
    ages = [1.0, 10.0, 52.0, 104.0]
    kwargs = {"params": CDNOW, "frequency": [0] * 4, "recency": [0.0] * 4, "age": ages}
    assert list(bgnbd_probability_alive(**kwargs)) == [1.0] * 4
    chances = bgnbd_probability_purchase(horizon=13.0, **kwargs)
    assert all(np.diff(chances) < 0)
