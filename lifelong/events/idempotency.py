"""Stored responses for API requests sent with an `Idempotency-Key` header.

The key is claimed inside the request's own transaction and the response is stored in
the same transaction, so the claim, the work and the stored response commit together or
not at all. A request that fails, or a server that dies mid-request, leaves no trace:
the database rolls the transaction back and a retry with the same key simply runs.

A twin sent while the first is still running waits on the key's unique index (on
PostgreSQL; SQLite queues it at BEGIN IMMEDIATE) until the first commits, then gets
the stored response. That beats a claim committed up front: such a claim must answer
409 to the twin and outlives a crash, so it needs a lease, and a retry after the lease
cannot tell work that never happened from work that committed before the crash.
"""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction

from lifelong import clock
from lifelong.accounts.models import ApiKey
from lifelong.events.models import IdempotentRequest

RETENTION = dt.timedelta(hours=24)


def idempotent_request_claim(
    *, api_key: ApiKey, key: str, request_hash: str
) -> tuple[IdempotentRequest, bool]:
    """Claim `key` for this API key in the caller's transaction. Returns (row, claimed).

    `claimed` is True when this call inserted the row; otherwise the row is the earlier,
    committed request's, with its stored response.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("claim an idempotency key inside the request's transaction")
    try:
        return _insert(api_key=api_key, key=key, request_hash=request_hash), True
    except IntegrityError:
        earlier = IdempotentRequest.objects.filter(api_key=api_key, key=key).first()
        if earlier is None:
            # The prune removed the earlier row in between: the key is free again.
            return _insert(api_key=api_key, key=key, request_hash=request_hash), True
        return earlier, False


def _insert(*, api_key: ApiKey, key: str, request_hash: str) -> IdempotentRequest:
    # A savepoint: a duplicate key must not abort the caller's transaction.
    with transaction.atomic():
        return IdempotentRequest.objects.create(api_key=api_key, key=key, request_hash=request_hash)


def idempotent_request_complete(*, row: IdempotentRequest, status_code: int, body: bytes) -> None:
    """Keep the response so replays return exactly it."""
    IdempotentRequest.objects.filter(pk=row.pk).update(status_code=status_code, response_body=body)


def idempotency_prune() -> int:
    """Forget idempotency keys older than a day (as Stripe does); returns rows removed."""
    deleted, _ = IdempotentRequest.objects.filter(created_at__lt=clock.now() - RETENTION).delete()
    return deleted
