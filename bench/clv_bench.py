"""CLV fit bench: our NumPy/SciPy CLV models against lifetimes 0.11.3, in the same process.

Draws N synthetic customers from the BG/NBD process with known parameters (purchases on whole
days, cohorts joining over 13 weeks, as in CDNOW) and Gamma-Gamma spend, builds the per-customer
summary from the transaction log with both libraries, fits BG/NBD and Gamma-Gamma with both, and
prints the parameters, whether they agree to 3 decimals, the times and the speed ratios.

Run through bench/clv_bench.sh: lifetimes lives only in bench/.venv-clv.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lifelong.analytics.bgnbd import BGNBDParams, bgnbd_fit, bgnbd_log_likelihood
from lifelong.analytics.gamma_gamma import GammaGammaParams, gamma_gamma_fit
from lifelong.analytics.transactions import rfm_summary

TRUE = BGNBDParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
TRUE_SPEND = GammaGammaParams(p=6.25, q=3.74, gamma=15.44)
CALIBRATION_DAYS = 273  # 39 weeks, the CDNOW calibration period
START = np.datetime64("2024-01-01")
Result = TypeVar("Result")


def simulate(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A transaction log (customer, date, amount) drawn from the BG/NBD process."""
    rng = np.random.default_rng(seed)
    joined = rng.integers(0, 91, n)  # first purchase in the first 13 weeks
    horizon = (CALIBRATION_DAYS - joined) / 7.0  # T in weeks, 26 to 39
    rate = rng.gamma(TRUE.r, 1.0 / TRUE.alpha, n)
    dropout = rng.beta(TRUE.a, TRUE.b, n)
    customers = [np.arange(n)]
    days = [joined]
    clock = np.zeros(n)
    alive = np.flatnonzero(rate > 0)
    while alive.size:
        clock[alive] += rng.exponential(1.0, alive.size) / rate[alive]
        alive = alive[clock[alive] <= horizon[alive]]
        customers.append(alive)
        days.append(joined[alive] + np.floor(clock[alive] * 7.0).astype(np.int64))
        alive = alive[rng.uniform(size=alive.size) >= dropout[alive]]
    ids = np.concatenate(customers)
    dates = START + np.concatenate(days).astype("timedelta64[D]")
    # Gamma-Gamma spend: each customer's scale nu ~ Gamma(q, gamma), each purchase ~ Gamma(p, nu).
    nu = rng.gamma(TRUE_SPEND.q, 1.0 / TRUE_SPEND.gamma, n)
    amounts = rng.gamma(TRUE_SPEND.p, 1.0 / nu[ids])
    return ids, dates, amounts


def timed(label: str, action: Callable[[], Result]) -> tuple[Result, float]:
    began = time.perf_counter()
    result = action()
    elapsed = time.perf_counter() - began
    print(f"  {label:<44} {elapsed:9.2f} s", flush=True)
    return result, elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--lifetimes-maxiter",
        type=int,
        default=None,
        help="cap lifetimes' optimiser iterations (default: its own, run to convergence)",
    )
    args = parser.parse_args()

    import lifetimes
    import pandas as pd
    import scipy
    from lifetimes import BetaGeoFitter, GammaGammaFitter
    from lifetimes.utils import summary_data_from_transaction_data

    print(
        f"python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"pandas {pd.__version__}, lifetimes {lifetimes.__version__}"
    )
    ids, dates, amounts = simulate(args.customers, args.seed)
    calibration_end = (START + np.timedelta64(CALIBRATION_DAYS, "D")).astype(object)
    print(f"{args.customers:,} customers, {ids.size:,} transactions, until {calibration_end}")

    print("summary from the transaction log")
    ours_summary, ours_summary_s = timed(
        "ours: rfm_summary",
        lambda: rfm_summary(
            customer_ids=ids,
            dates=dates,
            amounts=amounts,
            calibration_end=calibration_end,
            observation_end=calibration_end,
        ),
    )
    log = pd.DataFrame({"customer": ids, "date": dates, "amount": amounts})
    theirs_summary, theirs_summary_s = timed(
        "lifetimes: summary_data_from_transaction_data",
        lambda: summary_data_from_transaction_data(
            log,
            "customer",
            "date",
            monetary_value_col="amount",
            observation_period_end=pd.Timestamp(calibration_end),
            freq="D",
        ),
    )
    same_summary = (
        np.array_equal(theirs_summary.index.to_numpy(), ours_summary.customer_ids)
        and np.array_equal(theirs_summary["frequency"].to_numpy(), ours_summary.frequency)
        and np.allclose(theirs_summary["recency"].to_numpy() / 7.0, ours_summary.recency)
        and np.allclose(theirs_summary["T"].to_numpy() / 7.0, ours_summary.age)
        and np.allclose(theirs_summary["monetary_value"].to_numpy(), ours_summary.monetary_value)
    )
    print(f"  summaries identical: {same_summary}")

    x, t_x, age = ours_summary.frequency, ours_summary.recency, ours_summary.age
    print("BG/NBD fit on the per-customer (x, t_x, T), weeks")
    ours, ours_fit_s = timed(
        "ours: bgnbd_fit", lambda: bgnbd_fit(frequency=x, recency=t_x, age=age)
    )
    options = {} if args.lifetimes_maxiter is None else {"maxiter": args.lifetimes_maxiter}
    fitter, theirs_fit_s = timed(
        "lifetimes: BetaGeoFitter.fit",
        lambda: BetaGeoFitter().fit(x, t_x, age, **options),
    )
    theirs = fitter.params_
    # lifetimes rescales time inside its fit, so its own LL is on another scale: evaluate its
    # parameters under ours instead.
    theirs_ll = bgnbd_log_likelihood(
        params=BGNBDParams(*(float(theirs[name]) for name in ("r", "alpha", "a", "b"))),
        frequency=x,
        recency=t_x,
        age=age,
    )

    names = ("r", "alpha", "a", "b")
    print(f"\n  {'':>6} {'true':>10} {'ours':>12} {'lifetimes':>12}  same to 3 dp")
    agree = True
    for name in names:
        mine, other = getattr(ours, name), float(theirs[name])
        same = round(mine, 3) == round(other, 3)
        agree &= same
        print(f"  {name:>6} {getattr(TRUE, name):>10.3f} {mine:>12.5f} {other:>12.5f}  {same}")
    print(f"  {'LL':>6} {'':>10} {ours.log_likelihood:>12.1f} {theirs_ll:>12.1f}")
    print(f"\n  parameters agree to 3 decimals: {agree}")
    print(f"  fit speed-up (lifetimes / ours): {theirs_fit_s / ours_fit_s:.1f}x")

    repeat = x > 0
    print(f"\nGamma-Gamma fit on the {int(repeat.sum()):,} repeat buyers' (x, mean repeat spend)")
    spend = ours_summary.monetary_value
    ours_gg, ours_gg_s = timed(
        "ours: gamma_gamma_fit", lambda: gamma_gamma_fit(frequency=x, monetary_value=spend)
    )
    gg_fitter, theirs_gg_s = timed(
        "lifetimes: GammaGammaFitter.fit",
        lambda: GammaGammaFitter().fit(x[repeat], spend[repeat]),
    )
    theirs_gg = {
        "p": gg_fitter.params_["p"],
        "q": gg_fitter.params_["q"],
        "gamma": gg_fitter.params_["v"],
    }
    print(f"\n  {'':>6} {'true':>10} {'ours':>12} {'lifetimes':>12}  same to 3 dp")
    gg_agree = True
    for name, other in theirs_gg.items():
        mine = getattr(ours_gg, name)
        same = round(mine, 3) == round(float(other), 3)
        gg_agree &= same
        print(
            f"  {name:>6} {getattr(TRUE_SPEND, name):>10.3f} {mine:>12.5f} {other:>12.5f}  {same}"
        )
    print(f"\n  parameters agree to 3 decimals: {gg_agree}")
    print(f"  fit speed-up (lifetimes / ours): {theirs_gg_s / ours_gg_s:.1f}x")

    print("\nOverall")
    print(f"  summary speed-up (lifetimes / ours): {theirs_summary_s / ours_summary_s:.1f}x")
    ours_total = ours_summary_s + ours_fit_s + ours_gg_s
    theirs_total = theirs_summary_s + theirs_fit_s + theirs_gg_s
    print(
        f"  summary + both fits: ours {ours_total:.2f} s, lifetimes {theirs_total:.2f} s, "
        f"{theirs_total / ours_total:.1f}x"
    )
    return 0 if agree and gg_agree and same_summary else 1


if __name__ == "__main__":
    raise SystemExit(main())
