"""Concurrent writers never record an order's event twice: the import skips recorded keys by
an anti-join, the unique constraints stay the last guard, and a batch that collides with a
writer that committed meanwhile runs again and finds its rows."""

from __future__ import annotations

import datetime as dt
import threading
import time
from decimal import Decimal

import pytest
from django.db import connection, transaction

from lifelong.commerce.models import Order, SummaryPending
from lifelong.commerce.services import order_upsert
from lifelong.customers.models import Customer
from lifelong.events.csv_import import import_job_create, import_job_run
from lifelong.events.models import Event, ImportJob, ImportStatus
from lifelong.events.tests.csv_helpers import MSK

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("var_dir"),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="SQLite runs one writer at a time"
    ),
]

FILE = (
    "order_id;customer_id;placed_at;status;sku;price\n"
    + "".join(f"S-{i};C-{i % 3};2025-01-0{1 + i % 5};paid;A;{100 + i}\n" for i in range(20))
).encode()


def _blocked_backends() -> int:
    with connection.cursor() as cursor:
        # Within a transaction PostgreSQL keeps showing the first look at the activity.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT COUNT(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return int(cursor.fetchone()[0])


def test_two_imports_and_an_api_call_at_once_record_each_event_once(frozen_time):
    customers = [Customer.objects.create(external_id=f"C-{i}") for i in range(3)]
    jobs = [
        import_job_create(
            kind="orders", file_name="orders.csv", content=FILE, dry_run=False, created_by=None
        )
        for _ in range(2)
    ]

    def run(job: ImportJob) -> None:
        try:
            import_job_run(job.pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    # The API records one of the file's orders and holds its transaction open while both
    # imports insert the same order: they wait on its key, then collide when it commits.
    with transaction.atomic():
        order_upsert(
            external_id="S-7",
            customer=customers[1],
            total=Decimal("107.00"),
            placed_at=dt.datetime(2025, 1, 3, tzinfo=MSK),
            status="paid",
        )
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 120
        while _blocked_backends() < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _blocked_backends() >= 2, "both imports wait on the API's transaction"
    for thread in threads:
        thread.join(timeout=300)

    for job in jobs:
        job.refresh_from_db()
        assert job.status == ImportStatus.DONE, job.message
    keys = list(Event.objects.filter(type__startswith="order_").values_list("idempotency_key"))
    assert len(keys) == len(set(keys)) == 40  # placed and paid, once each, for 20 orders
    assert Order.objects.count() == 20
    assert not SummaryPending.objects.exists()
    for customer in customers:
        customer.refresh_from_db()
        assert customer.orders_count == Order.objects.filter(customer=customer).count()
