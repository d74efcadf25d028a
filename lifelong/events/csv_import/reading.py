"""Reading an import file: its layout, and its rows in batches of whole groups."""

from __future__ import annotations

import csv
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from django.utils import translation
from django.utils.translation import gettext as _

from lifelong.events.csv_import.layout import ImportFileError, Layout
from lifelong.events.csv_import.tally import Group, RowError, Rows, Tally
from lifelong.lib.csv_files import (
    CsvReadError,
    Defect,
    RowDefect,
    TextEncoding,
    csv_open,
)

T = TypeVar("T")
READ_ERRORS = (ImportFileError, CsvReadError, csv.Error, OSError)


def layout_read(path: Path, kind: str) -> tuple[Layout, TextEncoding]:
    """The file's layout and encoding; ImportFileError for a file we cannot take."""
    try:
        with csv_open(path) as csv_file:
            if csv_file.header_defect is not None:
                _column, reason = defect_reason(
                    csv_file.header_defect,
                    header=csv_file.header,
                    row=csv_file.header_row,
                    encoding=csv_file.encoding,
                )
                raise ImportFileError(
                    _("Row %(row)s, the header, cannot be read: %(reason)s.")
                    % {"row": csv_file.header_row, "reason": reason}
                )
            layout = Layout.from_header(kind, csv_file.header, row=csv_file.header_row)
            return layout, csv_file.encoding
    except (CsvReadError, csv.Error) as exc:
        raise ImportFileError(
            _("The file cannot be read as CSV: %(error)s") % {"error": exc}
        ) from exc


def defect_reason(
    defect: RowDefect, *, header: list[str], row: int, encoding: TextEncoding
) -> tuple[str, str]:
    """The column (its header) and the reason to report for a row that could not be read."""
    position = defect.column
    column = header[position] if position < len(header) else ""
    number = position + 1
    if defect.defect is Defect.UNDECODABLE:
        reason = _("bytes that are not valid %(encoding)s in column %(column)s") % {
            "encoding": encoding.label,
            "column": number,
        }
    elif defect.defect is Defect.NUL:
        reason = _("a NUL character in column %(column)s (a damaged file?)") % {"column": number}
    elif defect.defect is Defect.UNCLOSED_QUOTE:
        reason = _(
            "unclosed quote starting at row %(row)s, column %(column)s: the quoted cell ran on "
            "over %(lines)s more lines; they were read again as rows of their own"
        ) % {"row": row, "column": number, "lines": defect.lines}
    else:
        reason = _("a cell longer than %(limit)s characters in column %(column)s") % {
            "limit": f"{csv.field_size_limit():,}".replace(",", " "),
            "column": number,
        }
    return column, reason


def defective_split(
    groups: list[Group], defects: dict[int, RowDefect], layout: Layout, encoding: TextEncoding
) -> tuple[list[Group], Tally]:
    """The groups without unreadable rows, and the others rejected (every row of them).

    `defects` is the reader's record of unreadable rows; those handled are removed from it.
    """
    rejected = Tally()
    if not defects:
        return groups, rejected
    clean: list[Group] = []
    for key, rows in groups:
        failures: dict[int, RowError] = {}
        for number, _cells in rows:
            defect = defects.pop(number, None)
            if defect is not None:
                column, reason = defect_reason(
                    defect, header=layout.header, row=number, encoding=encoding
                )
                failures[number] = RowError(column, reason)
        if failures:
            rejected.reject_group(layout, rows, failures)
        else:
            clean.append((key, rows))
    return clean, rejected


def last_rows(path: Path, encoding: TextEncoding, key_index: int) -> tuple[int, dict[str, int]]:
    """The number of data rows, and the number of each key's last row."""
    last_row: dict[str, int] = {}
    total = 0
    with csv_open(path, encoding=encoding) as csv_file:
        for number, cells in csv_file.rows:
            total += 1
            key = cells[key_index]
            if key:
                last_row[key] = number
    return total, last_row


def grouped(
    rows: Iterable[tuple[int, list[str]]],
    key_index: int,
    last_row: Mapping[str, int],
    size: int,
    *,
    first: int | None = None,
) -> Iterator[list[Group]]:
    """Batches of about `size` rows (the first of about `first`) in which every key's rows
    are together.

    A group is complete at its key's last row in the file (found by `last_rows`), so an
    order whose lines are scattered through the file is still written once, whole.
    """
    pending: dict[str, Rows] = {}
    ready: list[Group] = []
    count = 0
    limit = min(size, first) if first else size
    for number, cells in rows:
        key = cells[key_index]
        if not key:
            ready.append(("", [(number, cells)]))
            count += 1
        else:
            group = pending.get(key)
            if group is None:
                group = pending[key] = []
            group.append((number, cells))
            if last_row[key] == number:
                ready.append((key, pending.pop(key)))
                count += len(group)
        if count >= limit:
            yield ready
            ready, count, limit = [], 0, size
    if ready:
        yield ready


def prefetched(items: Callable[[], Iterator[T]]) -> Iterator[T]:
    """The items of `items()`, produced in a helper thread one item ahead of the consumer.

    While the database works on one batch (psycopg waits without holding the GIL), the
    next one is read and parsed: on two cores that hides most of the Python time. The
    producer must not touch the database. Its exceptions are raised here, in order.
    """
    language = translation.get_language()
    channel: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def send(message: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                channel.put(message, timeout=0.1)
            except queue.Full:
                continue
            return True
        return False

    def produce() -> None:
        try:
            # Reasons for rejected rows are written in the language of the job's caller.
            with translation.override(language):
                for item in items():
                    if not send(("item", item)):
                        return
        except BaseException as exc:  # handed over to the consumer, which raises it
            send(("error", exc))
            return
        send(("end", None))

    thread = threading.Thread(target=produce, name="import-reader", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = channel.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        thread.join()
