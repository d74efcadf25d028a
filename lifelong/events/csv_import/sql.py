"""Database plumbing shared by the importers: staging tables, COPY, and bulk inserts of models.

The set-based SQL of the importers runs on PostgreSQL and SQLite alike; only loading rows
differs (COPY on PostgreSQL, executemany on SQLite) and the JSON functions, which
`json_sql` names per database.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.backends.utils import CursorWrapper
from django.db.models import Field, JSONField, Model
from psycopg import sql as pg_sql

from lifelong.events.models import Event


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

    def load(self, cursor: CursorWrapper, rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert rows given in column order: COPY on PostgreSQL, executemany elsewhere."""
        names = ", ".join(name for name, _kind in self.columns)
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {self.name} ({names}) FROM STDIN") as copy:
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


def bulk_insert(objs: Sequence[Model]) -> None:
    """bulk_create, through COPY on PostgreSQL; sets the primary keys on the objects.

    Django's multi-row INSERT on PostgreSQL spends most of its time quoting parameters in
    Python; COPY with keys taken from the sequence beforehand is several times faster.
    """
    if not objs:
        return
    model = type(objs[0])
    if connection.vendor != "postgresql":
        model._default_manager.bulk_create(objs)
        return
    meta = model._meta
    fields = list(meta.concrete_fields)
    json_fields = {f.attname for f in fields if isinstance(f, JSONField)}
    attnames = [f.attname for f in fields]
    statement = pg_sql.SQL("COPY {} ({}) FROM STDIN").format(
        pg_sql.Identifier(meta.db_table),
        pg_sql.SQL(", ").join(pg_sql.Identifier(f.column) for f in fields),
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [meta.db_table, meta.pk.column, len(objs)],
        )
        for obj, (pk,) in zip(objs, cursor.fetchall(), strict=True):
            obj.pk = pk
            obj._state.adding = False
            obj._state.db = connection.alias
        with cursor.cursor.copy(statement) as copy:
            for obj in objs:
                copy.write_row(
                    [
                        json.dumps(getattr(obj, name))
                        if name in json_fields
                        else getattr(obj, name)
                        for name in attnames
                    ]
                )


def events_insert(events: Iterable[Event]) -> None:
    """Insert events, skipping idempotency keys already recorded (by the API or an earlier run).

    A key recorded concurrently makes the insert fail; the batch then runs again.
    """
    events = list(events)
    keys = [e.idempotency_key for e in events if e.idempotency_key]
    seen = set(
        Event.objects.filter(idempotency_key__in=keys).values_list("idempotency_key", flat=True)
    )
    fresh = []
    for event in events:
        if event.idempotency_key:
            if event.idempotency_key in seen:
                continue
            seen.add(event.idempotency_key)
        fresh.append(event)
    bulk_insert(fresh)
