"""CSV downloads from the staff UI, streamed and safe to open in a spreadsheet.

Cells go through `lib.csv_files.safe_cell` (no formula injection). The file starts
with a BOM and separates cells with ";": what Excel with Russian regional settings
opens correctly by double-click.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from django.http import StreamingHttpResponse

from lifelong.lib.csv_files import csv_write_safe

DELIMITER = ";"
ROWS_PER_CHUNK = 1000


def _chunks(rows: Iterable[Sequence[object]]) -> Iterator[str]:
    yield "\ufeff"
    batch: list[Sequence[object]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= ROWS_PER_CHUNK:
            yield csv_write_safe(batch, delimiter=DELIMITER)
            batch = []
    if batch:
        yield csv_write_safe(batch, delimiter=DELIMITER)


def csv_download(rows: Iterable[Sequence[object]], *, filename: str) -> StreamingHttpResponse:
    """A streamed CSV attachment of `rows` (the header is the first row)."""
    response = StreamingHttpResponse(_chunks(rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
