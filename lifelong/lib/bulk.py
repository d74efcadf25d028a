"""Bulk inserts of model rows: COPY on PostgreSQL, a multi-row INSERT elsewhere."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TypeVar

from django.db import connection
from django.db.models import JSONField, Model
from psycopg import sql as pg_sql

M = TypeVar("M", bound=Model)

# Below this many rows one multi-row INSERT is as quick as the sequence read plus COPY.
COPY_FROM = 100


def bulk_insert(objs: Sequence[Model]) -> None:
    """bulk_create, through COPY on PostgreSQL; sets the primary keys on the objects.

    Django's multi-row INSERT on PostgreSQL spends most of its time quoting parameters in
    Python; COPY with keys taken from the sequence beforehand is several times faster.
    """
    if not objs:
        return
    model = type(objs[0])
    if connection.vendor != "postgresql" or len(objs) < COPY_FROM:
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
        # Raised as Django's errors (IntegrityError on a unique key), like bulk_create's.
        with connection.wrap_database_errors, cursor.cursor.copy(statement) as copy:
            for obj in objs:
                copy.write_row(
                    [
                        json.dumps(getattr(obj, name))
                        if name in json_fields
                        else getattr(obj, name)
                        for name in attnames
                    ]
                )


def unsaved(model: type[M], /, **values: Any) -> M:
    """`model(**values)`, built positionally as Django builds the rows it reads: its keyword
    path costs twice as much, which shows when a grouped send builds thousands of rows.

    A relation is given as its object (`customer=`, kept as the cached object) or as its id
    (`customer_id=`); a field not given takes its default.
    """
    related: list[tuple[Any, Model]] = []
    args = []
    for field in model._meta.concrete_fields:
        if field.attname in values:
            args.append(values.pop(field.attname))
        elif field.is_relation and field.name in values:
            target = values.pop(field.name)
            if target is not None:
                related.append((field, target))
            args.append(None if target is None else target.pk)
        else:
            args.append(field.get_default())
    if values:
        raise TypeError(f"{model.__name__} has no field {', '.join(sorted(values))}")
    instance = model(*args)
    for field, target in related:
        field.set_cached_value(instance, target)
    return instance
