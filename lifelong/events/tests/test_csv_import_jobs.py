"""CSV import jobs: one runner each, the sweep, taking over a stopped runner, batches, the CLI."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from lifelong import clock
from lifelong.commerce.models import Order
from lifelong.events.csv_import import (
    import_file_cli,
    import_job_create,
    import_job_run,
    imports_run_pending,
    jobs,
)
from lifelong.events.csv_import.reading import prefetched
from lifelong.events.models import Event, ImportJob, ImportStatus
from lifelong.events.tests.csv_helpers import counts, run
from lifelong.factories import CustomerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("var_dir")]
ONE_ORDER = b"order_id,customer_id,placed_at,total\nX-1,C-1,2025-01-01,100\n"


def _one_order_job() -> ImportJob:
    """A pending job importing one order of customer C-1."""
    CustomerFactory(external_id="C-1")
    return import_job_create(
        kind="orders", file_name="o.csv", content=ONE_ORDER, dry_run=False, created_by=None
    )


def test_only_one_runner_claims_a_job(frozen_time):
    first = _one_order_job()
    done = import_job_run(first.pk)
    again = import_job_run(first.pk)

    assert done.status == again.status == ImportStatus.DONE
    assert counts(again) == (1, 0, 0, 0)
    assert Event.objects.filter(type="order_placed").count() == 1

    second = import_job_create(
        kind="orders", file_name="o.csv", content=ONE_ORDER, dry_run=False, created_by=None
    )
    ImportJob.objects.filter(pk=second.pk).update(status=ImportStatus.RUNNING)
    untouched = import_job_run(second.pk)
    assert (untouched.status, untouched.processed_rows) == (ImportStatus.RUNNING, 0)


def test_sweep_runs_jobs_left_pending(frozen_time):
    job = _one_order_job()
    assert imports_run_pending() == 0, "a fresh job is left to the thread that starts it"
    frozen_time.shift(dt.timedelta(minutes=1))
    assert imports_run_pending() == 1
    assert imports_run_pending() == 0
    job.refresh_from_db()
    assert (job.status, job.processed_rows, job.percent) == (ImportStatus.DONE, 1, 100)


def test_sweep_takes_over_a_job_whose_runner_stopped(frozen_time):
    job = _one_order_job()
    # A runner claimed the job, did some of it and died.
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportStatus.RUNNING,
        started_at=clock.now(),
        heartbeat_at=clock.now(),
        processed_rows=1,
        unchanged_rows=1,
    )
    frozen_time.shift(dt.timedelta(minutes=2))
    assert imports_run_pending() == 0, "a job with a recent heartbeat is left to its runner"

    frozen_time.shift(dt.timedelta(minutes=10))
    assert imports_run_pending() == 1

    job.refresh_from_db()
    assert job.status == ImportStatus.DONE
    assert counts(job) == (1, 0, 0, 0), "the counts are those of the run that finished"
    assert job.started_at == job.heartbeat_at == clock.now()
    assert Order.objects.filter(external_id="X-1").exists()


def test_rows_of_one_order_group_across_batches(frozen_time, monkeypatch):
    monkeypatch.setitem(jobs.BATCH_ROWS, "orders", 2)
    CustomerFactory(external_id="C-1")
    text = (
        "order_id,customer_id,placed_at,sku,price\n"
        "S-1,C-1,2025-01-01,A,10\n"
        "S-2,C-1,2025-01-02,B,20\n"
        "S-3,C-1,2025-01-03,C,30\n"
        "S-1,C-1,2025-01-01,D,40\n"
    )
    job = run("orders", text)

    assert counts(job) == (4, 0, 0, 0)
    s1 = Order.objects.get(external_id="S-1")
    assert list(s1.lines.order_by("pk").values_list("sku", flat=True)) == ["A", "D"]
    assert s1.total == Decimal("50.00")
    assert Event.objects.get(idempotency_key="order:S-1:placed").properties["skus"] == ["A", "D"]


def test_the_reading_thread_hands_over_its_batches_then_its_error():
    def batches():
        yield 1
        yield 2
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")

    received = prefetched(batches)
    assert [next(received), next(received)] == [1, 2]
    with pytest.raises(UnicodeDecodeError):
        next(received)


def test_cli_prints_progress_summary_and_writes_the_report(frozen_time, tmp_path, capsys):
    CustomerFactory(external_id="C-1")
    source = tmp_path / "orders.csv"
    source.write_text(
        "order_id,customer_id,placed_at,total\nX-1,C-1,2025-01-01,100\nX-2,C-9,2025-01-01,100\n",
        encoding="utf-8",
    )

    code = import_file_cli(kind="orders", path=str(source), dry_run=False)

    out, err = capsys.readouterr()
    assert code == 0
    assert "100%" in err
    assert "2 rows, 1 created, 0 updated, 0 unchanged, 1 rejected" in out
    report = tmp_path / "orders.rejected.csv"
    assert str(report) in out
    assert "C-9" in report.read_text(encoding="utf-8-sig")


def test_cli_returns_1_for_a_missing_or_unusable_file(tmp_path, capsys):
    assert import_file_cli(kind="orders", path=str(tmp_path / "nope.csv"), dry_run=False) == 1
    bad = tmp_path / "bad.csv"
    bad.write_text("what,ever\n1,2\n")
    assert import_file_cli(kind="orders", path=str(bad), dry_run=False) == 1
    assert "missing" in capsys.readouterr().err
