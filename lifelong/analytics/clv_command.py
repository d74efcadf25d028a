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
ID_WIDTH = 48


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
    table = np.loadtxt(
        path,
        delimiter=",",
        skiprows=1,
        usecols=[names.index(column) for column in COLUMNS],
        # Fixed widths let the C reader parse the amount too; it cuts longer text silently,
        # hence the length check on ids (a date needs only its first 10 characters).
        dtype=[("customer_id", f"U{ID_WIDTH}"), ("date", "U16"), ("amount", "f8")],
        quotechar='"',
        encoding="utf-8-sig",
        ndmin=1,
    )
    if table.shape[0] == 0:
        raise ValueError(f"{path} has no transactions")
    if np.any(np.char.str_len(table["customer_id"]) >= ID_WIDTH):
        raise ValueError(f"customer ids longer than {ID_WIDTH - 1} characters are not supported")
    ids = np.char.strip(table["customer_id"])
    plain = _plain_integers(ids)
    return (
        ids if plain is None else plain,
        _iso_days(np.char.strip(table["date"])),
        table["amount"],
    )


def _code_points(strings: npt.NDArray[np.str_], width: int) -> npt.NDArray[np.int64]:
    """The first `width` characters of each string as numbers (0 past its end), one row each."""
    fixed = np.ascontiguousarray(strings.astype(f"U{width}"))
    return fixed.view(np.uint32).reshape(-1, width).astype(np.int64)


def _plain_integers(ids: npt.NDArray[np.str_]) -> npt.NDArray[np.int64] | None:
    """The ids as int64 when every one is a plain number, else None.

    Shop ids are usually numbers, and integers sort many times faster than strings; NumPy's own
    string-to-int cast is slow, so the digits are read column by column. Zero-padded ids stay
    strings: "7" and "007" are two customers.
    """
    lengths = np.char.str_len(ids)
    width = int(lengths.max())
    if width > 18 or int(lengths.min()) == 0:
        return None
    points = _code_points(ids, width)
    if np.any((points[:, 0] == ord("0")) & (lengths > 1)):
        return None
    value = np.zeros(ids.shape[0], dtype=np.int64)
    for column in range(width):
        present = column < lengths
        digit = points[:, column] - ord("0")
        if np.any(present & ((digit < 0) | (digit > 9))):
            return None
        value = np.where(present, value * 10 + digit, value)
    return value


def _iso_days(dates: npt.NDArray[np.str_]) -> npt.NDArray[np.datetime64]:
    """YYYY-MM-DD (anything after the day is ignored) as days, read from the digits directly.

    NumPy's string-to-datetime cast takes about a microsecond a row; anything not in this exact
    shape goes through it anyway, so it raises its usual error on a bad date.
    """
    points = _code_points(dates, 10) - ord("0")
    digits = points[:, [0, 1, 2, 3, 5, 6, 8, 9]]
    year = digits[:, 0] * 1000 + digits[:, 1] * 100 + digits[:, 2] * 10 + digits[:, 3]
    month = digits[:, 4] * 10 + digits[:, 5]
    day = digits[:, 6] * 10 + digits[:, 7]
    month_start = np.datetime64("1970-01", "M") + ((year - 1970) * 12 + month - 1).astype(
        "timedelta64[M]"
    )
    first_day = month_start.astype("datetime64[D]")
    month_length = ((month_start + 1).astype("datetime64[D]") - first_day).astype(np.int64)
    well_formed = (
        np.all((digits >= 0) & (digits <= 9))
        and np.all(points[:, [4, 7]] == ord("-") - ord("0"))
        and np.all((month >= 1) & (month <= 12) & (day >= 1) & (day <= month_length))
    )
    if not well_formed:
        return dates.astype("U10").astype("datetime64[D]")
    return first_day + (day - 1).astype("timedelta64[D]")


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
