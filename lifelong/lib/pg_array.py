"""A list as PostgreSQL's text form of a one-dimensional array, for statements that send a
batch as arrays and cast them (`unnest(%s::bigint[], %s::text[])`).

psycopg quotes a list parameter element by element in Python; for the two-thousand-row
batches of the journey engine and the dispatcher that cost about three times as long as
building the one string here, which psycopg then quotes as a single value.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterable
from typing import Any

from django.db import connection
from django.db.models import Q
from django.db.models.expressions import RawSQL


def pg_array(values: Iterable[object]) -> str:
    """`{1,2,NULL}`, `{"a","b \\"c\\""}`: the literal the statement casts to its element type.
    Elements: None (NULL), bool, int, str, datetime (ISO 8601 with its offset); strings are
    quoted and escaped, so any text without NUL (which PostgreSQL's text cannot hold) comes
    back as it went."""
    values = list(values)
    kinds = set(map(type, values))
    # A column of one kind (the usual batch) skips the per-element dispatch.
    form: Callable[[Any], str] = _element
    if kinds == {int}:
        form = str
    elif kinds == {dt.datetime}:
        form = dt.datetime.isoformat
    elif kinds == {str}:
        form = _text
    return "{" + ",".join(map(form, values)) + "}"


def _text(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _element(value: object) -> str:
    if value is None:
        return "NULL"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, str):
        return _text(value)
    raise TypeError(f"no array element form for {type(value).__name__}")


def in_values(field: str, values: Collection[object], *, sql_type: str = "bigint") -> Q:
    """`Q(field__in=values)`, with the values sent as one array on PostgreSQL. Django
    prepares and quotes an IN list value by value; for a batch of thousands of ids or keys
    that took longer than the query itself."""
    if connection.vendor != "postgresql":
        return Q(**{f"{field}__in": values})
    subquery = RawSQL(f"SELECT unnest(%s::{sql_type}[])", [pg_array(values)])  # noqa: S611
    return Q(**{f"{field}__in": subquery})
