"""Import jobs: storing an upload, claiming it once, running it in batches, finishing it.

A file is stored under VAR_DIR/imports and an ImportJob row tracks it. A background
thread (or the `imports.run_pending` sweep, for a job nobody started) processes it in
batches; each batch is one transaction, so a crash loses at most the batch in flight, and
the idempotency of every write makes running a file again safe.
"""

from __future__ import annotations

import codecs
import datetime as dt
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from lifelong import clock
from lifelong.accounts.models import User
from lifelong.accounts.services import audit_record
from lifelong.commerce.summaries import summaries_refresh_pending
from lifelong.events.csv_import.customers import CustomersBatch
from lifelong.events.csv_import.layout import ImportFileError, Layout
from lifelong.events.csv_import.orders import OrdersBatch
from lifelong.events.csv_import.products import products_batch
from lifelong.events.csv_import.reading import (
    READ_ERRORS,
    defective_split,
    grouped,
    last_rows,
    layout_read,
    prefetched,
)
from lifelong.events.csv_import.tally import Context, Group, Tally
from lifelong.events.models import ImportJob, ImportKind, ImportStatus
from lifelong.lib.csv_files import csv_open
from lifelong.segments.services import segments_refresh_all

log = logging.getLogger(__name__)

# Rows per batch (one transaction). Orders are written by set-based SQL whose fixed cost
# per statement (on PostgreSQL a hash of the customers and orders by their external ids)
# is amortised over large batches: 50,000 took the resolving pass from 2.8 s to 1.7 s at
# 200,000 rows (bench/README.md). Customers and products build model instances and keep
# smaller ones.
BATCH_ROWS: dict[str, int] = {
    ImportKind.CUSTOMERS: 5000,
    ImportKind.ORDERS: 50_000,
    ImportKind.PRODUCTS: 5000,
}
# Tries of a batch that collided with keys another writer created at the same moment.
BATCH_ATTEMPTS = 3
# Nothing is written while the first batch is read and parsed: a small first batch gets the
# database working sooner; from the second on, reading overlaps writing.
FIRST_BATCH_ROWS = 2500
# The report keeps every rejected row up to this many; a file that bad needs fixing first.
MAX_STORED_ERRORS = 100_000
# The thread started by import_job_start normally takes a job at once; the sweep leaves
# it that long before picking the job up itself.
START_GRACE = dt.timedelta(seconds=30)
# A runner writes the job's heartbeat after every batch, and a batch takes seconds. A job
# silent this long has lost its runner (a restart, a crash): the sweep runs it again from
# the start, which is safe because every write is idempotent.
STALE_AFTER = dt.timedelta(minutes=5)


# Files people upload by mistake: a zip (xlsx, ods), an OLE2 compound file (xls), a PDF.
BINARY_SIGNATURES = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", b"%PDF")


def _mostly_nul(start: bytes) -> bool:
    """Binary data, or UTF-16 without its byte-order mark (which we cannot tell from binary).

    A text file with a stray NUL byte is still read: that row is reported.
    """
    return start.count(b"\x00") * 10 > len(start) and not start.startswith(
        (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
    )


class JobTakenOver(Exception):
    """The sweep gave this runner's job to another runner, which now owns it."""


class BatchHandler(Protocol):
    """Imports one kind of file, a batch at a time; built once per job."""

    def prepare(self, groups: list[Group]) -> Any:
        """Python-only work on a batch (parsing, checks); runs in the reading thread."""

    def write(self, prepared: Any, ctx: Context) -> Tally:
        """The database work for a prepared batch, in one transaction; may run twice."""


class GroupsBatch:
    """A handler that does all its work in `write`, on the batch's groups."""

    def __init__(self, write: Callable[[list[Group], Context], Tally]) -> None:
        self.write = write

    def prepare(self, groups: list[Group]) -> list[Group]:
        return groups


HANDLERS: dict[str, Callable[[Layout, ZoneInfo], BatchHandler]] = {
    ImportKind.CUSTOMERS: CustomersBatch,
    ImportKind.ORDERS: OrdersBatch,
    ImportKind.PRODUCTS: lambda layout, tz: GroupsBatch(products_batch),
}


def import_job_create(
    *, kind: str, file_name: str, content: bytes, dry_run: bool, created_by: User | None
) -> ImportJob:
    """Store an uploaded file and queue its import.

    Raises ImportFileError, with a message for the person who sent it, for a file we cannot take.
    """
    if kind not in ImportKind.values:
        raise ImportFileError(_("Unknown import kind: %(kind)s") % {"kind": kind})
    if not content.strip():
        raise ImportFileError(_("The file is empty."))
    if content.startswith(BINARY_SIGNATURES) or _mostly_nul(content[:8192]):
        raise ImportFileError(
            _("This is not a CSV file (an Excel workbook?). Save it as CSV and upload again.")
        )
    directory = settings.VAR_DIR / "imports"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{uuid.uuid4().hex}.csv"
    path.write_bytes(content)
    try:
        layout_read(path, kind)
    except ImportFileError:
        path.unlink(missing_ok=True)
        raise
    return ImportJob.objects.create(
        kind=kind,
        file_name=file_name[:255],
        file_path=str(path),
        dry_run=dry_run,
        created_by=created_by,
    )


def import_job_start(job: ImportJob) -> None:
    """Run the job in a background thread once the current transaction commits."""
    job_id = job.pk

    def start() -> None:
        threading.Thread(
            target=_run_in_thread, args=(job_id,), name=f"import-{job_id}", daemon=True
        ).start()

    transaction.on_commit(start)


def _run_in_thread(job_id: int) -> None:
    try:
        import_job_run(job_id)
    finally:
        connection.close()


def _claim(job_id: int, *, stale_before: dt.datetime | None = None) -> ImportJob | None:
    """Move the job pending -> running (or take over a running one whose heartbeat is older
    than `stale_before`); only one caller ever wins, and gets the job."""
    claimable = Q(status=ImportStatus.PENDING)
    if stale_before is not None:
        claimable |= Q(status=ImportStatus.RUNNING, heartbeat_at__lt=stale_before)
    now = clock.now()
    claimed = ImportJob.objects.filter(claimable, pk=job_id).update(
        status=ImportStatus.RUNNING,
        started_at=now,
        heartbeat_at=now,
        processed_rows=0,
        created_rows=0,
        updated_rows=0,
        unchanged_rows=0,
        rejected_rows=0,
    )
    return ImportJob.objects.get(pk=job_id) if claimed else None


def import_job_run(
    job_id: int, *, progress: Callable[[ImportJob], None] | None = None
) -> ImportJob:
    """Claim a pending job and process it; a job someone else claimed is returned untouched.

    `progress` is called with the job after every batch (the CLI draws its bar with it).
    """
    job = _claim(job_id)
    if job is None:
        return ImportJob.objects.get(pk=job_id)
    _job_process(job, progress)
    return job


def _job_process(job: ImportJob, progress: Callable[[ImportJob], None] | None) -> None:
    path = Path(job.file_path)
    try:
        tally, notes = _job_batches(job, path, progress)
        if not job.dry_run and job.kind == ImportKind.ORDERS:
            # The batches queued their customers: one set-based refresh brings the summaries
            # up to date before the job says it is done (and before the segments read them).
            # Should it fail, they stay queued for the commerce.summaries_refresh sweep.
            summaries_refresh_pending()
    except JobTakenOver:
        log.warning("import_taken_over", extra={"job_id": job.pk})
        return
    except READ_ERRORS as exc:
        _job_finish(
            job, ImportStatus.FAILED, _("The file could not be read: %(error)s") % {"error": exc}
        )
        return
    except Exception:
        log.exception("import_failed", extra={"job_id": job.pk})
        _job_finish(
            job,
            ImportStatus.FAILED,
            _("The import stopped on an unexpected error; batches before it were saved."),
        )
        return
    if job.created_by is not None and not job.dry_run:
        audit_record(
            actor=job.created_by,
            action="import.run",
            obj=job,
            changes={
                "kind": job.kind,
                "file": job.file_name,
                "created": tally.created,
                "updated": tally.updated,
                "rejected": tally.rejected,
            },
        )
    _job_finish(job, ImportStatus.DONE, _job_message(job, tally, notes))
    if not job.dry_run and (tally.created or tally.updated) and job.kind != ImportKind.PRODUCTS:
        # One full pass over the segments is cheaper than re-evaluating them per batch.
        segments_refresh_all()


def _job_batches(
    job: ImportJob, path: Path, progress: Callable[[ImportJob], None] | None
) -> tuple[Tally, list[str]]:
    """Import the file batch by batch; the tally, and notes on the file for the report."""
    layout, encoding = layout_read(path, job.kind)
    key_index = layout.key_index
    job.total_rows, last_row = last_rows(path, encoding, key_index)
    _job_beat(job, total_rows=job.total_rows)
    if progress is not None:
        progress(job)

    tz = ZoneInfo(settings.TIME_ZONE)
    handler = HANDLERS[job.kind](layout, tz)
    size = BATCH_ROWS[job.kind]

    def batches() -> Iterator[tuple[int, Any, Tally]]:
        with csv_open(path, encoding=encoding) as csv_file:
            for groups in grouped(csv_file.rows, key_index, last_row, size, first=FIRST_BATCH_ROWS):
                count = sum(len(rows) for _key, rows in groups)
                readable, unreadable = defective_split(groups, csv_file.defects, layout, encoding)
                yield count, handler.prepare(readable), unreadable

    tally = Tally()
    for rows, prepared, unreadable in prefetched(batches):
        ctx = Context(layout=layout, dry_run=job.dry_run, now=clock.now())
        tally.add(unreadable)
        tally.add(_batch_run(handler, prepared, ctx, rows))
        job.processed_rows += rows
        job.created_rows, job.updated_rows = tally.created, tally.updated
        job.unchanged_rows, job.rejected_rows = tally.unchanged, tally.rejected
        _job_beat(
            job,
            processed_rows=job.processed_rows,
            created_rows=job.created_rows,
            updated_rows=job.updated_rows,
            unchanged_rows=job.unchanged_rows,
            rejected_rows=job.rejected_rows,
        )
        if progress is not None:
            progress(job)
    job.errors = sorted(tally.errors, key=lambda e: e["row"])[:MAX_STORED_ERRORS]
    notes = layout.warnings()
    if encoding.unrecognised:
        notes.insert(
            0,
            _(
                "Most of this file is neither UTF-8 nor Windows-1251 text: its rows with other "
                "bytes were rejected. Save the file as «CSV UTF-8» and upload it again."
            ),
        )
    return tally, notes


def _job_beat(job: ImportJob, **progress: int) -> None:
    """Store progress and the heartbeat; JobTakenOver if another runner owns the job now."""
    job.heartbeat_at = clock.now()
    mine = ImportJob.objects.filter(
        pk=job.pk, status=ImportStatus.RUNNING, started_at=job.started_at
    ).update(heartbeat_at=job.heartbeat_at, **progress)
    if not mine:
        raise JobTakenOver(job.pk)


def _batch_run(handler: BatchHandler, prepared: Any, ctx: Context, rows: int) -> Tally:
    """One batch in one transaction, tried again if an API call created the same key meanwhile.

    A retry reads what the other writer committed and skips it; only a key created again in
    each attempt's own window could fail every attempt.
    """
    for _attempt in range(BATCH_ATTEMPTS - 1):
        try:
            with transaction.atomic():
                return handler.write(prepared, ctx)
        except IntegrityError:
            log.warning("import_batch_retry", extra={"rows": rows})
    with transaction.atomic():
        return handler.write(prepared, ctx)


def _job_message(job: ImportJob, tally: Tally, notes: list[str]) -> str:
    """The report's message: one line each (dry run, a cut report, notes on the file)."""
    parts = []
    if job.dry_run:
        parts.append(_("Dry run: nothing was written."))
    if tally.rejected > MAX_STORED_ERRORS:
        parts.append(
            _("Only the first %(n)s rejected rows are in the report.") % {"n": MAX_STORED_ERRORS}
        )
    return "\n".join([*parts, *notes])


def _job_finish(job: ImportJob, status: str, message: str) -> None:
    job.status = status
    job.message = message
    job.finished_at = clock.now()
    job.save(
        update_fields=[
            "status",
            "message",
            "finished_at",
            "errors",
            "total_rows",
            "processed_rows",
            "created_rows",
            "updated_rows",
            "unchanged_rows",
            "rejected_rows",
        ]
    )
    # The report lives in `errors`; the stored copy of the upload is no longer needed.
    Path(job.file_path).unlink(missing_ok=True)


def imports_run_pending() -> int:
    """Sweep: run jobs left pending (their starting thread died or never ran) and take over
    running jobs whose runner stopped sending heartbeats."""
    now = clock.now()
    stale_before = now - STALE_AFTER
    due = list(
        ImportJob.objects.filter(
            Q(status=ImportStatus.PENDING, created_at__lte=now - START_GRACE)
            | Q(status=ImportStatus.RUNNING, heartbeat_at__lt=stale_before)
        )
        .order_by("created_at")
        .values_list("pk", flat=True)[:10]
    )
    ran = 0
    for job_id in due:
        job = _claim(job_id, stale_before=stale_before)
        if job is not None:
            _job_process(job, None)
            ran += 1
    return ran
