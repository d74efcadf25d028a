"""Set-based statements the ORM cannot spell: UPDATE ... FROM, INSERT ... SELECT, scratch tables.

The SELECTs are ORM querysets compiled by Django (so parameters stay bound); only the
wrapping statements are written here. They run on PostgreSQL and on SQLite >= 3.39
(UPDATE FROM, window functions, IS DISTINCT FROM).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Model, QuerySet


def quote(name: str) -> str:
    return str(connection.ops.quote_name(name))


def table_of(model: type[Model]) -> str:
    return quote(model._meta.db_table)


def compiled(select: QuerySet[Any, Any]) -> tuple[str, tuple[Any, ...]]:
    sql, params = select.query.sql_with_params()
    return sql, tuple(params)


def db_datetime(value: dt.datetime) -> Any:
    """A datetime as the backend stores it (SQLite keeps naive UTC text), for raw parameters."""
    return connection.ops.adapt_datetimefield_value(value)


def json_object(*pairs: tuple[str, str]) -> str:
    """SQL building a JSON object from (key, SQL expression) pairs; keys are literals of ours."""
    function = "jsonb_build_object" if connection.vendor == "postgresql" else "json_object"
    arguments = ", ".join(f"'{key}', {expression}" for key, expression in pairs)
    return f"{function}({arguments})"


def execute(sql: str, params: Sequence[Any] = ()) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


def fetch(sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def update_from(
    model: type[Model],
    *,
    key: str,
    select: QuerySet[Any, Any] | str,
    select_key: str,
    columns: Mapping[str, str],
    params: Sequence[Any] = (),
) -> int:
    """Set `columns` (target column -> select alias) where the joined row differs.

    `select` is a queryset, or SQL text: a scratch table's name or a parenthesised
    SELECT. Rows whose values already
    equal the select's are left alone, so an unchanged customer costs no write, no row
    lock and no dead tuple.
    """
    table = table_of(model)
    if isinstance(select, str):
        source = select
    else:
        sql, params = compiled(select)
        source = f"({sql})"
    assignments = ", ".join(f"{quote(c)} = s.{quote(a)}" for c, a in columns.items())
    differs = " OR ".join(
        f"{table}.{quote(c)} IS DISTINCT FROM s.{quote(a)}" for c, a in columns.items()
    )
    return execute(
        f"UPDATE {table} SET {assignments} FROM {source} AS s "  # noqa: S608 - names only
        f"WHERE {table}.{quote(key)} = s.{quote(select_key)} AND ({differs})",
        params,
    )


def insert_select(table: str, columns: str, select: QuerySet[Any, Any]) -> int:
    """INSERT INTO table (columns) <select>; returns the number of rows inserted."""
    try:
        sql, params = compiled(select)
    except EmptyResultSet:
        # Django refuses to compile a WHERE that can never hold ("pk IN ()").
        return 0
    return execute(f"INSERT INTO {table} ({columns}) {sql}", params)


@contextlib.contextmanager
def scratch_table(name: str, columns: str) -> Iterator[str]:
    """A temporary table for the duration of a block (inside the caller's transaction).

    Dropped explicitly at the end rather than ON COMMIT, so a sweep can run twice in
    one transaction (tests do). After an error the caller's rollback removes it (the
    CREATE is transactional on both backends); a DROP there would fail on PostgreSQL's
    aborted transaction and hide the real error.
    """
    table = quote(name)
    execute(f"DROP TABLE IF EXISTS {table}")
    execute(f"CREATE TEMPORARY TABLE {table} ({columns})")
    yield table
    execute(f"DROP TABLE {table}")


# Whole-table sweeps sort and hash a million rows; PostgreSQL's default 4 MB per
# operation would spill them to disk. Only for the sweep's own transaction.
SWEEP_WORK_MEM = "256MB"


def sweep_memory() -> None:
    """Give the current transaction's sorts and hashes room (PostgreSQL; a no-op elsewhere)."""
    if connection.vendor == "postgresql":
        execute(f"SET LOCAL work_mem = '{SWEEP_WORK_MEM}'")


def analyze(table: str) -> None:
    """Fresh statistics for a scratch table: PostgreSQL plans joins on it blind otherwise."""
    if connection.vendor == "postgresql":
        execute(f"ANALYZE {table}")


COPY_ROWS = 200_000


def scratch_fill(
    table: str, ids: npt.NDArray[np.int64], columns: Sequence[npt.NDArray[Any]]
) -> None:
    """Load (id, float, float, ...) rows from NumPy arrays into a scratch table.

    PostgreSQL gets binary COPY built by NumPy (fixed-width rows, so no per-row
    Python; NaN stays NaN and readers turn it into NULL with NULLIF). SQLite gets
    executemany, which binds NaN as NULL.
    """
    floats = [np.asarray(column, dtype=np.float64) for column in columns]
    if connection.vendor != "postgresql":
        # Ids travel as exact floats; the bigint column's integer affinity stores integers.
        rows = np.column_stack([ids.astype(np.float64), *floats]).tolist()
        placeholders = ", ".join(["%s"] * (len(floats) + 1))
        with connection.cursor() as cursor:
            for start in range(0, len(rows), COPY_ROWS):
                cursor.executemany(
                    f"INSERT INTO {table} VALUES ({placeholders})",  # noqa: S608 - names only
                    rows[start : start + COPY_ROWS],
                )
        return
    layout = [("fields", ">i2"), ("id_size", ">i4"), ("id", ">i8")]
    for n in range(len(floats)):
        layout += [(f"size{n}", ">i4"), (f"value{n}", ">f8")]
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} FROM STDIN WITH (FORMAT binary)") as copy,
    ):
        copy.write(b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big"))
        for start in range(0, ids.shape[0], COPY_ROWS):
            stop = min(start + COPY_ROWS, ids.shape[0])
            block = np.empty(stop - start, dtype=layout)
            block["fields"] = len(floats) + 1
            block["id_size"] = 8
            block["id"] = ids[start:stop]
            for n, column in enumerate(floats):
                block[f"size{n}"] = 8
                block[f"value{n}"] = column[start:stop]
            copy.write(block.tobytes())
        copy.write((-1).to_bytes(2, "big", signed=True))
