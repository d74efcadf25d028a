"""BG/NBD: the fit against the published CDNOW estimates, the gradient, and the predictions."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats
from scipy.special import hyp2f1

from lifelong.analytics.bgnbd import (
    BGNBDParams,
    bgnbd_expected_purchases,
    bgnbd_expected_purchases_new,
    bgnbd_fit,
    bgnbd_log_likelihood,
    bgnbd_log_likelihood_gradient,
    bgnbd_probability_alive,
)
from lifelong.analytics.tests.conftest import CDNOW
from lifelong.analytics.transactions import RFMSummary, rfm_summary

# Fader, Hardie & Lee (2005), fitted on the 39-week calibration period of the 2357-customer sample.
PUBLISHED = BGNBDParams(r=0.243, alpha=4.414, a=0.793, b=2.426, log_likelihood=-9582.4)


@pytest.fixture(scope="module")
def calibration(cdnow: CDNOW) -> RFMSummary:
    return rfm_summary(
        customer_ids=cdnow.customer_ids,
        dates=cdnow.dates,
        amounts=cdnow.amounts,
        calibration_end=dt.date(1997, 9, 30),
    )


@pytest.fixture(scope="module")
def fitted(calibration: RFMSummary) -> BGNBDParams:
    return bgnbd_fit(
        frequency=calibration.frequency, recency=calibration.recency, age=calibration.age
    )


def test_cdnow_fit_reproduces_the_published_estimates(fitted: BGNBDParams) -> None:
    assert round(fitted.r, 3) == PUBLISHED.r
    assert round(fitted.alpha, 3) == PUBLISHED.alpha
    assert round(fitted.a, 3) == PUBLISHED.a
    assert round(fitted.b, 3) == PUBLISHED.b
    assert round(fitted.log_likelihood, 1) == PUBLISHED.log_likelihood


def test_fit_does_not_depend_on_the_starting_point(
    calibration: RFMSummary, fitted: BGNBDParams
) -> None:
    refit = bgnbd_fit(
        frequency=calibration.frequency,
        recency=calibration.recency,
        age=calibration.age,
        initial=BGNBDParams(r=3.0, alpha=0.5, a=5.0, b=0.2),
    )
    np.testing.assert_allclose(refit.as_array(), fitted.as_array(), rtol=1e-4)


def test_log_likelihood_at_the_estimates_is_the_fitted_one(
    calibration: RFMSummary, fitted: BGNBDParams
) -> None:
    ll = bgnbd_log_likelihood(
        params=fitted,
        frequency=calibration.frequency,
        recency=calibration.recency,
        age=calibration.age,
    )
    assert ll == pytest.approx(fitted.log_likelihood, abs=1e-6)
    # Compressing identical rows changes nothing: the uncompressed sum gives the same total.
    uncompressed, _ = bgnbd_log_likelihood_gradient(
        log_params=np.log(fitted.as_array()),
        frequency=calibration.frequency,
        recency=calibration.recency,
        age=calibration.age,
    )
    assert uncompressed == pytest.approx(ll, abs=1e-6)


@st.composite
def customers(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    seed = draw(st.integers(0, 2**32 - 1))
    size = draw(st.integers(1, 30))
    rng = np.random.default_rng(seed)
    age = rng.uniform(0.5, 60.0, size)
    frequency = rng.poisson(rng.uniform(0.0, 6.0, size)).astype(np.float64)
    recency = np.where(frequency > 0, age * rng.uniform(0.0, 1.0, size), 0.0)
    return frequency, recency, age


@settings(max_examples=80)
@given(
    data=customers(),
    log_params=st.lists(st.floats(-2.5, 2.5), min_size=4, max_size=4),
)
def test_analytic_gradient_matches_finite_differences(
    data: tuple[np.ndarray, np.ndarray, np.ndarray], log_params: list[float]
) -> None:
    frequency, recency, age = data
    point = np.array(log_params)

    def ll(at: np.ndarray) -> float:
        return bgnbd_log_likelihood_gradient(
            log_params=at, frequency=frequency, recency=recency, age=age
        )[0]

    _, gradient = bgnbd_log_likelihood_gradient(
        log_params=point, frequency=frequency, recency=recency, age=age
    )
    step = 1e-6
    numeric = np.array(
        [(ll(point + step * unit) - ll(point - step * unit)) / (2 * step) for unit in np.eye(4)]
    )
    np.testing.assert_allclose(gradient, numeric, rtol=1e-5, atol=1e-5 * (1 + abs(ll(point))))


def test_probability_alive_is_a_probability_and_one_without_repeats(
    calibration: RFMSummary, fitted: BGNBDParams
) -> None:
    alive = bgnbd_probability_alive(
        params=fitted,
        frequency=calibration.frequency,
        recency=calibration.recency,
        age=calibration.age,
    )
    assert np.all((alive >= 0) & (alive <= 1))
    np.testing.assert_array_equal(alive[calibration.frequency == 0], 1.0)
    assert np.all(alive[calibration.frequency > 0] < 1)


def test_probability_alive_falls_the_longer_a_buyer_stays_away(fitted: BGNBDParams) -> None:
    age = np.linspace(10.0, 200.0, 50)
    alive = bgnbd_probability_alive(params=fitted, frequency=3.0, recency=10.0, age=age)
    assert np.all(np.diff(alive) < 0)
    # Buying recently is a sign of life: a later last purchase means a higher P(alive).
    recency = np.linspace(0.5, 40.0, 50)
    alive = bgnbd_probability_alive(params=fitted, frequency=3.0, recency=recency, age=40.0)
    assert np.all(np.diff(alive) > 0)


def test_expected_purchases_grow_with_the_horizon(
    calibration: RFMSummary, fitted: BGNBDParams
) -> None:
    horizons = np.array([0.0, 1.0, 4.0, 13.0, 26.0, 39.0, 52.0, 104.0])[:, None]
    expected = bgnbd_expected_purchases(
        params=fitted,
        horizon=horizons,
        frequency=calibration.frequency[None, :],
        recency=calibration.recency[None, :],
        age=calibration.age[None, :],
    )
    np.testing.assert_allclose(expected[0], 0.0, atol=1e-12)
    assert np.all(np.diff(expected, axis=0) > 0)
    new = bgnbd_expected_purchases_new(params=fitted, horizon=horizons[:, 0])
    assert new[0] == 0.0
    assert np.all(np.diff(new) > 0)


def test_conditional_expectation_for_a_new_customer_is_the_unconditional_one(
    fitted: BGNBDParams,
) -> None:
    horizons = np.array([1.0, 10.0, 39.0, 78.0, 500.0])
    conditional = bgnbd_expected_purchases(
        params=fitted, horizon=horizons, frequency=0.0, recency=0.0, age=0.0
    )
    np.testing.assert_allclose(
        conditional, bgnbd_expected_purchases_new(params=fitted, horizon=horizons), rtol=1e-10
    )


def test_unconditional_expectation_agrees_with_a_simulation() -> None:
    params = BGNBDParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
    rng = np.random.default_rng(20250101)
    n, horizon = 400_000, 52.0
    rate = rng.gamma(params.r, 1.0 / params.alpha, n)
    dropout = rng.beta(params.a, params.b, n)
    clock = np.zeros(n)
    purchases = np.zeros(n)
    active = np.ones(n, dtype=bool)
    while active.any():
        clock[active] += rng.exponential(1.0, active.sum()) / rate[active]
        active &= clock <= horizon
        purchases[active] += 1
        active &= rng.uniform(size=n) >= dropout
    expected = float(bgnbd_expected_purchases_new(params=params, horizon=horizon))
    standard_error = purchases.std() / np.sqrt(n)
    assert abs(purchases.mean() - expected) < 4 * standard_error


def test_conditional_expectation_equals_the_papers_form(
    calibration: RFMSummary, fitted: BGNBDParams
) -> None:
    """FHL (2005) eq. 10 as printed, on CDNOW where it is still numerically fine."""
    r, alpha, a, b = fitted.r, fitted.alpha, fitted.a, fitted.b
    x, t_x, T = calibration.frequency, calibration.recency, calibration.age
    t = 39.0
    alive_odds = np.where(
        x > 0, a / np.maximum(b + x - 1, 1e-9) * ((alpha + T) / (alpha + t_x)) ** (r + x), 0.0
    )
    printed = (
        (a + b + x - 1)
        / (a - 1)
        * (
            1
            - ((alpha + T) / (alpha + T + t)) ** (r + x)
            * hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
        )
        / (1 + alive_odds)
    )
    ours = bgnbd_expected_purchases(params=fitted, horizon=t, frequency=x, recency=t_x, age=T)
    np.testing.assert_allclose(ours, printed, rtol=1e-9)
    # Customer 1 of the sample (x = 2, t_x = 30.43, T = 38.86): lifetimes 0.11.3 gives 1.2259.
    example = bgnbd_expected_purchases(
        params=fitted, horizon=39.0, frequency=2.0, recency=30.43, age=38.86
    )
    assert float(example) == pytest.approx(1.226, abs=5e-4)


def test_expectations_stay_finite_for_very_frequent_buyers() -> None:
    """Where the printed form gives 0 * inf = nan, ours stays finite and keeps growing."""
    params = BGNBDParams(r=2.0, alpha=10.0, a=3.0, b=50.0)
    horizons = np.array([1.0, 52.0, 520.0, 5200.0, 52000.0])
    expected = bgnbd_expected_purchases(
        params=params, horizon=horizons, frequency=300.0, recency=299.0, age=300.0
    )
    assert np.all(np.isfinite(expected))
    assert np.all(np.diff(expected) > 0)
    # Alive, such a buyer keeps close to their own rate (about 1 a week) for a while.
    assert 40.0 < expected[1] < 52.0
    with np.errstate(invalid="ignore", over="ignore"):
        printed = (310 / 5510) ** 302 * hyp2f1(302, 350, 352, 5200 / 5510)
    assert np.isnan(printed)


def test_expected_purchases_are_continuous_through_a_equals_one():
    # a = 1 is a removable singularity of the closed form: no nan, and it sits between
    # its neighbours.
    at, below, above = (
        float(
            bgnbd_expected_purchases_new(
                params=BGNBDParams(r=0.5, alpha=4.0, a=a, b=2.0), horizon=np.array([10.0])
            )[0]
        )
        for a in (1.0, 1.0 - 1e-4, 1.0 + 1e-4)
    )
    assert np.isfinite(at)
    assert min(below, above) <= at <= max(below, above)


def _expected_by_integration(params: BGNBDParams, *, t: float, x: float, T: float) -> float:
    """E[(1 - (1 + p t / (alpha + T))^-(r + x)) / p] over p ~ Beta(a, b + x), by quadrature."""
    dropout = stats.beta(params.a, params.b + x)
    scale, shape = t / (params.alpha + T), params.r + x

    def integrand(p: float) -> float:
        return float(-np.expm1(-shape * np.log1p(p * scale)) / p * dropout.pdf(p))

    low, high = dropout.ppf(1e-13), dropout.isf(1e-13)
    value, _error = integrate.quad(integrand, low, high, limit=500, epsabs=0, epsrel=1e-11)
    return float(value)


def test_expectations_stay_finite_when_everyone_drops_out_alike() -> None:
    """A small shop's fit: a and b in the millions, the 2F1 overflows; the answer does not."""
    # Fitted on a 1,000-customer demo's calibration period.
    params = BGNBDParams(r=0.7388, alpha=10.7007, a=1746125.8, b=8971388.3)
    cases = [(0.0, 0.0, 30.0), (3.0, 20.0, 50.0), (13.0, 70.0, 78.0)]
    x, t_x, T = (np.array(column) for column in zip(*cases, strict=True))
    horizons = np.array([4.345, 26.0, 52.0])
    expected = bgnbd_expected_purchases(
        params=params, horizon=horizons[:, None], frequency=x, recency=t_x, age=T
    )
    alive = bgnbd_probability_alive(params=params, frequency=x, recency=t_x, age=T)
    for row, t in enumerate(horizons):
        for column, (xi, _txi, Ti) in enumerate(cases):
            wanted = alive[column] * _expected_by_integration(params, t=t, x=xi, T=Ti)
            assert expected[row, column] == pytest.approx(wanted, rel=1e-6)


@settings(max_examples=60)
@given(
    size=st.floats(min_value=4.0, max_value=12.0),
    dropout=st.floats(min_value=0.01, max_value=0.95),
    x=st.integers(min_value=0, max_value=60),
    T=st.floats(min_value=0.0, max_value=300.0),
    t=st.floats(min_value=0.1, max_value=520.0),
)
def test_expectations_are_finite_and_bounded_for_any_narrow_dropout(
    size: float, dropout: float, x: int, T: float, t: float
) -> None:
    """Alive customers buy no more than their Poisson rate alone would give, and at least 0."""
    total = 10.0**size
    params = BGNBDParams(r=0.5, alpha=8.0, a=dropout * total, b=(1.0 - dropout) * total)
    horizons = np.array([t, 2.0 * t])
    expected = bgnbd_expected_purchases(
        params=params, horizon=horizons, frequency=float(x), recency=0.0 if x == 0 else T, age=T
    )
    ceiling = (params.r + x) / (params.alpha + T) * horizons
    assert np.all(np.isfinite(expected))
    assert np.all(expected >= 0.0)
    assert np.all(expected <= ceiling * (1.0 + 1e-9))
    assert expected[0] <= expected[1]
