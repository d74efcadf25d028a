"""The CDNOW sample (Fader & Hardie's 2357 customers), taken from the lifetimes 0.11.3 wheel.

The wheel is only a carrier for the data: it is downloaded with pip, opened as a zip file and never
installed, so the tests do not depend on lifetimes being importable.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

WHEEL = "Lifetimes-0.11.3-py3-none-any.whl"
SAMPLE = "lifetimes/datasets/CDNOW_sample.txt"
SUMMARY = "lifetimes/datasets/cdnow_customers_summary_with_transactions.csv"
REPO = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class CDNOW:
    """The raw sample log plus the published per-customer summary of its calibration period."""

    customer_ids: npt.NDArray[np.int64]
    dates: npt.NDArray[np.datetime64]
    amounts: npt.NDArray[np.float64]
    # Columns ID, x, t_x, T, zbar as Fader & Hardie published them (two decimals).
    published_summary: npt.NDArray[np.float64]


def _wheel_path() -> Path:
    cache = Path(os.environ.get("LIFELONG_TEST_DATA") or REPO / "var" / "testdata")
    wheel = cache / WHEEL
    if wheel.exists():
        return wheel
    cache.mkdir(parents=True, exist_ok=True)
    # Download into a private directory and move the file into place, so two xdist workers
    # never read a half-written wheel.
    with tempfile.TemporaryDirectory(dir=cache) as scratch:
        command = [sys.executable, "-m", "pip", "download", "lifetimes==0.11.3", "--no-deps"]
        done = subprocess.run(
            [*command, "--disable-pip-version-check", "-d", scratch],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        downloaded = Path(scratch) / WHEEL
        if done.returncode != 0 or not downloaded.exists():
            pytest.fail(
                "Could not download the lifetimes 0.11.3 wheel that carries the CDNOW test data "
                f"(needs network access to PyPI, or put {WHEEL} into {cache}):\n"
                f"{done.stdout}\n{done.stderr}",
                pytrace=False,
            )
        os.replace(downloaded, wheel)
    return wheel


def _parse_sample(
    text: str,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.datetime64], npt.NDArray[np.float64]]:
    # Columns: master id, sample id (1..2357), yyyymmdd, number of CDs, dollar value.
    table = np.loadtxt(io.StringIO(text), dtype=np.float64)
    ymd = table[:, 2].astype(np.int64)
    months = np.datetime64("1970-01") + (
        (ymd // 10000 - 1970) * 12 + (ymd // 100 % 100 - 1)
    ).astype("timedelta64[M]")
    dates = months.astype("datetime64[D]") + (ymd % 100 - 1).astype("timedelta64[D]")
    return table[:, 1].astype(np.int64), dates, table[:, 4]


@pytest.fixture(scope="session")
def cdnow() -> CDNOW:
    with zipfile.ZipFile(_wheel_path()) as wheel:
        sample = wheel.read(SAMPLE).decode("ascii")
        summary = wheel.read(SUMMARY).decode("ascii")
    ids, dates, amounts = _parse_sample(sample)
    published = np.loadtxt(io.StringIO(summary), delimiter=",", skiprows=1, dtype=np.float64)
    return CDNOW(customer_ids=ids, dates=dates, amounts=amounts, published_summary=published)
