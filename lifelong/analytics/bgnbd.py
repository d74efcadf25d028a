"""BG/NBD: the beta-geometric / negative-binomial model of repeat buying.

Fader, Hardie & Lee (2005), "Counting your customers the easy way". While alive, a customer buys
as a Poisson process with rate lambda ~ Gamma(r, alpha); after every purchase they drop out with
probability p ~ Beta(a, b). The model is fitted by maximum likelihood on (x, t_x, T) per customer.

The optimiser works on log-parameters (all four must be positive) with the exact gradient, and
identical (x, t_x, T) rows are collapsed into one weighted row first: real logs are in whole days,
so a million customers become a few tens of thousands of distinct rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import OptimizeResult, minimize
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1

from lifelong.analytics.transactions import distinct_rows, row_groups

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
    """Weighted distinct (x, t_x, T) rows, and the groups the log-likelihood factors into.

    Per row, LL = C(x) + A(x, T) + log(1 + exp(B(x, t_x) - A(x, T))): C, A and B are computed
    once per distinct x, (x, T) and (x, t_x), which are few, and only the last term runs per row.
    """

    weights: FloatArray
    x: FloatArray  # distinct x
    x_weight: FloatArray
    a_x: FloatArray  # distinct (x, T)
    a_T: FloatArray
    a_weight: FloatArray
    a_index: npt.NDArray[np.intp]  # row -> (x, T) group
    b_x: FloatArray  # distinct (x, t_x)
    b_tx: FloatArray
    b_index: npt.NDArray[np.intp]  # row -> (x, t_x) group

    @classmethod
    def of(cls, x: FloatArray, t_x: FloatArray, T: FloatArray, weights: FloatArray) -> _Compressed:
        (x_values,), x_index = row_groups([x])
        (a_x, a_T), a_index = row_groups([x, T])
        (b_x, b_tx), b_index = row_groups([x, t_x])
        return cls(
            weights=weights,
            x=x_values,
            x_weight=np.bincount(x_index, weights, minlength=x_values.shape[0]).astype(np.float64),
            a_x=a_x,
            a_T=a_T,
            a_weight=np.bincount(a_index, weights, minlength=a_x.shape[0]).astype(np.float64),
            a_index=a_index,
            b_x=b_x,
            b_tx=b_tx,
            b_index=b_index,
        )


def _compress_rows(
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
    written as C + A + softplus(B - A) for stability; each partial derivative is
    dC + dA + s (dB - dA) with s = expit(B - A), the share of the dropped-out branch.
    """
    r, alpha, a, b = np.exp(log_params)
    x, ax, bx = data.x, data.a_x, data.b_x
    b_repeat = bx > 0
    # b + x - 1 is only used where x > 0; elsewhere any positive stand-in keeps betaln finite.
    bx1 = np.where(b_repeat, b + bx - 1.0, 1.0)
    log_alpha_T = np.log(alpha + data.a_T)
    log_alpha_tx = np.log(alpha + data.b_tx)

    c_term = gammaln(r + x) - gammaln(r) + r * np.log(alpha) - betaln(a, b)
    a_term = betaln(a, b + ax) - (r + ax) * log_alpha_T
    b_term = np.where(b_repeat, betaln(a + 1.0, bx1) - (r + bx) * log_alpha_tx, -np.inf)
    gap = b_term[data.b_index] - a_term[data.a_index]
    w = data.weights
    # softplus(gap) = log(1 + e^gap) and expit(gap) from one exp of -|gap|, overflow-free.
    small = np.exp(-np.abs(gap))
    softplus = np.maximum(gap, 0.0) + np.log1p(small)
    ll = float(
        np.sum(data.x_weight * c_term) + np.sum(data.a_weight * a_term) + np.sum(w * softplus)
    )
    if not with_gradient:
        return ll, np.zeros(4)

    dropped = w * np.where(gap >= 0.0, 1.0, small) / (1.0 + small)
    b_share = np.bincount(data.b_index, dropped, minlength=bx.shape[0])
    a_share = data.a_weight - np.bincount(data.a_index, dropped, minlength=ax.shape[0])
    psi_ab = digamma(a + b)
    psi_abx_a = digamma(a + b + ax)
    psi_abx_b = digamma(a + b + bx)
    d_c = np.stack(
        (
            digamma(r + x) - digamma(r) + np.log(alpha),
            np.full_like(x, r / alpha),
            np.full_like(x, psi_ab - digamma(a)),
            np.full_like(x, psi_ab - digamma(b)),
        )
    )
    d_a = np.stack(
        (
            -log_alpha_T,
            -(r + ax) / (alpha + data.a_T),
            digamma(a) - psi_abx_a,
            digamma(b + ax) - psi_abx_a,
        )
    )
    # Rows with x = 0 have no B branch (zero share); zeros keep 0 * (stand-in) out of the sum.
    d_b = np.where(
        b_repeat,
        np.stack(
            (
                -log_alpha_tx,
                -(r + bx) / (alpha + data.b_tx),
                digamma(a + 1.0) - psi_abx_b,
                digamma(bx1) - psi_abx_b,
            )
        ),
        0.0,
    )
    # Plain reductions, not BLAS dot: BLAS threads spin badly when the cores are shared.
    grad = (
        np.sum(d_c * data.x_weight, axis=1)
        + np.sum(d_a * a_share, axis=1)
        + np.sum(d_b * b_share, axis=1)
    )
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
        x, t_x, T, w = _compress_rows(frequency=x, recency=t_x, age=T)
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


def log_params_minimize(
    objective: Callable[[FloatArray], tuple[float, FloatArray]],
    start: FloatArray,
    *,
    model: str,
    max_iterations: int,
) -> OptimizeResult:
    """Minimise a (value, gradient) objective over log-parameters (parameters: exp(x)).

    Shared by the BG/NBD and Gamma-Gamma fits: positive parameters, optimised as logs.
    """
    result = minimize(
        objective,
        start,
        jac=True,
        method="L-BFGS-B",
        bounds=[(-_LOG_BOUND, _LOG_BOUND)] * len(start),
        options={"maxiter": max_iterations, "ftol": 1e-15, "gtol": 1e-10},
    )
    if not np.all(np.isfinite(result.x)):
        raise RuntimeError(f"{model} fit failed: {result.message}")
    return result


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
        purchases = float(np.sum(data.a_weight * data.a_x))
        rate = purchases / max(float(np.sum(data.a_weight * data.a_T)), 1e-12)
        start = np.log([1.0, 1.0 / max(rate, 1e-6), 1.0, 1.0])
    else:
        start = np.log(initial.as_array())

    def objective(log_params: FloatArray) -> tuple[float, FloatArray]:
        # The mean keeps the scale independent of the number of customers for the tolerances.
        ll, grad = _ll_terms(log_params, data, with_gradient=True)
        return -ll / total_weight, -grad / total_weight

    result = log_params_minimize(objective, start, model="BG/NBD", max_iterations=max_iterations)
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


def bgnbd_probability_purchase(
    *,
    params: BGNBDParams,
    horizon: float,
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    age: npt.ArrayLike,
) -> FloatArray:
    """P(at least one purchase in (T, T + horizon] | x, t_x, T).

    Dead customers never buy, and an alive one buys nothing in the horizon with
    probability exp(-lambda t) (no purchase, so no chance to drop out either). Over the
    posterior this gives P(alive) x (1 - ((alpha + T) / (alpha + T + t))^(r + x)): for a
    one-time buyer, whose P(alive) is 1 by construction, the figure still falls with the
    silence, as the purchase rate the posterior allows them shrinks.
    """
    x = np.asarray(frequency, dtype=np.float64)
    T = np.asarray(age, dtype=np.float64)
    alive = bgnbd_probability_alive(params=params, frequency=x, recency=recency, age=T)
    alpha = params.alpha
    # 1 - ratio^(r + x) through expm1: exact for short horizons, where the ratio is near 1.
    log_none_if_alive = (params.r + x) * (np.log(alpha + T) - np.log(alpha + T + horizon))
    return alive * -np.expm1(log_none_if_alive)


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
    leaves a 2F1 with small upper parameters that stays finite. It overflows all the same when
    a and b run into the tens of thousands, as they do when a fit finds everyone's dropout
    probability alike (common in small shops): there the narrow dropout gets its own form.
    """
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    if abs(a - 1.0) < 1e-7:
        # a = 1 is a removable 0/0 (bracket and a - 1 vanish together); step beside it.
        a = 1.0 + 1e-7
    t, x, T = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (t, x, T)))
    value = np.full(t.shape, np.nan)
    spread = _dropout_relative_spread(params, x)
    closed = spread > NARROW_DROPOUT
    z = t[closed] / (alpha + T[closed] + t[closed])
    power = np.exp((a - 1.0) * (np.log(alpha + T[closed]) - np.log(alpha + T[closed] + t[closed])))
    # An overflowing 2F1 makes inf or NaN here on purpose: such values are replaced below.
    with np.errstate(over="ignore", invalid="ignore"):
        bracket = 1.0 - power * _hyp2f1(a + b - 1.0 - r, a - 1.0, a + b + x[closed] - 1.0, z)
        value[closed] = (a + b + x[closed] - 1.0) / (a - 1.0) * bracket
    # Just outside "narrow" the 2F1 can overflow too (long horizons); the narrow form is
    # rougher there but still within 2e-4. Wider still, NaN says there is no forecast.
    narrow = ~closed | (~np.isfinite(value) & (spread <= 2 * NARROW_DROPOUT))
    value[narrow] = _purchases_if_alive_narrow(params, t=t[narrow], x=x[narrow], T=T[narrow])
    return value


# A dropout probability whose standard deviation is at most this share of its mean is
# "narrow": the three-point rule below is then within 1e-5 of the exact expectation.
NARROW_DROPOUT = 0.05
# Three-point Gauss-Hermite rule for E[f(Z)], Z standard normal: exact for polynomials of
# degree five.
_HERMITE_NODES = np.array([-np.sqrt(3.0), 0.0, np.sqrt(3.0)])
_HERMITE_WEIGHTS = np.array([1.0, 4.0, 1.0]) / 6.0


def _dropout_relative_spread(params: BGNBDParams, x: FloatArray) -> FloatArray:
    """Standard deviation over mean of p ~ Beta(a, b + x), the dropout probability after x."""
    return np.sqrt((params.b + x) / (params.a * (params.a + params.b + x + 1.0)))


def _purchases_if_alive_narrow(
    params: BGNBDParams, *, t: FloatArray, x: FloatArray, T: FloatArray
) -> FloatArray:
    """The same expectation where Beta(a, b + x), the dropout probability, is narrow.

    Alive at T with rate lambda and dropout probability p, a customer buys
    (1 - exp(-lambda p t)) / p in expectation over the next t; over lambda ~ Gamma(r + x,
    alpha + T) that is g(p) = (1 - (1 + p t / (alpha + T))^-(r + x)) / p. E[g(p)] over the
    narrow Beta is taken over the normal with the same mean and variance.
    """
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    total = a + b + x
    mean = a / total
    sd = np.sqrt(mean * (1.0 - mean) / (total + 1.0))
    p = mean[:, None] + sd[:, None] * _HERMITE_NODES
    scale = (t / (alpha + T))[:, None]
    g = -np.expm1(-(r + x)[:, None] * np.log1p(p * scale)) / p
    return np.asarray(g @ _HERMITE_WEIGHTS, dtype=np.float64)


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
    with np.errstate(over="ignore", invalid="ignore"):
        for n in range(max_terms):
            ratio = (upper_a + n) * (upper_b + n) / ((lower + n) * (n + 1.0)) * z
            term *= ratio
            total += term
            # Only once the terms shrink: an early small term can still be followed by growing
            # ones. A sum that overflowed is given up at once.
            settled = (np.abs(term) <= 1e-16 * np.abs(total)) & (np.abs(ratio) < 1.0)
            if np.all(settled | ~np.isfinite(total)):
                break
    return np.where(np.abs(term) <= 1e-12 * np.abs(total), total, np.nan)
