"""Customer summaries refreshed once per bulk write: the queue of customers waiting for it.

A bulk writer (the orders import) queues the customers whose orders it changed, in the same
transaction as each batch, instead of refreshing their summaries batch after batch; at its
end it refreshes the whole queue set-based. A crash in between leaves the queue in the
database, and the `commerce.summaries_refresh` sweep refreshes it.

Per-row writers (order_upsert, refund_record, customer_merge) still refresh their customer
at once: one row costs the same either way, and the API answers with an exact summary.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from django.db import connection, transaction

from lifelong.commerce.models import SummaryPending
from lifelong.commerce.services import customer_summaries_refresh
from lifelong.customers.models import Customer
from lifelong.events.field_limits import amount_limit

# Customers refreshed per transaction when the queue is drained.
REFRESH_CHUNK = 50_000

_TABLE = SummaryPending._meta.db_table


def _spend_cap() -> str:
    # A literal of our own (not a parameter): SQLite compares a number with a text
    # parameter as smaller, always.
    return str(amount_limit(Customer, "total_spent").ceiling - Decimal("0.01"))


def summaries_queue_from(
    select: str, params: Sequence[Any] | Mapping[str, Any] | None = None
) -> None:
    """Queue the customers a SELECT returns as columns customer_id and added, each once.

    Runs in the caller's transaction, so the queue commits with the orders it is about.
    `added` is what the caller's orders may have added to the customer's spend (their
    totals); it accumulates until the refresh and is capped at what the column holds.
    """
    cap = _spend_cap()
    capped = f"CASE WHEN {{added}} > {cap} THEN {cap} ELSE {{added}} END"
    # "WHERE true": SQLite would read ON CONFLICT right after a FROM as a join's ON.
    sql = (
        f"INSERT INTO {_TABLE} (customer_id, spend_added) "  # noqa: S608 - ours
        f"SELECT customer_id, {capped.format(added='added')} "
        f"FROM ({select}) AS due WHERE true "
        "ON CONFLICT (customer_id) DO UPDATE SET spend_added = "
        + capped.format(added=f"{_TABLE}.spend_added + excluded.spend_added")
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _take(limit: int) -> list[int]:
    """Remove up to `limit` queued customers in the current transaction; their ids."""
    lock = " FOR UPDATE SKIP LOCKED" if connection.vendor == "postgresql" else ""
    # The refresh that follows is its own statement, so it reads every order committed
    # before these rows could be locked: a batch that queued a customer again meanwhile
    # either committed before (and is read) or keeps its own row in the queue.
    sql = (
        f"DELETE FROM {_TABLE} WHERE customer_id IN ("  # noqa: S608 - ours
        f"SELECT customer_id FROM {_TABLE} ORDER BY customer_id LIMIT %s{lock}"
        ") RETURNING customer_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [limit])
        return [customer_id for (customer_id,) in cursor.fetchall()]


def summaries_refresh_pending(*, chunk: int = REFRESH_CHUNK) -> int:
    """Refresh the summaries of every queued customer, set-based; returns how many.

    Each chunk is one transaction that removes the customers from the queue and refreshes
    them: a crash leaves them queued. Concurrent callers take disjoint customers (rows
    another caller holds are skipped; it refreshes them).
    """
    refreshed = 0
    while True:
        with transaction.atomic():
            ids = _take(chunk)
            if ids:
                customer_summaries_refresh(ids)
        refreshed += len(ids)
        if len(ids) < chunk:
            return refreshed
