"""UPDATE ... FROM, the set-based statement the ORM cannot spell.

The SELECT is always an ORM queryset compiled by Django (so parameters stay bound);
only the wrapping statement is written here. It runs on PostgreSQL and on
SQLite >= 3.33.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import connection
from django.db.models import Model, QuerySet


def update_from(
    model: type[Model],
    *,
    key: str,
    select: QuerySet[Any, Any],
    select_key: str,
    columns: Mapping[str, str],
) -> int:
    """Set `columns` (target column -> select alias) where the joined row differs.

    Rows whose values already equal the select's are left alone, so an unchanged
    customer costs no write and no dead tuple.
    """
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    sql, params = select.query.sql_with_params()
    assignments = ", ".join(f"{quote(c)} = s.{quote(a)}" for c, a in columns.items())
    differs = " OR ".join(
        f"{table}.{quote(c)} IS NULL OR {table}.{quote(c)} <> s.{quote(a)}"
        for c, a in columns.items()
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {assignments} FROM ({sql}) AS s "  # noqa: S608 - names only
            f"WHERE {table}.{quote(key)} = s.{quote(select_key)} AND ({differs})",
            params,
        )
        return cursor.rowcount
