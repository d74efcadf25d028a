"""Acceptance: a 600,000-row orders file with a hundred bad rows scattered through it imports
every good row and reports every bad one with its row number and reason.

It takes minutes, so `make test` leaves it out (the slow_import marker is deselected by
default); CI runs it as a step of its own, on SQLite and on PostgreSQL:
`pytest -m slow_import -s` prints the time and the counts.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
from django.db import connection

from lifelong.commerce.models import Order, OrderLine
from lifelong.customers.models import Customer
from lifelong.events.csv_import import import_job_create, import_job_run
from lifelong.events.models import ImportStatus

pytestmark = [pytest.mark.slow_import, pytest.mark.django_db, pytest.mark.usefixtures("var_dir")]

ROWS = 600_000
BAD_ROWS = 100
CUSTOMERS = 100_000
HEADER = "Номер заказа;Клиент;Дата;Статус;Артикул;Товар;Количество;Цена;Сумма;Промокод"
COLUMN = {name: i for i, name in enumerate(HEADER.split(";"))}
STATUSES = ("оплачен", "доставлен", "новый", "отменен")
# One bad cell for a row: (column, bytes). Every limit the database has, and broken bytes.
BAD_CELLS = (
    ("Артикул", b"S" * 65),
    ("Товар", "Т".encode() * 256),
    ("Номер заказа", b"Z" * 129),
    ("Промокод", b"K" * 65),
    ("Сумма", b"1 000 000 000 000"),
    ("Цена", b"999 999 999 999 999,00"),
    ("Количество", b"2147483648"),
    ("Количество", b"0"),
    ("Сумма", b"12a"),
    ("Дата", b"2024-01-01T10:00:00+23:00"),
    ("Дата", b"01.01.0001"),
    ("Дата", b"01.01.3000"),
    ("Клиент", b"NOBODY"),
    ("Товар", b"Ko\x00vrik"),
    ("Товар", "Ков".encode() + b"\xff" + "рик".encode()),
    ("Промокод", b'"SALE'),
)


def orders_file(path: Path, rng: random.Random) -> tuple[set[int], int]:
    """Write the file (one row per order line, 1-4 lines an order): the bad rows' numbers, and
    the number of orders.

    Bad cells go into one-line orders only: a bad row rejects the other rows of its order
    too, and this file is to count exactly the rows that are bad themselves.
    """
    # Not the last row: a quote opened there closes at the end of the file.
    pending = sorted(rng.sample(range(ROWS - 1), BAD_ROWS), reverse=True)
    bad_rows: set[int] = set()
    written = orders = 0
    with path.open("wb") as out:
        out.write(HEADER.encode() + b"\n")
        while written < ROWS:
            orders += 1
            lines = min(rng.choice((1, 1, 2, 3, 4)), ROWS - written)
            bad = bool(pending) and pending[-1] == written
            if bad or (pending and pending[-1] < written + lines):
                lines = 1  # the next bad row starts a one-line order of its own
            prices = [rng.randrange(100, 50_000) for _ in range(lines)]
            head = [
                f"Z{orders:08d}".encode(),
                f"C{rng.randrange(CUSTOMERS):06d}".encode(),
                f"{rng.randrange(1, 29):02d}.{rng.randrange(1, 13):02d}.2024 12:00".encode(),
                rng.choice(STATUSES).encode(),
            ]
            for price in prices:
                cells = [
                    *head,
                    f"SKU-{price % 500:04d}".encode(),
                    "Товар".encode(),
                    b"1",
                    f"{price},00".encode(),
                    f"{sum(prices)},00".encode(),
                    b"",
                ]
                if bad:
                    column, value = BAD_CELLS[len(bad_rows) % len(BAD_CELLS)]
                    cells[COLUMN[column]] = value
                    bad_rows.add(written + 2)  # the header is row 1
                    pending.pop()
                out.write(b";".join(cells) + b"\n")
                written += 1
    return bad_rows, orders


def test_600k_orders_with_100_bad_rows_land_every_good_row_and_name_every_bad_one(tmp_path):
    rng = random.Random(600_000)
    Customer.objects.bulk_create(
        (Customer(external_id=f"C{i:06d}") for i in range(CUSTOMERS)), batch_size=5000
    )
    path = tmp_path / "orders.csv"
    bad_rows, orders = orders_file(path, rng)
    assert len(bad_rows) == BAD_ROWS

    started = time.perf_counter()
    job = import_job_create(
        kind="orders",
        file_name=path.name,
        content=path.read_bytes(),
        dry_run=False,
        created_by=None,
    )
    job = import_job_run(job.pk)
    elapsed = time.perf_counter() - started

    print(
        f"\n{connection.vendor}: {job.total_rows:,} rows in {elapsed:.0f} s "
        f"({job.total_rows / elapsed:,.0f} rows/s): {job.created_rows:,} created, "
        f"{job.rejected_rows} rejected"
    )
    assert job.status == ImportStatus.DONE, job.message
    assert job.total_rows == ROWS
    assert (job.created_rows, job.rejected_rows) == (ROWS - BAD_ROWS, BAD_ROWS)
    assert {error["row"] for error in job.errors} == bad_rows
    assert all(error["reason"] and error["column"] for error in job.errors)
    assert Order.objects.count() == orders - BAD_ROWS
    assert OrderLine.objects.count() == ROWS - BAD_ROWS
