"""Inbound webhooks at /hooks/<slug>, signed the Standard Webhooks way.

Headers `webhook-id`, `webhook-timestamp` and `webhook-signature`
("v1,<base64 HMAC-SHA256>", several allowed, space-separated) sign
"{id}.{timestamp}.{body}" with the source's secret. The body is
{"type": ..., "data": {...}} and goes through the same schemas and services
as the REST API. A webhook id is processed once; a replay answers
{"status": "duplicate"} and changes nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import secrets
from typing import Annotated, Any, Literal

import pydantic
from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from lifelong import clock
from lifelong.accounts.models import User
from lifelong.accounts.services import audit_record
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
from lifelong.commerce.services import OrderDataError
from lifelong.customers.services import CustomerDataError
from lifelong.events.models import WebhookReceipt, WebhookSource

log = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"  # noqa: S105 - a format marker, not a secret
MAX_WEBHOOK_ID = 255


class WebhookRejected(Exception):
    """The delivery cannot be trusted; answered with 401 and the reason."""


def webhook_secret_bytes(secret: str) -> bytes:
    """The HMAC key: "whsec_<base64>" is decoded, anything else is used as it is."""
    if secret.startswith(SECRET_PREFIX):
        try:
            return base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
        except binascii.Error:
            pass  # a hand-typed secret that merely looks prefixed: use it verbatim
    return secret.encode()


@transaction.atomic
def webhook_source_create(*, slug: str, actor: User | None) -> WebhookSource:
    """A new sender with a fresh "whsec_" secret (shown to the owner to configure the shop)."""
    secret = SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()
    source = WebhookSource.objects.create(slug=slug, secret=secret)
    audit_record(actor=actor, action="webhook_source.create", obj=source, changes={"slug": slug})
    return source


def webhook_sign(*, secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The "v1,<signature>" a sender puts in webhook-signature (also used by tests)."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(webhook_secret_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def webhook_verify(*, secret: str, headers: Any, body: bytes) -> str:
    """Check signature and freshness; returns the webhook id or raises WebhookRejected."""
    webhook_id = headers.get("webhook-id", "")
    raw_timestamp = headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "")
    if not webhook_id or not raw_timestamp or not signatures:
        raise WebhookRejected(
            "webhook-id, webhook-timestamp and webhook-signature headers are required"
        )
    if len(webhook_id) > MAX_WEBHOOK_ID:
        raise WebhookRejected("webhook-id is too long")
    try:
        timestamp = int(raw_timestamp)
    except ValueError:
        raise WebhookRejected("webhook-timestamp must be Unix time in seconds") from None
    skew = clock.now().timestamp() - timestamp
    if abs(skew) > settings.WEBHOOK_TOLERANCE_SECONDS:
        # An old timestamp is how a captured delivery replayed later looks.
        raise WebhookRejected(
            f"webhook-timestamp is {'too old' if skew > 0 else 'in the future'}: more than "
            f"{settings.WEBHOOK_TOLERANCE_SECONDS} seconds from the server's clock"
        )
    expected = webhook_sign(secret=secret, webhook_id=webhook_id, timestamp=timestamp, body=body)
    for candidate in signatures.split():
        if hmac.compare_digest(candidate.encode(), expected.encode()):
            return str(webhook_id)
    raise WebhookRejected("no valid signature in webhook-signature")


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
        webhook_id = webhook_verify(secret=source.secret, headers=request.headers, body=body)
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
    except (CustomerDataError, OrderDataError) as exc:
        return validation_response([domain_error(exc, "body", "data")])
    except NotFound as exc:
        return JsonResponse({"detail": str(exc)}, status=404)
    return JsonResponse({"status": "processed", **result})
