"""What one batch of rows came to: counts, and every rejected row with its reason."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _

from lifelong.events.csv_import.layout import Layout
from lifelong.lib.csv_files import text_shown

Rows = list[tuple[int, list[str]]]
# All rows of one key (customer ID, order number, SKU): written or rejected together.
Group = tuple[str, Rows]


class RowError(Exception):
    def __init__(self, column: str, reason: str) -> None:
        super().__init__(reason)
        self.column = column
        self.reason = reason


class GroupError(Exception):
    """A group with bad rows: {row number: what is wrong with it}."""

    def __init__(self, failures: dict[int, RowError]) -> None:
        super().__init__("group rejected")
        self.failures = failures


@dataclass
class Context:
    """What writing a batch needs besides its rows."""

    layout: Layout
    dry_run: bool
    now: dt.datetime


@dataclass
class Tally:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def reject(
        self, layout: Layout, number: int, cells: list[str], column: str, reason: str
    ) -> None:
        self.rejected += 1
        # Bytes that did not decode, NUL and runaway cells are shown, not stored as they are:
        # the report is JSON in the database and a CSV opened in a spreadsheet.
        self.errors.append(
            {
                "row": number,
                "column": text_shown(column, limit=200),
                "reason": text_shown(reason, limit=500),
                "values": {
                    text_shown(name, limit=200): text_shown(cell)
                    for name, cell in zip(layout.header, cells, strict=False)
                },
            }
        )

    def reject_group(self, layout: Layout, rows: Rows, failures: dict[int, RowError]) -> None:
        """Reject every row of a group: bad ones with their reason, the rest pointing at them."""
        first_bad = min(failures)
        for number, cells in rows:
            failure = failures.get(number)
            if failure is not None:
                self.reject(layout, number, cells, failure.column, failure.reason)
            else:
                reason = _("rejected together with row %(row)s of the same group") % {
                    "row": first_bad
                }
                self.reject(layout, number, cells, "", reason)

    def reject_keyless(self, layout: Layout, rows: Rows, column: str, reason: str) -> None:
        """Rows without a key belong to no group: each is rejected on its own."""
        for number, cells in rows:
            self.reject(layout, number, cells, layout.label(column), reason)

    def add(self, other: Tally) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.rejected += other.rejected
        self.errors.extend(other.errors)
