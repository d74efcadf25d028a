"""Gamma-Gamma spend model and the discounted customer lifetime value built on it.

Fader, Hardie & Lee (2005), "RFM and CLV: using iso-value curves for customer base analysis".
A customer's transaction values are Gamma(p, nu) around their own mean, and nu ~ Gamma(q, gamma)
across customers. Only customers with repeat purchases carry information (x >= 1, mean repeat
spend zbar > 0); the model assumes spend is independent of purchase frequency.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import digamma, gammaln

from lifelong.analytics.bgnbd import BGNBDParams, bgnbd_expected_purchases, log_params_minimize
from lifelong.analytics.transactions import distinct_rows, row_groups

FloatArray = npt.NDArray[np.float64]

# Weeks in a month (365 / 12 / 7), the step lifetimes uses when the model's time unit is weeks.
WEEKS_PER_MONTH = 4.345


@dataclass(frozen=True, slots=True)
class GammaGammaParams:
    """Fitted Gamma-Gamma parameters; `log_likelihood` is the total over repeat customers."""

    p: float
    q: float
    gamma: float
    log_likelihood: float = float("nan")
    iterations: int = 0


@dataclass(frozen=True, slots=True)
class _Spend:
    """Repeat buyers' (x, S = x zbar) rows, weighted, and the sums no parameter changes.

    Per customer the log-likelihood is
        ln G(px+q) - ln G(px) - ln G(q) + q ln(gamma) + px ln(S) - ln(zbar) - (px+q) ln(gamma+S),
    so the special functions are summed per distinct x and only a few logs run per row.
    """

    total: FloatArray  # S
    weights: FloatArray
    weighted_x: FloatArray  # w x
    x_values: FloatArray
    x_weights: FloatArray  # sum of w per distinct x
    weight: float  # sum of w
    constant: float  # sum of -w ln(zbar)

    @classmethod
    def of(cls, frequency: npt.ArrayLike, monetary_value: npt.ArrayLike) -> _Spend:
        x = np.asarray(frequency, dtype=np.float64)
        m = np.asarray(monetary_value, dtype=np.float64)
        if x.shape != m.shape:
            raise ValueError("frequency and monetary_value must have the same shape")
        keep = (x > 0) & (m > 0)
        if not np.any(keep):
            raise ValueError("no customer has a repeat purchase with a positive value")
        (x, zbar), counts = distinct_rows([x[keep], m[keep]])
        (x_values,), x_index = row_groups([x])
        weights = counts.astype(np.float64)
        total = x * zbar
        return cls(
            total=total,
            weights=weights,
            weighted_x=weights * x,
            x_values=x_values,
            x_weights=np.bincount(x_index, weights, minlength=x_values.shape[0]).astype(np.float64),
            weight=float(weights.sum()),
            constant=float(-np.sum(weights * np.log(zbar))),
        )


def _ll_and_gradient(log_params: FloatArray, data: _Spend) -> tuple[float, FloatArray]:
    p, q, gamma = np.exp(log_params)
    pu = p * data.x_values
    u_w = data.x_weights
    # px ln S + q ln(gamma) - (px+q) ln(gamma+S) = -px ln(1 + gamma/S) - q ln(1 + S/gamma):
    # two small logs per row instead of differences of large sums.
    per_spend = float(np.sum(data.weighted_x * np.log1p(gamma / data.total)))
    per_scale = float(np.sum(data.weights * np.log1p(data.total / gamma)))
    inverse_scale = 1.0 / (gamma + data.total)
    ll = (
        float(np.sum(u_w * (gammaln(pu + q) - gammaln(pu))))
        - data.weight * gammaln(q)
        - p * per_spend
        - q * per_scale
        + data.constant
    )
    psi_pxq = digamma(pu + q)
    d_p = float(np.sum(u_w * data.x_values * (psi_pxq - digamma(pu)))) - per_spend
    d_q = float(np.sum(u_w * psi_pxq)) - data.weight * digamma(q) - per_scale
    d_gamma = (
        data.weight * q / gamma
        - p * float(np.sum(data.weighted_x * inverse_scale))
        - q * float(np.sum(data.weights * inverse_scale))
    )
    return float(ll), np.array([d_p * p, d_q * q, d_gamma * gamma])


def gamma_gamma_log_likelihood_gradient(
    *, log_params: FloatArray, frequency: npt.ArrayLike, monetary_value: npt.ArrayLike
) -> tuple[float, FloatArray]:
    """Total log-likelihood and its gradient w.r.t. (log p, log q, log gamma)."""
    data = _Spend.of(frequency, monetary_value)
    return _ll_and_gradient(np.asarray(log_params, dtype=np.float64), data)


def gamma_gamma_fit(
    *,
    frequency: npt.ArrayLike,
    monetary_value: npt.ArrayLike,
    max_iterations: int = 1000,
) -> GammaGammaParams:
    """Maximum-likelihood Gamma-Gamma parameters from repeat customers' (x, mean repeat spend)."""
    data = _Spend.of(frequency, monetary_value)
    total_weight = data.weight
    # Start with a spread-out spend distribution centred on the observed mean spend.
    mean_spend = float(np.sum(data.weights * data.total) / np.sum(data.weighted_x))
    start = np.log([1.0, 2.0, mean_spend])

    def objective(log_params: FloatArray) -> tuple[float, FloatArray]:
        ll, grad = _ll_and_gradient(log_params, data)
        return -ll / total_weight, -grad / total_weight

    result = log_params_minimize(
        objective, start, model="Gamma-Gamma", max_iterations=max_iterations
    )
    p, q, gamma = np.exp(result.x)
    return GammaGammaParams(
        p=float(p),
        q=float(q),
        gamma=float(gamma),
        log_likelihood=float(-result.fun * total_weight),
        iterations=int(result.nit),
    )


def gamma_gamma_expected_spend(
    *, params: GammaGammaParams, frequency: npt.ArrayLike, monetary_value: npt.ArrayLike
) -> FloatArray:
    """E[mean transaction value | x, zbar]: a weighted mix of the population mean and zbar.

    Customers with no repeat purchase get the population mean p * gamma / (q - 1).
    """
    x = np.asarray(frequency, dtype=np.float64)
    zbar = np.asarray(monetary_value, dtype=np.float64)
    p, q, gamma = params.p, params.q, params.gamma
    if q <= 1.0:
        raise ValueError("the mean spend is infinite when q <= 1")
    return np.asarray(p * (gamma + x * zbar) / (p * x + q - 1.0), dtype=np.float64)


def customer_lifetime_value(
    *,
    bgnbd: BGNBDParams,
    gamma_gamma: GammaGammaParams,
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    age: npt.ArrayLike,
    monetary_value: npt.ArrayLike,
    months: int = 12,
    monthly_discount_rate: float = 0.01,
    time_units_per_month: float = WEEKS_PER_MONTH,
) -> FloatArray:
    """Discounted value of each customer's purchases over the next `months` months.

    Month k contributes (expected purchases in month k) x (expected spend) / (1 + d)^k, the
    purchases coming from the BG/NBD conditional expectation in the model's time unit.
    """
    if months < 1:
        raise ValueError("months must be at least 1")
    x = np.asarray(frequency, dtype=np.float64)
    spend = gamma_gamma_expected_spend(
        params=gamma_gamma, frequency=x, monetary_value=monetary_value
    )
    ends = np.arange(1, months + 1, dtype=np.float64) * time_units_per_month
    # One (months, customers) evaluation instead of a loop over months.
    cumulative = bgnbd_expected_purchases(
        params=bgnbd,
        horizon=ends[:, None],
        frequency=x[None, :],
        recency=np.asarray(recency, dtype=np.float64)[None, :],
        age=np.asarray(age, dtype=np.float64)[None, :],
    )
    per_month = np.diff(cumulative, axis=0, prepend=0.0)
    discount = (1.0 + monthly_discount_rate) ** -np.arange(1, months + 1, dtype=np.float64)
    return np.asarray(spend * np.sum(discount[:, None] * per_month, axis=0), dtype=np.float64)
