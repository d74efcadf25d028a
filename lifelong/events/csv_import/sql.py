"""Database plumbing shared by the importers: staging tables loaded by COPY, and JSON SQL.

The set-based SQL of the importers runs on PostgreSQL and SQLite alike; only loading rows
differs (COPY on PostgreSQL, executemany on SQLite) and the JSON functions, which
`json_sql` names per database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.backends.utils import CursorWrapper
from django.db.models import Field, Model


@dataclass(frozen=True)
class StageTable:
    """A temporary table that one batch fills and set-based SQL reads."""

    name: str
    columns: tuple[tuple[str, str], ...]  # (name, SQL type): what `load` fills, in order
    computed: tuple[tuple[str, str], ...] = ()  # filled later by SQL: types with defaults

    def create(self, cursor: CursorWrapper) -> None:
        # Created and dropped inside the batch's transaction: a rolled-back batch leaves
        # nothing behind on either database, and a retried one starts clean.
        columns = ", ".join(f"{name} {kind}" for name, kind in (*self.columns, *self.computed))
        cursor.execute(f"CREATE TEMPORARY TABLE {self.name} ({columns})")

    def drop(self, cursor: CursorWrapper) -> None:
        cursor.execute(f"DROP TABLE {self.name}")

    def load(
        self, cursor: CursorWrapper, rows: Sequence[tuple[Any, ...]], text: bytes | None = None
    ) -> None:
        """Insert rows given in column order: COPY on PostgreSQL, executemany elsewhere.

        `text`: the same rows already in COPY's text format (`copy_text`), used on PostgreSQL.
        """
        names = ", ".join(name for name, _kind in self.columns)
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {self.name} ({names}) FROM STDIN") as copy:
                if text is not None:
                    copy.write(text)
                else:
                    for row in rows:
                        copy.write_row(row)
        elif rows:
            self._insert(cursor, names, rows)

    def _insert(self, cursor: CursorWrapper, names: str, rows: Sequence[tuple[Any, ...]]) -> None:
        adapt = connection.ops.adapt_datetimefield_value
        marks = ", ".join(["%s"] * len(self.columns))
        cursor.executemany(
            f"INSERT INTO {self.name} ({names}) VALUES ({marks})",  # noqa: S608 - names only
            [tuple(adapt(v) if isinstance(v, dt.datetime) else v for v in row) for row in rows],
        )


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def copy_text(rows: Sequence[tuple[Any, ...]]) -> bytes:
    """Rows of str, int, Decimal, aware datetime or None in COPY's text format.

    For a thread other than the one holding the connection: a batch's rows are formatted
    while the database still writes the batch before.
    """
    escapes = _COPY_ESCAPES
    lines = [
        "\t".join(
            "\\N"
            if value is None
            else value.translate(escapes)
            if isinstance(value, str)
            else value.isoformat()
            if isinstance(value, dt.datetime)
            else str(value)
            for value in row
        )
        for row in rows
    ]
    lines.append("")
    return "\n".join(lines).encode()


def db_type(model: type[Model], field_name: str) -> str:
    """The column type the model's field has on this database, for a staging column."""
    field = model._meta.get_field(field_name)
    kind = field.db_type(connection) if isinstance(field, Field) else None
    if kind is None:
        raise TypeError(f"{model.__name__}.{field_name} has no column")
    return kind


def db_datetime(value: dt.datetime) -> Any:
    """A datetime as a raw query parameter (SQLite stores naive UTC text)."""
    return connection.ops.adapt_datetimefield_value(value)


def json_sql(line_table: str) -> dict[str, str]:
    """JSON building blocks for the current database, to format into shared SQL.

    "skus" is the JSON array of order `o`'s SKUs in line order: `s.skus` when the file
    gave the lines (staged as JSON), else those stored.
    """
    if connection.vendor == "postgresql":
        return {
            "object": "jsonb_build_object",
            "skus": "COALESCE(s.skus, (SELECT jsonb_agg(l.sku ORDER BY l.id) "  # noqa: S608
            f"FROM {line_table} l WHERE l.order_id = o.id), '[]'::jsonb)",
        }
    return {
        "object": "json_object",
        # SQLite 3.40 has no ORDER BY inside aggregates; the scan of the order_id index
        # returns an order's lines in id order.
        "skus": "json(COALESCE(s.skus, (SELECT json_group_array(l.sku) "  # noqa: S608
        f"FROM {line_table} l WHERE l.order_id = o.id)))",
    }
