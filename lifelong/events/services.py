"""Recording events. Every fact about a customer ends up as an Event row."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import IntegrityError, transaction

from lifelong import clock
from lifelong.customers.models import Customer
from lifelong.events.models import Event


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
    if idempotency_key:
        existing = Event.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing, False
    now = clock.now()
    try:
        with transaction.atomic():
            event = Event.objects.create(
                customer=customer,
                type=type,
                properties=properties or {},
                occurred_at=occurred_at or now,
                received_at=now,
                source=source,
                idempotency_key=idempotency_key or None,
            )
    except IntegrityError:
        # A concurrent request with the same key won the race.
        return Event.objects.get(idempotency_key=idempotency_key), False
    return event, True
