"""The per-customer RFM summary built from a transaction log."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lifelong.analytics.tests.conftest import CDNOW
from lifelong.analytics.transactions import rfm_summary

CALIBRATION_END = dt.date(1997, 9, 30)


def test_cdnow_summary_matches_the_published_one(cdnow: CDNOW) -> None:
    summary = rfm_summary(
        customer_ids=cdnow.customer_ids,
        dates=cdnow.dates,
        amounts=cdnow.amounts,
        calibration_end=CALIBRATION_END,
    )
    published = cdnow.published_summary
    assert len(summary) == 2357
    np.testing.assert_array_equal(summary.customer_ids, published[:, 0].astype(np.int64))
    np.testing.assert_array_equal(summary.frequency, published[:, 1])
    # The published table is rounded to two decimals.
    np.testing.assert_allclose(summary.recency, published[:, 2], atol=0.005)
    np.testing.assert_allclose(summary.age, published[:, 3], atol=0.005)
    np.testing.assert_allclose(summary.monetary_value, published[:, 4], atol=0.005 + 1e-9)
    assert int(np.count_nonzero(summary.frequency)) == 946
    assert summary.observation_end == dt.date(1998, 6, 30)
    assert summary.holdout_duration == 39.0


def test_same_day_purchases_merge_and_holdout_is_counted() -> None:
    log = [
        ("ann", "2024-01-01", 10.0),
        ("ann", "2024-01-01", 5.0),  # same day: one purchase of 15
        ("ann", "2024-01-08", 20.0),
        ("ann", "2024-01-15", 2.0),
        ("ann", "2024-01-15", 2.0),
        ("ann", "2024-02-05", 7.0),  # holdout
        ("ann", "2024-02-05", 1.0),  # same holdout day
        ("bob", "2024-01-29", 3.0),
        ("bob", "2024-02-12", 4.0),  # holdout
        ("cid", "2024-02-01", 9.0),  # first purchase after the calibration end: left out
    ]
    ids, dates, amounts = zip(*log, strict=True)
    summary = rfm_summary(
        customer_ids=np.array(ids),
        dates=np.array(dates, dtype="datetime64[D]"),
        amounts=np.array(amounts),
        calibration_end=dt.date(2024, 1, 29),
    )
    assert summary.customer_ids.tolist() == ["ann", "bob"]
    assert summary.frequency.tolist() == [2.0, 0.0]
    assert summary.recency.tolist() == [2.0, 0.0]
    assert summary.age.tolist() == [4.0, 0.0]
    assert summary.monetary_value.tolist() == [12.0, 0.0]
    assert summary.holdout_frequency.tolist() == [1.0, 1.0]
    assert summary.holdout_duration == 2.0
    assert summary.observation_end == dt.date(2024, 2, 12)


def test_without_calibration_end_everything_is_calibration() -> None:
    summary = rfm_summary(
        customer_ids=np.array([7, 7, 7]),
        dates=np.array(["2024-03-01", "2024-03-04", "2024-03-08"], dtype="datetime64[D]"),
        amounts=np.array([1.0, 2.0, 4.0]),
        time_unit_days=1.0,
    )
    assert summary.frequency.tolist() == [2.0]
    assert summary.recency.tolist() == [7.0]
    assert summary.age.tolist() == [7.0]
    assert summary.monetary_value.tolist() == [3.0]
    assert summary.holdout_frequency.tolist() == [0.0]
    assert summary.calibration_end == summary.observation_end == dt.date(2024, 3, 8)


def test_rejects_a_calibration_end_after_the_observation_end() -> None:
    with pytest.raises(ValueError, match="calibration_end"):
        rfm_summary(
            customer_ids=np.array([1]),
            dates=np.array(["2024-03-01"], dtype="datetime64[D]"),
            amounts=np.array([1.0]),
            calibration_end=dt.date(2024, 4, 1),
            observation_end=dt.date(2024, 3, 15),
        )


def _reference_summary(
    log: list[tuple[int, int, float]], calibration_day: int, observation_day: int
) -> dict[int, tuple[float, float, float, float, float]]:
    """The summary the slow, obvious way: a dict of days per customer."""
    by_customer: dict[int, dict[int, float]] = {}
    for customer, day, amount in log:
        if day <= observation_day:
            days = by_customer.setdefault(customer, {})
            days[day] = days.get(day, 0.0) + amount
    result = {}
    for customer, days in by_customer.items():
        calibration = sorted(d for d in days if d <= calibration_day)
        if not calibration:
            continue
        first, repeats = calibration[0], calibration[1:]
        result[customer] = (
            float(len(repeats)),
            float(calibration[-1] - first),
            float(calibration_day - first),
            sum(days[d] for d in repeats) / len(repeats) if repeats else 0.0,
            float(sum(1 for d in days if d > calibration_day)),
        )
    return result


@settings(max_examples=60)
@given(
    log=st.lists(
        st.tuples(
            st.integers(0, 6),
            st.integers(0, 40),
            st.floats(0.01, 100.0, allow_nan=False, allow_infinity=False),
        ),
        min_size=1,
        max_size=60,
    ),
    calibration_day=st.integers(0, 40),
    extra_days=st.integers(0, 10),
)
def test_matches_a_per_customer_reference(
    log: list[tuple[int, int, float]], calibration_day: int, extra_days: int
) -> None:
    start = np.datetime64("2020-01-01")
    observation_day = calibration_day + extra_days
    expected = _reference_summary(log, calibration_day, observation_day)
    if not expected:
        return
    customers, days, amounts = (np.array(column) for column in zip(*log, strict=True))
    summary = rfm_summary(
        customer_ids=customers,
        dates=start + days.astype("timedelta64[D]"),
        amounts=amounts,
        calibration_end=(start + np.timedelta64(calibration_day, "D")).astype(dt.date),
        observation_end=(start + np.timedelta64(observation_day, "D")).astype(dt.date),
        time_unit_days=1.0,
    )
    assert summary.customer_ids.tolist() == sorted(expected)
    got = np.column_stack(
        (
            summary.frequency,
            summary.recency,
            summary.age,
            summary.monetary_value,
            summary.holdout_frequency,
        )
    )
    np.testing.assert_allclose(got, np.array([expected[c] for c in sorted(expected)]), rtol=1e-12)
