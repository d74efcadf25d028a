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
from lifelong.events.csv_import.tally import Group, Rows
from lifelong.lib.csv_files import CsvReadError, csv_open

T = TypeVar("T")
READ_ERRORS = (ImportFileError, CsvReadError, UnicodeDecodeError, csv.Error, OSError)


def layout_read(path: Path, kind: str) -> tuple[Layout, str]:
    """The file's layout and encoding; ImportFileError for a file we cannot take."""
    try:
        with csv_open(path) as csv_file:
            return Layout.from_header(kind, csv_file.header), csv_file.encoding
    except (CsvReadError, UnicodeDecodeError, csv.Error) as exc:
        raise ImportFileError(
            _("The file cannot be read as CSV: %(error)s") % {"error": exc}
        ) from exc


def last_rows(path: Path, encoding: str, key_index: int) -> tuple[int, dict[str, int]]:
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
    rows: Iterable[tuple[int, list[str]]], key_index: int, last_row: Mapping[str, int], size: int
) -> Iterator[list[Group]]:
    """Batches of about `size` rows in which every key's rows are together.

    A group is complete at its key's last row in the file (found by `last_rows`), so an
    order whose lines are scattered through the file is still written once, whole.
    """
    pending: dict[str, Rows] = {}
    ready: list[Group] = []
    count = 0
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
        if count >= size:
            yield ready
            ready, count = [], 0
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
