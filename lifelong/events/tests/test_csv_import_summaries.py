"""Customer summaries after an orders import: refreshed once at its end from a durable queue.

Each batch queues the customers it touched in its own transaction, so a crash between
batches leaves them queued and a later sweep refreshes them; after any import the
summaries equal a recomputation from the orders; a replay of the same file changes nothing.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifelong.commerce.models import Order, OrderLine, OrderStatus, SummaryPending
from lifelong.commerce.services import UNCOUNTED_STATUSES, order_upsert
from lifelong.customers.models import Customer
from lifelong.customers.services import customer_merge
from lifelong.events.csv_import import import_job_create, import_job_run, jobs
from lifelong.events.models import Event, ImportJob, ImportStatus
from lifelong.events.tests.csv_helpers import MSK, counts, run
from lifelong.factories import CustomerFactory
from lifelong.jobs.sweeps import sweep_by_name

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("var_dir")]

HEAD = "order_id;customer_id;placed_at;status;sku;quantity;price\n"
STATUS_WORDS = {
    OrderStatus.PLACED: "placed",
    OrderStatus.PAID: "paid",
    OrderStatus.DELIVERED: "delivered",
    OrderStatus.CANCELLED: "cancelled",
    OrderStatus.REFUNDED: "refunded",
}


def recomputed() -> dict[int, tuple[int, Decimal, dt.datetime | None, dt.datetime | None]]:
    """Every customer's summary computed from scratch, in Python, from their orders."""
    summary: dict[int, tuple[int, Decimal, dt.datetime | None, dt.datetime | None]] = {
        pk: (0, Decimal("0"), None, None) for pk in Customer.objects.values_list("pk", flat=True)
    }
    for order in Order.objects.exclude(status__in=UNCOUNTED_STATUSES):
        n, spent, first, last = summary[order.customer_id]
        summary[order.customer_id] = (
            n + 1,
            spent + order.total - order.refunded_total,
            min(first, order.placed_at) if first else order.placed_at,
            max(last, order.placed_at) if last else order.placed_at,
        )
    return summary


def stored() -> dict[int, tuple[int, Decimal, dt.datetime | None, dt.datetime | None]]:
    return {
        pk: (n, spent, first, last)
        for pk, n, spent, first, last in Customer.objects.values_list(
            "pk", "orders_count", "total_spent", "first_order_at", "last_order_at"
        )
    }


def snapshot() -> tuple[list[tuple[object, ...]], ...]:
    """Everything an orders import writes, ids included."""
    return (
        list(Order.objects.order_by("pk").values_list()),
        list(OrderLine.objects.order_by("pk").values_list()),
        list(Event.objects.order_by("pk").values_list()),
        list(Customer.objects.order_by("pk").values_list()),
        list(SummaryPending.objects.order_by("pk").values_list()),
    )


class Crash(BaseException):
    """Stands for the process dying: no handler of the import catches it."""


def test_a_crash_between_batches_leaves_the_touched_customers_queued_for_the_sweep(
    frozen_time, monkeypatch
):
    monkeypatch.setitem(jobs.BATCH_ROWS, "orders", 2)
    anna, boris, vera = (CustomerFactory(external_id=f"C-{i}") for i in range(3))
    text = HEAD + (
        "S-1;C-0;2025-01-01;paid;A;1;100\n"
        "S-2;C-1;2025-01-02;paid;A;2;100\n"
        "S-3;C-2;2025-01-03;paid;A;3;100\n"
    )
    job = import_job_create(
        kind="orders", file_name="orders.csv", content=text.encode(), dry_run=False, created_by=None
    )

    def progress(job: ImportJob) -> None:
        if job.processed_rows:  # the first batch has committed
            raise Crash

    with pytest.raises(Crash):
        import_job_run(job.pk, progress=progress)

    assert set(Order.objects.values_list("external_id", flat=True)) == {"S-1", "S-2"}
    assert set(SummaryPending.objects.values_list("customer_id", flat=True)) == {anna.pk, boris.pk}
    assert stored() != recomputed(), "the batch left the summaries to the end of the import"

    sweep_by_name("commerce.summaries_refresh").load()()

    assert stored() == recomputed()
    assert not SummaryPending.objects.exists()
    anna.refresh_from_db()
    assert (anna.orders_count, anna.total_spent) == (1, Decimal("100.00"))
    vera.refresh_from_db()
    assert vera.orders_count == 0


def test_the_spend_check_counts_orders_queued_by_earlier_batches(frozen_time, monkeypatch):
    """The stored spend is stale until the end; what the queue holds keeps the check exact."""
    monkeypatch.setitem(jobs.BATCH_ROWS, "orders", 1)
    CustomerFactory(external_id="C-1")
    text = HEAD + (
        "N-1;C-1;2025-01-01;paid;A;1;600 000 000 000\n"
        "N-2;C-1;2025-01-02;paid;A;1;500 000 000 000\n"
        "N-3;C-1;2025-01-03;paid;A;1;1000\n"
    )

    job = run("orders", text)

    assert job.status == ImportStatus.DONE, job.message
    assert counts(job) == (2, 0, 0, 1)
    assert job.errors[0]["row"] == 3
    assert Customer.objects.get().total_spent == Decimal("600000001000.00")


@st.composite
def order_files(draw: st.DrawFn) -> list[str]:
    """One to three files of rows for a few orders of a few customers: re-imports change
    statuses, totals, dates and owners; one order in three has two lines."""
    files = []
    for _ in range(draw(st.integers(1, 3))):
        rows = []
        for number in draw(st.lists(st.integers(0, 11), min_size=1, max_size=12, unique=True)):
            customer = draw(st.integers(0, 3))
            day = draw(st.integers(1, 28))
            status = STATUS_WORDS[draw(st.sampled_from(list(STATUS_WORDS)))]
            lines = [
                (draw(st.sampled_from("ABC")), draw(st.integers(1, 3)))
                for _ in range(2 if number % 3 == 0 else 1)
            ]
            for sku, quantity in lines:
                price = draw(st.sampled_from(["10", "99,90", "1 500"]))
                rows.append(
                    f"O-{number};C-{customer};{day:02d}.02.2025;{status};{sku};{quantity};{price}\n"
                )
        files.append(HEAD + "".join(rows))
    return files


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=order_files(), batch=st.integers(1, 6), api_orders=st.integers(0, 3))
def test_summaries_equal_a_recomputation_after_imports_and_a_replay_changes_nothing(
    frozen_time, monkeypatch, files, batch, api_orders
):
    monkeypatch.setitem(jobs.BATCH_ROWS, "orders", batch)
    customers = [Customer.objects.get_or_create(external_id=f"C-{i}")[0] for i in range(4)]
    for i in range(api_orders):
        # Orders the API recorded before, some of which the files then change.
        order_upsert(
            external_id=f"O-{i * 4}",
            customer=customers[i],
            total=Decimal("250.00"),
            placed_at=dt.datetime(2025, 1, 10, tzinfo=MSK),
        )

    for text in files:
        job = run("orders", text)
        assert job.status == ImportStatus.DONE, job.message
        assert stored() == recomputed()
        assert not SummaryPending.objects.exists()

    before = snapshot()
    replay = run("orders", files[-1])
    assert replay.status == ImportStatus.DONE, replay.message
    assert replay.created_rows == replay.updated_rows == 0
    assert snapshot() == before

    Event.objects.all().delete()
    OrderLine.objects.all().delete()
    Order.objects.all().delete()
    Customer.objects.update(orders_count=0, total_spent=0, first_order_at=None, last_order_at=None)
    ImportJob.objects.all().delete()


def test_the_spend_check_sums_a_merged_customers_survivor_exactly(frozen_time):
    survivor = CustomerFactory(external_id="C-1")
    duplicate = CustomerFactory(external_id="C-2")
    order_upsert(
        external_id="OLD",
        customer=survivor,
        total=Decimal("900000000000"),
        placed_at=dt.datetime(2024, 1, 1, tzinfo=MSK),
    )
    customer_merge(primary=survivor, duplicate=duplicate, actor=None)
    text = HEAD + (
        "N-1;C-2;2025-01-01;paid;A;1;60 000 000 000\nN-2;C-2;2025-01-02;paid;A;1;50 000 000 000\n"
    )

    job = run("orders", text)

    assert counts(job) == (1, 0, 0, 1)
    assert job.errors[0]["row"] == 3
    survivor.refresh_from_db()
    assert survivor.total_spent == Decimal("960000000000.00")
