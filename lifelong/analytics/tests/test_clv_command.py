"""`lifelong clv fit` on a transaction CSV."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lifelong.analytics.clv_command import clv_fit, clv_fit_main
from lifelong.analytics.tests.conftest import CDNOW


def write_cdnow_csv(cdnow: CDNOW, path: Path, id_format: str) -> Path:
    # Columns out of the usual order, a timestamp and a quoted id: the reader goes by the header.
    rows = [
        f'{amount:.2f},"{id_format.format(customer)}",{day}T12:00:00'
        for customer, day, amount in zip(
            cdnow.customer_ids, cdnow.dates.astype(str), cdnow.amounts, strict=True
        )
    ]
    path.write_text("\n".join(["amount,customer_id,date", *rows]) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def cdnow_csv(cdnow: CDNOW, tmp_path: Path) -> Path:
    return write_cdnow_csv(cdnow, tmp_path / "cdnow.csv", "c{:05d}")


def test_clv_fit_prints_both_models_in_weeks(
    cdnow_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = clv_fit_main(["--transactions", str(cdnow_csv), "--calibration-end", "1997-09-30"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["bgnbd"]) == {"r", "alpha", "a", "b", "ll"}
    assert set(result["gamma_gamma"]) == {"p", "q", "gamma"}
    assert result["time_unit"] == "weeks"
    assert result["customers"] == 2357
    assert result["repeat_customers"] == 946
    assert result["calibration_end"] == "1997-09-30"
    assert result["observation_end"] == "1998-06-30"
    bgnbd = result["bgnbd"]
    assert [round(bgnbd[k], 3) for k in ("r", "alpha", "a", "b")] == [0.243, 4.414, 0.793, 2.426]
    assert round(bgnbd["ll"], 1) == -9582.4
    gamma_gamma = result["gamma_gamma"]
    assert [round(gamma_gamma[k], 2) for k in ("p", "q", "gamma")] == [6.25, 3.74, 15.44]


def test_without_calibration_end_the_whole_log_is_used(cdnow_csv: Path) -> None:
    result = clv_fit(transactions_path=str(cdnow_csv), calibration_end=None)
    assert result["calibration_end"] == result["observation_end"] == "1998-06-30"
    assert result["customers"] == 2357
    # 78 weeks of data give different (but still finite, positive) estimates.
    values = [*result["bgnbd"].values(), *result["gamma_gamma"].values()]
    assert all(np.isfinite(values))
    assert result["bgnbd"]["r"] != pytest.approx(0.243, abs=1e-3)


def test_missing_column_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("customer_id,day,amount\n1,2024-01-01,3\n", encoding="utf-8")
    assert clv_fit_main(["--transactions", str(path)]) == 2
    assert "date" in capsys.readouterr().err


@pytest.mark.parametrize("id_format", ["{:d}", "{:05d}", "{:d}0"])
def test_numeric_and_zero_padded_ids_give_the_same_fit(
    cdnow: CDNOW, cdnow_csv: Path, tmp_path: Path, id_format: str
) -> None:
    """Plain numbers are read as integers; zero-padded ids stay strings, so "7" != "007"."""
    as_text = clv_fit(transactions_path=str(cdnow_csv), calibration_end="1997-09-30")
    other = write_cdnow_csv(cdnow, tmp_path / "other.csv", id_format)
    result = clv_fit(transactions_path=str(other), calibration_end="1997-09-30")
    assert result == as_text


def test_seven_and_double_o_seven_are_two_customers(tmp_path: Path) -> None:
    path = tmp_path / "ids.csv"
    rows = ["7,2024-01-01,10", "007,2024-01-01,20", "7,2024-01-08,5", "8,2024-01-02,1"]
    rows += ["8,2024-01-20,2", "9,2024-01-03,4", "9,2024-01-05,4", "9,2024-02-01,6"]
    path.write_text("customer_id,date,amount\n" + "\n".join(rows) + "\n", encoding="utf-8")
    result = clv_fit(transactions_path=str(path), calibration_end=None)
    assert result["customers"] == 4
    assert result["repeat_customers"] == 3


def test_overlong_ids_are_refused_not_cut(tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    path.write_text(f"customer_id,date,amount\n{'x' * 60},2024-01-01,1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="longer than 47"):
        clv_fit(transactions_path=str(path), calibration_end=None)


def test_dates_with_times_and_odd_spacing_are_read_by_day(tmp_path: Path) -> None:
    path = tmp_path / "dates.csv"
    rows = [
        "1, 2024-02-28T23:59:00+03:00 ,10",
        "1,2024-02-29,20",
        "1,2024-03-01 08:00,30",
        "2,2024-02-28,5",
        "2,2024-03-07,7",
    ]
    path.write_text("customer_id,date,amount\n" + "\n".join(rows) + "\n", encoding="utf-8")
    result = clv_fit(transactions_path=str(path), calibration_end="2024-03-01")
    assert result["customers"] == 2
    assert result["repeat_customers"] == 1
    assert result["observation_end"] == "2024-03-07"


def test_a_bad_date_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad_date.csv"
    path.write_text("customer_id,date,amount\n1,2024-02-30,1\n", encoding="utf-8")
    assert clv_fit_main(["--transactions", str(path)]) == 2
    assert "2024-02-30" in capsys.readouterr().err
