"""The journey engine: `advance_due` moves due enrollments through their graph.

A worker claims a batch of due enrollments (`SKIP LOCKED` on PostgreSQL, so concurrent
workers never take the same row) and walks them inside the claim transaction, in rounds:
the enrollments standing on one node of one version run that node together, with a few
statements for the whole group (engine_rounds.py, group_effects.py, group_sends.py). The
step records (`StepRun`, unique per enrollment, node and visit), the node effects (outbox
rows, tasks, tags, ledger postings) and the new positions commit together or not at all. A
crash re-runs the whole batch; a failing enrollment is set apart by savepoints and retried
later alone.
Nothing here sends: a send node writes an outbox `Message` for `dispatch_due`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from django.db import connection, transaction

from lifelong import clock
from lifelong.customers.models import Customer
from lifelong.journeys.definition import Definition
from lifelong.journeys.engine_rounds import STATE_FIELDS, Batch
from lifelong.journeys.models import (
    Enrollment,
    EnrollmentStatus,
    Journey,
    JourneyStatus,
    JourneyVersion,
)
from lifelong.lib.pg_array import in_values, pg_array

# About as many as one transaction holds comfortably; each round is a few statements per
# group however large the batch, so larger batches cost fewer round trips per enrollment.
BATCH_SIZE = 2000


def advance_due(*, batch_size: int = BATCH_SIZE, max_batches: int | None = None) -> int:
    """Advance every due enrollment of running journeys; returns the number of steps run."""
    steps = batches = 0
    while max_batches is None or batches < max_batches:
        ran, claimed = _advance_batch(batch_size)
        steps += ran
        batches += 1
        if claimed < batch_size:
            break
    return steps


def _advance_batch(batch_size: int) -> tuple[int, int]:
    now = clock.now()
    running = list(Journey.objects.filter(status=JourneyStatus.ACTIVE).values_list("pk", flat=True))
    if not running:
        return 0, 0
    with transaction.atomic():
        rows = list(
            Enrollment.objects.select_for_update(skip_locked=True)
            .filter(status=EnrollmentStatus.ACTIVE, next_run_at__lte=now, journey_id__in=running)
            .order_by("next_run_at", "id")[:batch_size]
        )
        if not rows:
            return 0, 0
        versions = {
            v.pk: v.parsed()
            for v in JourneyVersion.objects.filter(pk__in={e.version_id for e in rows})
        }
        customers = _customers(rows, versions.values())
        steps = Batch(rows, versions, customers, now=now).walk()
        _states_save(rows)
    return steps, len(rows)


# Nodes that read no more of the customer than these fields (conditions and tags go to the
# database); any other node, a message above all, gets the whole customer.
_LIGHT_NODES = frozenset({"wait", "wait_event", "condition", "split", "exit", "tag", "attribute"})
_LIGHT_FIELDS = ("id", "attributes", "time_zone")


def _customers(rows: list[Enrollment], definitions: Iterable[Definition]) -> dict[int, Customer]:
    customers = Customer.objects.filter(in_values("pk", {e.customer_id for e in rows}))
    if all(_light(node) for d in definitions for node in d.nodes):
        customers = customers.only(*_LIGHT_FIELDS)
    return {c.pk: c for c in customers}


def _light(node: Any) -> bool:
    # Removing a tag records an event about the customer: that one takes the whole row.
    return node.type in _LIGHT_NODES and getattr(node, "action", "add") == "add"


def _states_save(rows: list[Enrollment]) -> None:
    """Write the new positions of the whole batch.

    On PostgreSQL one UPDATE joined to the new values sent as one array per column (UNNEST):
    one statement and ten parameters however many rows and however varied their states (a
    wait until a local time gives every time zone its own due time). `bulk_update` would build
    a CASE over every row and field, slowly. SQLite has no arrays: there, one UPDATE per
    distinct state, which a batch moving together keeps to a handful.
    """
    if connection.vendor == "postgresql":
        _states_save_arrays(rows)
        return
    groups: dict[str, tuple[dict[str, object], list[int]]] = {}
    for enrollment in rows:
        values = {f: getattr(enrollment, f) for f in STATE_FIELDS}
        key = json.dumps(values, sort_keys=True, default=str)
        groups.setdefault(key, (values, []))[1].append(enrollment.pk)
    for values, ids in groups.values():
        Enrollment.objects.filter(pk__in=ids).update(**values)


# The SQL type of each state field's array (the columns take these values as they are).
_STATE_TYPES = {
    "status": "text",
    "current_node": "text",
    "waiting": "bool",
    "wait_started_at": "timestamptz",
    "waiting_for": "text",
    "next_run_at": "timestamptz",
    "visits": "jsonb",
    "ended_at": "timestamptz",
    "exit_reason": "text",
}


def _states_save_arrays(rows: list[Enrollment]) -> None:
    columns = STATE_FIELDS  # these fields have no db_column: a field's name is its column
    arrays = [pg_array([e.pk for e in rows])]
    for name in STATE_FIELDS:
        values = [getattr(e, name) for e in rows]
        arrays.append(pg_array([json.dumps(v) for v in values] if name == "visits" else values))
    table = Enrollment._meta.db_table
    assignments = ", ".join(f"{c} = v.{c}" for c in columns)
    casts = ", ".join(["%s::bigint[]", *(f"%s::{_STATE_TYPES[n]}[]" for n in STATE_FIELDS)])
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS e SET {assignments}"  # noqa: S608
            f" FROM unnest({casts}) AS v (id, {', '.join(columns)}) WHERE e.id = v.id",
            arrays,
        )
