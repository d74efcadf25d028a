"""From a transaction log to the per-customer summary the CLV models take.

The summary follows Fader & Hardie: a customer's first purchase day starts their clock;
frequency `x` is the number of *repeat* purchase days, recency `t_x` the time of the last one,
age `T` the time from the first purchase to the end of the calibration period, and the monetary
value is the mean of the repeat purchases only (the first purchase is usually atypical).
Purchases on the same day are one purchase: the models count days with a purchase, not receipts.

Everything is sorting and segment reductions over whole arrays, so a million customers take a
second or two rather than a Python loop per customer.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class RFMSummary:
    """One row per customer whose first purchase falls on or before the calibration end."""

    customer_ids: npt.NDArray[Any]
    frequency: FloatArray
    recency: FloatArray
    age: FloatArray
    monetary_value: FloatArray
    # Purchase days after the calibration end (up to the observation end), per customer.
    holdout_frequency: FloatArray
    holdout_duration: float
    calibration_end: dt.date
    observation_end: dt.date

    def __len__(self) -> int:
        return int(self.frequency.shape[0])


def _day_number(value: dt.date) -> int:
    return int(np.datetime64(value, "D").astype(np.int64))


def _segment_starts(keys: npt.NDArray[Any]) -> npt.NDArray[np.intp]:
    """Indices where a run of equal values begins in a sorted array."""
    change = np.empty(keys.shape[0], dtype=bool)
    change[:1] = True
    np.not_equal(keys[1:], keys[:-1], out=change[1:])
    return np.flatnonzero(change)


def _distinct(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Sorted distinct values.

    A plain sort and a diff: NumPy 2.4's np.unique takes a hash-table path that is many times
    slower on a million numbers.
    """
    ordered = np.sort(values.reshape(-1))
    return ordered[_segment_starts(ordered)]


def _row_keys(
    columns: Sequence[npt.NDArray[np.float64]],
) -> tuple[list[npt.NDArray[np.float64]], npt.NDArray[np.int64]] | None:
    """Each column's distinct values and one int64 key per row that sorts like the rows.

    Ranks come from plain sorts and binary searches, no argsort. None when the key would overflow.
    """
    uniques = [_distinct(column) for column in columns]
    if math.prod(unique.shape[0] for unique in uniques) >= np.iinfo(np.int64).max:
        return None
    key = np.zeros(columns[0].shape[0], dtype=np.int64)
    for unique, column in zip(uniques, columns, strict=True):
        key = key * unique.shape[0] + np.searchsorted(unique, column)
    return uniques, key


def _decode(
    uniques: list[npt.NDArray[np.float64]], keys: npt.NDArray[np.int64]
) -> list[npt.NDArray[np.float64]]:
    decoded = []
    for unique in reversed(uniques):
        decoded.append(unique[keys % unique.shape[0]])
        keys = keys // unique.shape[0]
    return decoded[::-1]


def distinct_rows(
    columns: Sequence[npt.NDArray[np.float64]],
) -> tuple[list[npt.NDArray[np.float64]], npt.NDArray[np.intp]]:
    """The distinct rows of equal-length columns, sorted, and how often each occurs."""
    ranked = _row_keys(columns)
    if ranked is None:
        stacked, counts = np.unique(np.column_stack(columns), axis=0, return_counts=True)
        return [stacked[:, i].copy() for i in range(stacked.shape[1])], counts
    uniques, key = ranked
    ordered = np.sort(key)
    starts = _segment_starts(ordered)
    return _decode(uniques, ordered[starts]), np.diff(np.append(starts, ordered.shape[0]))


def row_groups(
    columns: Sequence[npt.NDArray[np.float64]],
) -> tuple[list[npt.NDArray[np.float64]], npt.NDArray[np.intp]]:
    """The distinct rows of equal-length columns, sorted, and each row's index among them."""
    ranked = _row_keys(columns)
    if ranked is None:
        stacked, index = np.unique(np.column_stack(columns), axis=0, return_inverse=True)
        return [stacked[:, i].copy() for i in range(stacked.shape[1])], index.reshape(-1)
    uniques, key = ranked
    keys = _distinct(key)
    return _decode(uniques, keys), np.searchsorted(keys, key)


def _customer_numbers(
    ids: npt.NDArray[Any], limit: int
) -> tuple[npt.NDArray[np.int64], Callable[[npt.NDArray[np.int64]], npt.NDArray[Any]]]:
    """Order-preserving int64 numbers below `limit` for the ids, and the way back to the ids."""
    if ids.dtype.kind in "iu" and int(ids.max()) - int(ids.min()) < limit:
        # Integer ids need no lookup table: an offset keeps them small and in order.
        low = ids.min()
        return (ids - low).astype(np.int64), lambda numbers: (numbers + low).astype(ids.dtype)
    unique, codes = np.unique(ids, return_inverse=True)
    return codes.reshape(-1).astype(np.int64), lambda numbers: unique[numbers]


def _sort_with_order(
    keys: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Sorted keys and the permutation that sorts them."""
    n = keys.shape[0]
    if int(keys.max()) < np.iinfo(np.int64).max // n - 1:
        # Carry the row number in the low digits and sort plain integers (SIMD sort) instead of
        # argsort: several times faster for millions of rows, and the order comes back out.
        packed = np.sort(keys * n + np.arange(n, dtype=np.int64))
        return packed // n, packed % n
    order = np.argsort(keys).astype(np.int64)
    return keys[order], order


def rfm_summary(
    *,
    customer_ids: npt.ArrayLike,
    dates: npt.ArrayLike,
    amounts: npt.ArrayLike,
    calibration_end: dt.date | None = None,
    observation_end: dt.date | None = None,
    time_unit_days: float = 7.0,
) -> RFMSummary:
    """Summarise a transaction log per customer, in units of `time_unit_days` (weeks by default).

    `observation_end` defaults to the last transaction day and `calibration_end` to the observation
    end (no holdout period). Transactions after the observation end are ignored; customers whose
    first purchase is after the calibration end are left out, as the models cannot say anything
    about them yet.
    """
    ids_in = np.asarray(customer_ids)
    days = np.asarray(dates, dtype="datetime64[D]").astype(np.int64)
    money = np.asarray(amounts, dtype=np.float64)
    if not (ids_in.shape == days.shape == money.shape) or ids_in.ndim != 1:
        raise ValueError("customer_ids, dates and amounts must be 1-d arrays of the same length")
    if days.shape[0] == 0:
        raise ValueError("the transaction log is empty")
    if not np.all(np.isfinite(money)):
        raise ValueError("amounts must be finite numbers")
    if time_unit_days <= 0:
        raise ValueError("time_unit_days must be positive")

    obs_day = int(days.max()) if observation_end is None else _day_number(observation_end)
    cal_day = obs_day if calibration_end is None else _day_number(calibration_end)
    if cal_day > obs_day:
        raise ValueError("calibration_end is after observation_end")

    kept = days <= obs_day
    if not np.all(kept):
        ids_in, days, money = ids_in[kept], days[kept], money[kept]
    if days.shape[0] == 0 or int(days.min()) > cal_day:
        raise ValueError("no customer made a purchase on or before the calibration end")

    # One int64 key per (customer, day), so a single sort orders by customer, then day.
    first_day = int(days.min())
    span = obs_day - first_day + 1
    numbers, id_of = _customer_numbers(ids_in, np.iinfo(np.int64).max // span)
    keys, order = _sort_with_order(numbers * span + (days - first_day))
    starts = _segment_starts(keys)
    day_keys = keys[starts]
    day_money = np.add.reduceat(money[order], starts)
    day_customer = day_keys // span
    day_days = day_keys % span + first_day

    # Each customer's purchase days are a sorted run: calibration days first, then holdout days.
    runs = _segment_starts(day_customer)
    run_length = np.diff(np.append(runs, day_days.shape[0]))
    started = day_days[runs] <= cal_day
    runs, run_length = runs[started], run_length[started]
    first_purchase = day_days[runs]
    # A dropped customer's days all fall after the calibration end, so sums of calibration days
    # over the kept runs stay right even where such a run now sits inside a kept one.
    in_cal = day_days <= cal_day
    cal_count = np.add.reduceat(in_cal.astype(np.int64), runs)
    cal_last = runs + cal_count - 1
    repeat_days = (cal_count - 1).astype(np.float64)
    repeat_money = np.add.reduceat(np.where(in_cal, day_money, 0.0), runs) - day_money[runs]
    monetary = np.divide(
        repeat_money, repeat_days, out=np.zeros_like(repeat_money), where=repeat_days > 0
    )
    holdout = run_length - cal_count

    unit = float(time_unit_days)
    return RFMSummary(
        customer_ids=id_of(day_customer[runs]),
        frequency=repeat_days,
        recency=(day_days[cal_last] - first_purchase).astype(np.float64) / unit,
        age=(cal_day - first_purchase).astype(np.float64) / unit,
        monetary_value=monetary,
        holdout_frequency=holdout.astype(np.float64),
        holdout_duration=(obs_day - cal_day) / unit,
        calibration_end=np.datetime64(cal_day, "D").astype(dt.date),
        observation_end=np.datetime64(obs_day, "D").astype(dt.date),
    )
