"""Stored responses for API requests sent with an `Idempotency-Key` header.

The first request with a key claims it with an in-flight row committed before
any work starts, so a concurrent twin sees it and backs off; when the work is
done the row keeps the response, which later replays get back verbatim.
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
) -> tuple[IdempotentRequest | None, bool]:
    """Claim `key` for this API key. Returns (row, claimed).

    `claimed` is True when this call inserted the in-flight row. Otherwise the
    row is the earlier request's, or None when it vanished in between (its
    request failed and released it), which callers treat as still in flight.
    """
    try:
        # Its own transaction (the API runs in autocommit), so it is visible at once.
        with transaction.atomic():
            row = IdempotentRequest.objects.create(
                api_key=api_key, key=key, request_hash=request_hash
            )
    except IntegrityError:
        return IdempotentRequest.objects.filter(api_key=api_key, key=key).first(), False
    return row, True


def idempotent_request_complete(*, row: IdempotentRequest, status_code: int, body: bytes) -> None:
    """Keep the response so replays return exactly it."""
    IdempotentRequest.objects.filter(pk=row.pk).update(
        completed=True, status_code=status_code, response_body=body
    )


def idempotent_request_release(*, row: IdempotentRequest) -> None:
    """Forget a claim whose request failed, so the client may retry with the same key."""
    IdempotentRequest.objects.filter(pk=row.pk).delete()


def idempotency_prune() -> int:
    """Forget idempotency keys older than a day (as Stripe does); returns rows removed."""
    deleted, _ = IdempotentRequest.objects.filter(created_at__lt=clock.now() - RETENTION).delete()
    return deleted
