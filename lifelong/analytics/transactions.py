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


def _segment_starts(keys: npt.NDArray[np.int64]) -> npt.NDArray[np.intp]:
    """Indices where a run of equal values begins in a sorted array."""
    change = np.empty(keys.shape[0], dtype=bool)
    change[:1] = True
    np.not_equal(keys[1:], keys[:-1], out=change[1:])
    return np.flatnonzero(change)


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

    unique_ids, codes = np.unique(ids_in, return_inverse=True)
    codes = codes.reshape(-1).astype(np.int64)
    # One int64 key per (customer, day) so a single argsort orders by customer then day.
    first_day = int(days.min())
    span = np.int64(int(days.max()) - first_day + 1)
    keys = codes * span + (days - first_day)
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    starts = _segment_starts(keys)
    day_keys = keys[starts]
    day_codes = day_keys // span
    day_days = day_keys % span + first_day
    day_money = np.add.reduceat(money[order], starts)

    in_cal = day_days <= cal_day
    cal_codes = day_codes[in_cal]
    cal_days = day_days[in_cal]
    cal_money = day_money[in_cal]
    if cal_codes.shape[0] == 0:
        raise ValueError("no customer made a purchase on or before the calibration end")
    firsts = _segment_starts(cal_codes)
    lasts = np.append(firsts[1:], cal_codes.shape[0]) - 1
    customers = cal_codes[firsts]

    repeat_days = (lasts - firsts).astype(np.float64)
    first_purchase = cal_days[firsts]
    repeat_money = np.add.reduceat(cal_money, firsts) - cal_money[firsts]
    monetary = np.divide(
        repeat_money, repeat_days, out=np.zeros_like(repeat_money), where=repeat_days > 0
    )

    in_holdout = (day_days > cal_day) & (day_days <= obs_day)
    holdout_counts = np.bincount(day_codes[in_holdout], minlength=unique_ids.shape[0])

    unit = float(time_unit_days)
    return RFMSummary(
        customer_ids=unique_ids[customers],
        frequency=repeat_days,
        recency=(cal_days[lasts] - first_purchase).astype(np.float64) / unit,
        age=(cal_day - first_purchase).astype(np.float64) / unit,
        monetary_value=monetary,
        holdout_frequency=holdout_counts[customers].astype(np.float64),
        holdout_duration=(obs_day - cal_day) / unit,
        calibration_end=np.datetime64(cal_day, "D").astype(dt.date),
        observation_end=np.datetime64(obs_day, "D").astype(dt.date),
    )
