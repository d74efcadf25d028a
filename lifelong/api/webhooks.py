"""Inbound webhooks at /hooks/<slug>: the shop's signed deliveries, ingested as the API does.

The body is {"type": ..., "data": {...}} and goes through the same schemas and services
as the REST API (`lifelong.api.ingest`). Signatures are checked by
`lifelong.events.webhooks.webhook_verify`. A webhook id is processed once; a replay
answers {"status": "duplicate"} and changes nothing.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

import pydantic
from django.db import IntegrityError, transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from lifelong.api.errors import (
    domain_error,
    field_error,
    pydantic_field_errors,
    validation_response,
)
from lifelong.api.ingest import (
    NotFound,
    customer_ingest,
    events_ingest,
    order_ingest,
    refund_ingest,
)
from lifelong.api.schemas import CustomerIn, EventIn, ExternalId, OrderIn, RefundIn
from lifelong.events.models import WebhookReceipt, WebhookSource
from lifelong.events.webhooks import WebhookRejected, webhook_verify
from lifelong.lib.errors import DomainError

log = logging.getLogger(__name__)


class CustomerData(CustomerIn):
    external_id: ExternalId


class OrderData(OrderIn):
    external_id: ExternalId


class RefundData(RefundIn):
    order_external_id: ExternalId


class CustomerUpsert(pydantic.BaseModel):
    type: Literal["customer.upsert"]
    data: CustomerData


class OrderUpsert(pydantic.BaseModel):
    type: Literal["order.upsert"]
    data: OrderData


class RefundCreate(pydantic.BaseModel):
    type: Literal["refund.create"]
    data: RefundData


class EventPost(pydantic.BaseModel):
    type: Literal["event"]
    data: EventIn


Message = CustomerUpsert | OrderUpsert | RefundCreate | EventPost


class WebhookBody(pydantic.RootModel[Annotated[Message, pydantic.Field(discriminator="type")]]):
    pass


def _body_errors(exc: pydantic.ValidationError) -> list[dict[str, Any]]:
    # Pydantic puts the union's tag ("order.upsert") first in `loc`; clients want the field.
    errors = pydantic_field_errors(exc, "body")
    for error in errors:
        loc = error["loc"]
        if len(loc) > 2 and loc[1] in MESSAGE_TYPES:
            error.update(field_error((loc[0], *loc[2:]), error["msg"], error["type"]))
    return errors


MESSAGE_TYPES = ("customer.upsert", "order.upsert", "refund.create", "event")


def webhook_dispatch(message: Message, *, source: str) -> dict[str, Any]:
    """Hand the message to the service the REST API uses; returns what was touched."""
    if isinstance(message, CustomerUpsert):
        customer, created = customer_ingest(
            external_id=message.data.external_id, payload=message.data, source=source
        )
        return {"customer_id": customer.pk, "created": created}
    if isinstance(message, OrderUpsert):
        order, created = order_ingest(
            external_id=message.data.external_id, payload=message.data, source=source
        )
        return {"order_id": order.pk, "created": created}
    if isinstance(message, RefundCreate):
        refund, created = refund_ingest(
            order_external_id=message.data.order_external_id, payload=message.data, source=source
        )
        return {"refund_id": refund.pk, "created": created}
    [(event, created)] = events_ingest(items=[message.data], source=source)
    return {"event_id": event.pk, "created": created}


@csrf_exempt
@require_POST
def webhook_receive(request: HttpRequest, slug: str) -> JsonResponse:
    source = WebhookSource.objects.filter(slug=slug, active=True).first()
    if source is None:
        return JsonResponse({"detail": f"No active webhook source {slug!r}."}, status=404)
    body = request.body
    try:
        webhook_id = webhook_verify(
            secrets=source.secrets_valid(), headers=request.headers, body=body
        )
    except WebhookRejected as exc:
        log.warning("webhook_rejected", extra={"source": slug, "reason": str(exc)})
        return JsonResponse({"detail": str(exc)}, status=401)
    try:
        message = WebhookBody.model_validate_json(body).root
    except pydantic.ValidationError as exc:
        return validation_response(_body_errors(exc))
    try:
        with transaction.atomic():
            # The receipt commits with the work, so a failed delivery can be retried.
            try:
                with transaction.atomic():
                    WebhookReceipt.objects.create(source=source, webhook_id=webhook_id)
            except IntegrityError:
                return JsonResponse({"status": "duplicate"})
            result = webhook_dispatch(message, source=f"webhook:{slug}")
    except DomainError as exc:
        return validation_response([domain_error(exc, "body", "data")])
    except NotFound as exc:
        return JsonResponse({"detail": str(exc)}, status=404)
    return JsonResponse({"status": "processed", **result})
