"""Recording events. Every fact about a customer ends up as an Event row, written here.

`event_record` appends one; `events_record` appends a batch of rows built in memory;
`events_record_from` appends what a SELECT yields, for sweeps that work set-based in SQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.db import IntegrityError, connection, transaction

from lifelong import clock
from lifelong.customers.models import Customer
from lifelong.events.models import Event
from lifelong.lib.bulk import bulk_insert

# Keys looked up per query: SQLite allows a few thousand parameters at most.
KEY_CHUNK = 2000
# What a SELECT given to `events_record_from` returns, in this order.
SELECTED_COLUMNS = ("customer_id", "type", "properties", "occurred_at", "received_at", "source")


def event_record(
    *,
    customer: Customer | None,
    type: str,
    properties: dict[str, Any] | None = None,
    occurred_at: dt.datetime | None = None,
    source: str = "",
    idempotency_key: str | None = None,
) -> tuple[Event, bool]:
    """Append an event; with an idempotency key a replay returns the first one.

    Returns (event, created).
    """
    now = clock.now()
    event = Event(
        customer=customer,
        type=type,
        properties=properties or {},
        occurred_at=occurred_at or now,
        received_at=now,
        source=source,
        idempotency_key=idempotency_key or None,
    )
    if not idempotency_key:
        # Nothing can collide, so no savepoint is needed.
        event.save(force_insert=True)
        return event, True
    existing = Event.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            event.save(force_insert=True)
    except IntegrityError:
        # A concurrent request with the same key won the race.
        return Event.objects.get(idempotency_key=idempotency_key), False
    return event, True


def events_record(events: Iterable[Event]) -> None:
    """Append unsaved events in bulk, skipping idempotency keys already recorded.

    A key recorded concurrently makes the insert fail; the caller's batch then runs again.
    """
    events = list(events)
    keys = [e.idempotency_key for e in events if e.idempotency_key]
    seen: set[str | None] = set()
    for start in range(0, len(keys), KEY_CHUNK):
        chunk = keys[start : start + KEY_CHUNK]
        seen.update(
            Event.objects.filter(idempotency_key__in=chunk).values_list(
                "idempotency_key", flat=True
            )
        )
    fresh = []
    for event in events:
        if event.idempotency_key:
            if event.idempotency_key in seen:
                continue
            seen.add(event.idempotency_key)
        fresh.append(event)
    bulk_insert(fresh)


def events_record_from(
    select: str,
    params: Sequence[Any] | Mapping[str, Any],
    *,
    keyed: bool = False,
    order_by: str = "",
) -> int:
    """Append the events a SELECT returns (columns as SELECTED_COLUMNS); returns how many.

    `keyed`: the SELECT also returns an idempotency_key column, and a key recorded before
    (by the API, or an earlier run) is skipped. The SELECT's columns are then taken by name,
    so it may return more, for `order_by` (the order the events get their ids in).

    Recorded keys are left out by an anti-join, not per-row conflict handling (speculative
    inserts cost PostgreSQL a lock and a WAL record per row). The unique constraint stays
    the last guard: a key recorded concurrently makes the insert fail with IntegrityError,
    and the caller runs its transaction again.
    """
    table = Event._meta.db_table
    if not keyed:
        columns = ", ".join(SELECTED_COLUMNS)
        insert = f"INSERT INTO {table} ({columns}) {select}"
    else:
        names = [*SELECTED_COLUMNS, "idempotency_key"]
        columns = ", ".join(names)
        taken = ", ".join(f"keyed.{name}" for name in names)
        insert = (
            f"INSERT INTO {table} ({columns}) SELECT {taken} FROM ({select}) AS keyed "  # noqa: S608
            f"WHERE NOT EXISTS (SELECT 1 FROM {table} e "
            "WHERE e.idempotency_key = keyed.idempotency_key)"
        )
        if order_by:
            insert += f" ORDER BY {order_by}"
    with connection.cursor() as cursor:
        cursor.execute(insert, params)
        return int(cursor.rowcount)
