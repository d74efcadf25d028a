"""The report of rejected rows, and `lifelong import` on the command line."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import IO

from django.conf import settings
from django.utils.translation import gettext as _

from lifelong.events.csv_import.jobs import import_job_create, import_job_run
from lifelong.events.csv_import.layout import ImportFileError
from lifelong.events.models import ImportJob, ImportStatus
from lifelong.lib.csv_files import csv_write_safe


def import_report_csv(job: ImportJob) -> str:
    """Rejected rows as CSV: row, column, reason, then the row as it was. Safe to open in Excel."""
    columns: dict[str, None] = {}
    for error in job.errors:
        columns.update(dict.fromkeys(error.get("values", {})))
    header = [_("Row"), _("Column"), _("Reason"), *columns]
    rows = [
        [
            error["row"],
            error["column"],
            error["reason"],
            *(error.get("values", {}).get(c, "") for c in columns),
        ]
        for error in job.errors
    ]
    return csv_write_safe([header, *rows], delimiter=";")


class ProgressBar:
    """A one-line progress bar redrawn in place on a terminal stream."""

    WIDTH = 30

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.started = time.monotonic()

    def update(self, job: ImportJob) -> None:
        filled = self.WIDTH * job.percent // 100
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = job.processed_rows / elapsed
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (self.WIDTH - filled)}] {job.percent:3d}%  "
            f"{job.processed_rows}/{job.total_rows}  {rate:,.0f}/s"
        )
        self.stream.flush()

    def finish(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


def import_file_cli(*, kind: str, path: str, dry_run: bool) -> int:
    """`lifelong import`: run an import in the foreground with a progress bar and a summary."""
    source = Path(path)
    try:
        content = source.read_bytes()
    except OSError as exc:
        print(
            _("Cannot read %(path)s: %(error)s") % {"path": path, "error": exc.strerror},
            file=sys.stderr,
        )
        return 1
    try:
        job = import_job_create(
            kind=kind, file_name=source.name, content=content, dry_run=dry_run, created_by=None
        )
    except ImportFileError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    bar = ProgressBar(sys.stderr)
    job = import_job_run(job.pk, progress=bar.update)
    bar.finish()
    if job.status == ImportStatus.FAILED:
        print(job.message, file=sys.stderr)
        return 1
    print(
        _(
            "%(file)s: %(total)s rows, %(created)s created, %(updated)s updated, "
            "%(unchanged)s unchanged, %(rejected)s rejected."
        )
        % {
            "file": source.name,
            "total": job.total_rows,
            "created": job.created_rows,
            "updated": job.updated_rows,
            "unchanged": job.unchanged_rows,
            "rejected": job.rejected_rows,
        }
    )
    if job.message:
        print(job.message)
    if job.rejected_rows:
        report = _report_write(job, source)
        print(_("Rejected rows and reasons: %(path)s") % {"path": report})
    return 0


def _report_write(job: ImportJob, source: Path) -> Path:
    text = import_report_csv(job)
    target = source.with_name(f"{source.stem}.rejected.csv")
    try:
        # A BOM so that Excel opens the Cyrillic text as UTF-8.
        target.write_text(text, encoding="utf-8-sig", newline="")
    except OSError:
        target = settings.VAR_DIR / "imports" / f"{job.pk}-{source.stem}.rejected.csv"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8-sig", newline="")
    return target
