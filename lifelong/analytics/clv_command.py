"""`lifelong clv fit`: fit BG/NBD and Gamma-Gamma to a transaction CSV and print the parameters.

The CSV has a header with (at least) the columns customer_id, date, amount; the date is ISO
(YYYY-MM-DD, anything after the day is ignored). Time in the output is in weeks.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import sys
from typing import Any

import numpy as np
import numpy.typing as npt

from lifelong.analytics.bgnbd import bgnbd_fit
from lifelong.analytics.gamma_gamma import gamma_gamma_fit
from lifelong.analytics.transactions import rfm_summary

COLUMNS = ("customer_id", "date", "amount")


def _read_transactions(
    path: str,
) -> tuple[npt.NDArray[Any], npt.NDArray[np.datetime64], npt.NDArray[np.float64]]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        header = next(csv.reader(handle), None)
    if header is None:
        raise ValueError(f"{path} is empty")
    names = [name.strip().lower() for name in header]
    missing = [column for column in COLUMNS if column not in names]
    if missing:
        raise ValueError(f"{path} lacks the column(s): {', '.join(missing)}")
    # NumPy's C reader instead of csv.reader: a million rows would otherwise be a Python loop.
    cells = np.loadtxt(
        path,
        delimiter=",",
        skiprows=1,
        usecols=[names.index(column) for column in COLUMNS],
        dtype=str,
        quotechar='"',
        encoding="utf-8-sig",
        ndmin=2,
    )
    if cells.shape[0] == 0:
        raise ValueError(f"{path} has no transactions")
    ids = np.char.strip(cells[:, 0])
    # Shop ids are usually plain numbers: as int64 they sort many times faster than strings.
    # Only when the mapping is one-to-one ("7" and "007" must stay two customers).
    if (
        np.all(np.char.isdigit(ids))
        and np.all(np.char.str_len(ids) <= 18)
        and not np.any(np.char.startswith(ids, "0") & (np.char.str_len(ids) > 1))
    ):
        ids = ids.astype(np.int64)
    # Casting to a 10-character string keeps just the YYYY-MM-DD part of a timestamp.
    dates = np.char.strip(cells[:, 1]).astype("U10").astype("datetime64[D]")
    amounts = cells[:, 2].astype(np.float64)
    return ids, dates, amounts


def clv_fit(*, transactions_path: str, calibration_end: str | None) -> dict[str, Any]:
    """Fit both models on the calibration period of the CSV's transactions, time in weeks."""
    ids, dates, amounts = _read_transactions(transactions_path)
    summary = rfm_summary(
        customer_ids=ids,
        dates=dates,
        amounts=amounts,
        calibration_end=None if calibration_end is None else dt.date.fromisoformat(calibration_end),
    )
    bgnbd = bgnbd_fit(frequency=summary.frequency, recency=summary.recency, age=summary.age)
    gamma_gamma = gamma_gamma_fit(
        frequency=summary.frequency, monetary_value=summary.monetary_value
    )
    return {
        "customers": len(summary),
        "repeat_customers": int(np.count_nonzero(summary.frequency)),
        "calibration_end": summary.calibration_end.isoformat(),
        "observation_end": summary.observation_end.isoformat(),
        "time_unit": "weeks",
        "bgnbd": {
            "r": bgnbd.r,
            "alpha": bgnbd.alpha,
            "a": bgnbd.a,
            "b": bgnbd.b,
            "ll": bgnbd.log_likelihood,
        },
        "gamma_gamma": {"p": gamma_gamma.p, "q": gamma_gamma.q, "gamma": gamma_gamma.gamma},
    }


def clv_fit_main(argv: list[str]) -> int:
    """Command-line entry: `clv fit --transactions FILE.csv [--calibration-end YYYY-MM-DD]`."""
    parser = argparse.ArgumentParser(
        prog="lifelong clv fit",
        description="Fit BG/NBD and Gamma-Gamma CLV models to a transaction CSV.",
    )
    parser.add_argument("--transactions", required=True, metavar="FILE.csv")
    parser.add_argument("--calibration-end", default=None, metavar="YYYY-MM-DD")
    args = parser.parse_args(argv)
    try:
        result = clv_fit(transactions_path=args.transactions, calibration_end=args.calibration_end)
    except (OSError, ValueError, RuntimeError) as error:
        print(f"lifelong clv fit: {error}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0
