"""Gamma-Gamma: the CDNOW fit, an independent check of the likelihood, and the CLV."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from lifelong.analytics.bgnbd import BGNBDParams, bgnbd_expected_purchases, bgnbd_fit
from lifelong.analytics.gamma_gamma import (
    WEEKS_PER_MONTH,
    GammaGammaParams,
    customer_lifetime_value,
    gamma_gamma_expected_spend,
    gamma_gamma_fit,
    gamma_gamma_log_likelihood_gradient,
)
from lifelong.analytics.tests.conftest import CDNOW
from lifelong.analytics.transactions import RFMSummary, rfm_summary


@pytest.fixture(scope="module")
def calibration(cdnow: CDNOW) -> RFMSummary:
    return rfm_summary(
        customer_ids=cdnow.customer_ids,
        dates=cdnow.dates,
        amounts=cdnow.amounts,
        calibration_end=dt.date(1997, 9, 30),
    )


@pytest.fixture(scope="module")
def fitted(calibration: RFMSummary) -> GammaGammaParams:
    return gamma_gamma_fit(
        frequency=calibration.frequency, monetary_value=calibration.monetary_value
    )


def test_cdnow_fit_reproduces_the_published_estimates(fitted: GammaGammaParams) -> None:
    # Fader, Hardie & Lee (2005b) on the 946 repeat buyers: p = 6.25, q = 3.74, gamma = 15.44.
    assert round(fitted.p, 2) == 6.25
    assert round(fitted.q, 2) == 3.74
    assert round(fitted.gamma, 2) == 15.44


def test_likelihood_agrees_with_numerical_integration_over_the_customer_scale(
    calibration: RFMSummary, fitted: GammaGammaParams
) -> None:
    """The closed form against its definition: zbar|nu ~ Gamma(px, x nu), nu ~ Gamma(q, gamma)."""
    repeat = np.flatnonzero(calibration.frequency > 0)[:8]
    x = calibration.frequency[repeat]
    zbar = calibration.monetary_value[repeat]
    p, q, gamma = fitted.p, fitted.q, fitted.gamma
    by_integration = 0.0
    for xi, zi in zip(x, zbar, strict=True):
        density, _ = integrate.quad(
            lambda nu, xi=xi, zi=zi: (
                stats.gamma.pdf(zi, p * xi, scale=1.0 / (xi * nu))
                * stats.gamma.pdf(nu, q, scale=1.0 / gamma)
            ),
            0.0,
            np.inf,
            epsabs=0.0,
            epsrel=1e-11,
            limit=200,
        )
        by_integration += np.log(density)
    closed_form, _ = gamma_gamma_log_likelihood_gradient(
        log_params=np.log([p, q, gamma]), frequency=x, monetary_value=zbar
    )
    assert closed_form == pytest.approx(by_integration, rel=1e-8)


@settings(max_examples=80)
@given(
    seed=st.integers(0, 2**32 - 1),
    size=st.integers(1, 30),
    log_params=st.lists(st.floats(-2.0, 3.0), min_size=3, max_size=3),
)
def test_analytic_gradient_matches_finite_differences(
    seed: int, size: int, log_params: list[float]
) -> None:
    rng = np.random.default_rng(seed)
    frequency = rng.integers(1, 12, size).astype(np.float64)
    spend = rng.gamma(2.0, 20.0, size) + 0.5
    point = np.array(log_params)

    def ll(at: np.ndarray) -> float:
        return gamma_gamma_log_likelihood_gradient(
            log_params=at, frequency=frequency, monetary_value=spend
        )[0]

    _, gradient = gamma_gamma_log_likelihood_gradient(
        log_params=point, frequency=frequency, monetary_value=spend
    )
    step = 1e-6
    numeric = np.array(
        [(ll(point + step * unit) - ll(point - step * unit)) / (2 * step) for unit in np.eye(3)]
    )
    np.testing.assert_allclose(gradient, numeric, rtol=1e-5, atol=1e-5 * (1 + abs(ll(point))))


def test_expected_spend_shrinks_towards_the_population_mean(
    calibration: RFMSummary, fitted: GammaGammaParams
) -> None:
    population_mean = fitted.p * fitted.gamma / (fitted.q - 1)
    repeat = calibration.frequency > 0
    spend = gamma_gamma_expected_spend(
        params=fitted,
        frequency=calibration.frequency[repeat],
        monetary_value=calibration.monetary_value[repeat],
    )
    observed = calibration.monetary_value[repeat]
    low = np.minimum(observed, population_mean)
    high = np.maximum(observed, population_mean)
    assert np.all((spend >= low - 1e-9) & (spend <= high + 1e-9))
    newcomer = gamma_gamma_expected_spend(params=fitted, frequency=0.0, monetary_value=0.0)
    assert float(newcomer) == pytest.approx(population_mean)
    # More repeat purchases mean more trust in the customer's own average.
    many = gamma_gamma_expected_spend(params=fitted, frequency=50.0, monetary_value=100.0)
    few = gamma_gamma_expected_spend(params=fitted, frequency=1.0, monetary_value=100.0)
    assert abs(float(many) - 100.0) < abs(float(few) - 100.0)


def test_rejects_data_without_repeat_purchases() -> None:
    with pytest.raises(ValueError, match="repeat purchase"):
        gamma_gamma_fit(frequency=np.zeros(3), monetary_value=np.zeros(3))


def test_lifetime_value_is_discounted_spend_times_expected_purchases(
    calibration: RFMSummary, fitted: GammaGammaParams
) -> None:
    bgnbd: BGNBDParams = bgnbd_fit(
        frequency=calibration.frequency, recency=calibration.recency, age=calibration.age
    )

    def clv(months: int, rate: float) -> np.ndarray:
        return customer_lifetime_value(
            bgnbd=bgnbd,
            gamma_gamma=fitted,
            frequency=calibration.frequency,
            recency=calibration.recency,
            age=calibration.age,
            monetary_value=calibration.monetary_value,
            months=months,
            monthly_discount_rate=rate,
        )

    undiscounted = clv(12, 0.0)
    purchases = bgnbd_expected_purchases(
        params=bgnbd,
        horizon=12 * WEEKS_PER_MONTH,
        frequency=calibration.frequency,
        recency=calibration.recency,
        age=calibration.age,
    )
    spend = gamma_gamma_expected_spend(
        params=fitted,
        frequency=calibration.frequency,
        monetary_value=calibration.monetary_value,
    )
    np.testing.assert_allclose(undiscounted, purchases * spend, rtol=1e-10)

    discounted = clv(12, 0.01)
    assert np.all(discounted > 0)
    assert np.all(discounted < undiscounted)
    # A one-month horizon is that month's purchases discounted once.
    one_month = clv(1, 0.01)
    first = bgnbd_expected_purchases(
        params=bgnbd,
        horizon=WEEKS_PER_MONTH,
        frequency=calibration.frequency,
        recency=calibration.recency,
        age=calibration.age,
    )
    np.testing.assert_allclose(one_month, first * spend / 1.01, rtol=1e-10)
    longer = clv(24, 0.01)
    assert np.all(longer > discounted)
