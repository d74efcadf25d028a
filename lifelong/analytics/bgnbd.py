"""BG/NBD: the beta-geometric / negative-binomial model of repeat buying.

Fader, Hardie & Lee (2005), "Counting your customers the easy way". While alive, a customer buys
as a Poisson process with rate lambda ~ Gamma(r, alpha); after every purchase they drop out with
probability p ~ Beta(a, b). The model is fitted by maximum likelihood on (x, t_x, T) per customer.

The optimiser works on log-parameters (all four must be positive) with the exact gradient, and
identical (x, t_x, T) rows are collapsed into one weighted row first: real logs are in whole days,
so a million customers become a few tens of thousands of distinct rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1

from lifelong.analytics.transactions import distinct_rows, distinct_with_counts

FloatArray = npt.NDArray[np.float64]

# Keeps exp(log-parameter) finite and positive while the line search explores.
_LOG_BOUND = 30.0


@dataclass(frozen=True, slots=True)
class BGNBDParams:
    """Fitted BG/NBD parameters; `log_likelihood` is the total over customers."""

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float = float("nan")
    iterations: int = 0

    def as_array(self) -> FloatArray:
        return np.array([self.r, self.alpha, self.a, self.b], dtype=np.float64)


@dataclass(frozen=True, slots=True)
class _Compressed:
    x: FloatArray
    t_x: FloatArray
    T: FloatArray
    weights: FloatArray
    # Frequencies take few distinct values: the special functions of x run on these only.
    x_values: FloatArray
    x_index: npt.NDArray[np.intp]

    @classmethod
    def of(cls, x: FloatArray, t_x: FloatArray, T: FloatArray, weights: FloatArray) -> _Compressed:
        x_values = distinct_with_counts(x)[0]
        return cls(x, t_x, T, weights, x_values, np.searchsorted(x_values, x))


def compress_rows(
    *, frequency: FloatArray, recency: FloatArray, age: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Collapse identical (x, t_x, T) rows into unique rows and their counts."""
    columns = [np.asarray(v, dtype=np.float64).reshape(-1) for v in (frequency, recency, age)]
    (x, t_x, T), counts = distinct_rows(columns)
    return x, t_x, T, counts.astype(np.float64)


def _validate(x: FloatArray, t_x: FloatArray, T: FloatArray) -> None:
    if not (x.shape == t_x.shape == T.shape):
        raise ValueError("frequency, recency and age must have the same shape")
    if np.any(x < 0) or np.any(t_x < 0) or np.any(t_x > T):
        raise ValueError("need 0 <= recency <= age and frequency >= 0")
    if np.any((x == 0) & (t_x != 0)):
        raise ValueError("customers without repeat purchases must have recency 0")


def _ll_terms(
    log_params: FloatArray, data: _Compressed, *, with_gradient: bool
) -> tuple[float, FloatArray]:
    """Weighted log-likelihood and its gradient with respect to the log-parameters.

    Per customer, LL = C + log(exp(A) + [x > 0] exp(B)) with
      C = ln G(r+x) - ln G(r) + r ln(alpha) - ln B(a, b)
      A = ln B(a, b+x) - (r+x) ln(alpha+T)           (alive at T)
      B = ln B(a+1, b+x-1) - (r+x) ln(alpha+t_x)     (dropped out right after the last purchase)
    and each partial derivative is dC + s_A dA + s_B dB with s_A, s_B the softmax shares of A, B.
    """
    r, alpha, a, b = np.exp(log_params)
    x, t_x, T, w, u, at = data.x, data.t_x, data.T, data.weights, data.x_values, data.x_index
    u_repeat = u > 0
    # b + x - 1 is only used where x > 0; elsewhere any positive stand-in keeps betaln finite.
    u_bx1 = np.where(u_repeat, b + u - 1.0, 1.0)
    repeat = u_repeat[at]
    log_alpha_T = np.log(alpha + T)
    log_alpha_tx = np.log(alpha + t_x)
    rx = r + x

    common = (gammaln(r + u) - betaln(a, b))[at] - gammaln(r) + r * np.log(alpha)
    term_a = betaln(a, b + u)[at] - rx * log_alpha_T
    term_b = np.where(repeat, betaln(a + 1.0, u_bx1)[at] - rx * log_alpha_tx, -np.inf)
    top = np.maximum(term_a, term_b)
    share_a = np.exp(term_a - top)
    share_b = np.exp(term_b - top)
    total = share_a + share_b
    ll = float(np.sum(w * (common + top + np.log(total))))
    if not with_gradient:
        return ll, np.zeros(4)

    share_a /= total
    share_b /= total
    psi_abx = digamma(a + b + u)
    psi_ab = digamma(a + b)
    d_r = (
        (digamma(r + u))[at]
        - digamma(r)
        + np.log(alpha)
        - share_a * log_alpha_T
        - share_b * log_alpha_tx
    )
    d_alpha = r / alpha - rx * (share_a / (alpha + T) + share_b / (alpha + t_x))
    d_a = (
        psi_ab
        - digamma(a)
        + share_a * (digamma(a) - psi_abx)[at]
        + share_b * (digamma(a + 1.0) - psi_abx)[at]
    )
    d_b = (
        psi_ab
        - digamma(b)
        + share_a * (digamma(b + u) - psi_abx)[at]
        + share_b * (digamma(u_bx1) - psi_abx)[at]
    )
    # Plain reductions, not BLAS dot: BLAS threads spin badly when the cores are shared.
    grad = np.sum(w * np.stack((d_r, d_alpha, d_a, d_b)), axis=1)
    # Chain rule for theta = exp(log theta).
    return ll, grad * np.array([r, alpha, a, b])


def _as_data(
    frequency: npt.ArrayLike, recency: npt.ArrayLike, age: npt.ArrayLike, compress: bool
) -> _Compressed:
    x = np.asarray(frequency, dtype=np.float64)
    t_x = np.asarray(recency, dtype=np.float64)
    T = np.asarray(age, dtype=np.float64)
    _validate(x, t_x, T)
    if compress:
        x, t_x, T, w = compress_rows(frequency=x, recency=t_x, age=T)
    else:
        w = np.ones_like(x)
    return _Compressed.of(x, t_x, T, w)


def bgnbd_log_likelihood(
    *,
    params: BGNBDParams,
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    age: npt.ArrayLike,
) -> float:
    """Total log-likelihood of the customers under `params`."""
    data = _as_data(frequency, recency, age, compress=True)
    return _ll_terms(np.log(params.as_array()), data, with_gradient=False)[0]


def bgnbd_log_likelihood_gradient(
    *,
    log_params: FloatArray,
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    age: npt.ArrayLike,
) -> tuple[float, FloatArray]:
    """Total log-likelihood and its gradient w.r.t. (log r, log alpha, log a, log b)."""
    data = _as_data(frequency, recency, age, compress=False)
    return _ll_terms(np.asarray(log_params, dtype=np.float64), data, with_gradient=True)


def bgnbd_fit(
    *,
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    age: npt.ArrayLike,
    initial: BGNBDParams | None = None,
    max_iterations: int = 1000,
) -> BGNBDParams:
    """Maximum-likelihood BG/NBD parameters for the customers' (x, t_x, T)."""
    data = _as_data(frequency, recency, age, compress=True)
    total_weight = float(data.weights.sum())
    if total_weight == 0:
        raise ValueError("no customers to fit")
    if initial is None:
        # Start alpha near the inverse of the pooled purchase rate so the time unit does not matter.
        rate = float(np.sum(data.weights * data.x) / max(np.sum(data.weights * data.T), 1e-12))
        start = np.log([1.0, 1.0 / max(rate, 1e-6), 1.0, 1.0])
    else:
        start = np.log(initial.as_array())

    def objective(log_params: FloatArray) -> tuple[float, FloatArray]:
        # The mean keeps the scale independent of the number of customers for the tolerances.
        ll, grad = _ll_terms(log_params, data, with_gradient=True)
        return -ll / total_weight, -grad / total_weight

    result = minimize(
        objective,
        start,
        jac=True,
        method="L-BFGS-B",
        bounds=[(-_LOG_BOUND, _LOG_BOUND)] * 4,
        options={"maxiter": max_iterations, "ftol": 1e-15, "gtol": 1e-10},
    )
    if not np.all(np.isfinite(result.x)):
        raise RuntimeError(f"BG/NBD fit failed: {result.message}")
    r, alpha, a, b = np.exp(result.x)
    return BGNBDParams(
        r=float(r),
        alpha=float(alpha),
        a=float(a),
        b=float(b),
        log_likelihood=float(-result.fun * total_weight),
        iterations=int(result.nit),
    )


def bgnbd_probability_alive(
    *,
    params: BGNBDParams,
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    age: npt.ArrayLike,
) -> FloatArray:
    """P(alive at T | x, t_x, T); exactly 1 for customers with no repeat purchase."""
    x = np.asarray(frequency, dtype=np.float64)
    t_x = np.asarray(recency, dtype=np.float64)
    T = np.asarray(age, dtype=np.float64)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    repeat = x > 0
    bx1 = np.where(repeat, b + x - 1.0, 1.0)
    # log of a/(b+x-1) * ((alpha+T)/(alpha+t_x))^(r+x), in logs so large x cannot overflow.
    log_odds_dead = np.log(a) - np.log(bx1) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
    return np.where(repeat, expit(-log_odds_dead), 1.0)


def bgnbd_expected_purchases(
    *,
    params: BGNBDParams,
    horizon: npt.ArrayLike,
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    age: npt.ArrayLike,
) -> FloatArray:
    """E[purchases in (T, T + horizon] | x, t_x, T], the conditional expectation (FHL 2005)."""
    x = np.asarray(frequency, dtype=np.float64)
    T = np.asarray(age, dtype=np.float64)
    alive = bgnbd_probability_alive(params=params, frequency=x, recency=recency, age=T)
    return _purchases_if_alive(params, np.asarray(horizon, dtype=np.float64), x, T) * alive


def bgnbd_expected_purchases_new(*, params: BGNBDParams, horizon: npt.ArrayLike) -> FloatArray:
    """E[X(t)]: expected purchases in (0, t] for a customer who has just made their first one."""
    return _purchases_if_alive(params, np.asarray(horizon, dtype=np.float64), 0.0, 0.0)


def _purchases_if_alive(
    params: BGNBDParams, t: FloatArray, x: FloatArray | float, T: FloatArray | float
) -> FloatArray:
    """Expected purchases in (T, T + t] for a customer alive at T, after x repeat purchases.

    The paper's form, 1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z), multiplies a
    vanishing power by an exploding 2F1 when x or t is large (0 * inf = nan). Euler's
    transformation 2F1(A, B; C; z) = (1-z)^(C-A-B) 2F1(C-A, C-B; C; z) folds the power in and
    leaves a 2F1 with small upper parameters that stays finite.
    """
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    z = t / (alpha + T + t)
    power = np.exp((a - 1.0) * (np.log(alpha + T) - np.log(alpha + T + t)))
    bracket = 1.0 - power * _hyp2f1(a + b - 1.0 - r, a - 1.0, a + b + x - 1.0, z)
    return np.asarray((a + b + x - 1.0) / (a - 1.0) * bracket, dtype=np.float64)


def _hyp2f1(upper_a: float, upper_b: float, lower: FloatArray | float, z: FloatArray) -> FloatArray:
    """SciPy's 2F1, with the power series where SciPy gives up (large `lower` with z near 1)."""
    lower, z = np.broadcast_arrays(np.asarray(lower, dtype=np.float64), z)
    value = np.array(hyp2f1(upper_a, upper_b, lower, z), dtype=np.float64, ndmin=1)
    failed = ~np.isfinite(value)
    if np.any(failed):
        value[failed] = _hyp2f1_series(upper_a, upper_b, lower[failed], z[failed])
    return value.reshape(np.shape(z))


def _hyp2f1_series(
    upper_a: float, upper_b: float, lower: FloatArray, z: FloatArray, max_terms: int = 200_000
) -> FloatArray:
    """Sum of the 2F1 series for 0 <= z < 1, all points at once; NaN where it does not converge."""
    total = np.ones_like(z)
    term = np.ones_like(z)
    for n in range(max_terms):
        ratio = (upper_a + n) * (upper_b + n) / ((lower + n) * (n + 1.0)) * z
        term *= ratio
        total += term
        # Only once the terms shrink: an early small term can still be followed by growing ones.
        if np.all((np.abs(term) <= 1e-16 * np.abs(total)) & (np.abs(ratio) < 1.0)):
            return total
    return np.where(np.abs(term) <= 1e-12 * np.abs(total), total, np.nan)
