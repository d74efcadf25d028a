"""Events from the shop: one at a time or in batches."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router, Status

from lifelong.accounts.models import ApiScope
from lifelong.api.idempotency import write_operation
from lifelong.api.ingest import events_ingest
from lifelong.api.schemas import MAX_BATCH, EventBatchIn, EventBatchOut, EventIn, EventOut
from lifelong.events.models import Event

router = Router(tags=["events"])
SOURCE = "api"


def event_out(event: Event, created: bool) -> dict[str, Any]:
    return {
        "id": event.pk,
        "type": event.type,
        "occurred_at": event.occurred_at,
        "received_at": event.received_at,
        "duplicate": not created,
    }


@write_operation(
    router, "POST", "/events", scope=ApiScope.EVENTS, response={200: EventOut, 201: EventOut}
)
def events_create(request: HttpRequest, payload: EventIn) -> Status[dict[str, Any]]:
    """Record one event. 200 with `duplicate: true` when its idempotency_key was seen before.

    An unknown customer_external_id creates a bare customer, as orders do.
    """
    [(event, created)] = events_ingest(items=[payload], source=SOURCE)
    return Status(201 if created else 200, event_out(event, created))


@write_operation(
    router,
    "POST",
    "/events/batch",
    scope=ApiScope.EVENTS,
    response={200: EventBatchOut},
    description=(
        f"Record up to {MAX_BATCH} events, all or none: one invalid item rejects the batch "
        "with its index in `loc`. Unknown customers are created bare."
    ),
)
def events_batch(request: HttpRequest, payload: EventBatchIn) -> dict[str, Any]:
    results = events_ingest(items=payload.events, source=SOURCE)
    created = sum(1 for _, was_created in results if was_created)
    return {
        "created": created,
        "duplicates": len(results) - created,
        "results": [event_out(event, was_created) for event, was_created in results],
    }
