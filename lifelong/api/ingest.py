"""Facts in: from validated schemas to the services.

The REST API and the inbound webhooks both call these, so a customer, order,
refund or event means the same thing whichever way it arrives.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import IntegrityError, transaction

from lifelong.api.schemas import CustomerIn, EventIn, OrderIn, RefundIn
from lifelong.commerce.models import Order, Refund
from lifelong.commerce.services import LineInput, RefundLineInput, order_upsert, refund_record
from lifelong.customers.models import Customer
from lifelong.customers.selectors import customers_by_external_id
from lifelong.customers.services import customer_upsert
from lifelong.events.models import Event
from lifelong.events.services import event_record
from lifelong.segments.services import segments_apply_for_customers


class NotFound(LookupError):
    """An object named in the request does not exist (answered with 404)."""


def segments_follow(customer_ids: Iterable[int]) -> None:
    """Re-evaluate segments for these customers once the current transaction commits.

    Robust: the facts are already saved by then, and the hourly sweep repairs a
    membership that a failure here left behind, so the client still gets its answer.
    """
    ids = sorted(set(customer_ids))
    if ids:
        transaction.on_commit(lambda: segments_apply_for_customers(customer_ids=ids), robust=True)


def customer_get(external_id: str) -> Customer:
    """The customer with this external id; a merged one resolves to the survivor."""
    customer = customers_by_external_id([external_id]).get(external_id)
    if customer is None:
        raise NotFound(f"No customer with external id {external_id!r}.")
    return customer


def order_get(external_id: str) -> Order:
    order = (
        Order.objects.select_related("customer")
        .prefetch_related("lines")
        .filter(external_id=external_id)
        .first()
    )
    if order is None:
        raise NotFound(f"No order with external id {external_id!r}.")
    return order


def customers_resolve(external_ids: Iterable[str], *, source: str) -> dict[str, Customer]:
    """Customers by external id in one query; unknown ids become bare customers.

    Orders and events often arrive before the shop sends the customer's
    profile, so an unknown id is created rather than rejected; a later
    customer upsert fills it in.
    """
    wanted = set(external_ids)
    found = customers_by_external_id(wanted)
    for external_id in sorted(wanted - found.keys()):
        found[external_id] = _customer_create_bare(external_id, source=source)
    return found


def _customer_create_bare(external_id: str, *, source: str) -> Customer:
    try:
        with transaction.atomic():
            customer, _ = customer_upsert(external_id=external_id, data={}, source=source)
    except IntegrityError:
        # A concurrent request created it between our lookup and our insert.
        customer = customer_get(external_id)
    return customer


def customer_ingest(*, external_id: str, payload: CustomerIn, source: str) -> tuple[Customer, bool]:
    """Create or update a customer; returns (customer, created)."""
    data = payload.model_dump(exclude={"attributes", "tags"}, exclude_none=True)
    customer, created = customer_upsert(
        external_id=external_id,
        data=data,
        attributes=payload.attributes,
        tags=payload.tags,
        source=source,
    )
    segments_follow([customer.pk])
    return customer, created


@transaction.atomic
def order_ingest(*, external_id: str, payload: OrderIn, source: str) -> tuple[Order, bool]:
    """Create or update an order with its lines; returns (order, created)."""
    customer = customers_resolve([payload.customer_external_id], source=source)[
        payload.customer_external_id
    ]
    lines = None
    if payload.lines is not None:
        lines = [
            LineInput(sku=line.sku, quantity=line.quantity, price=line.price, name=line.name)
            for line in payload.lines
        ]
    segments_follow([customer.pk])
    return order_upsert(
        external_id=external_id,
        customer=customer,
        total=payload.total,
        placed_at=payload.placed_at,
        status=payload.status,
        currency=payload.currency,
        paid_at=payload.paid_at,
        delivered_at=payload.delivered_at,
        discount=payload.discount,
        coupon=payload.coupon,
        channel=payload.channel,
        lines=lines,
        source=source,
    )


def refund_ingest(*, order_external_id: str, payload: RefundIn, source: str) -> tuple[Refund, bool]:
    """Record a refund on an order; returns (refund, created)."""
    order = Order.objects.filter(external_id=order_external_id).first()
    if order is None:
        raise NotFound(f"No order with external id {order_external_id!r}.")
    segments_follow([order.customer_id])
    return refund_record(
        external_id=payload.external_id,
        order=order,
        amount=payload.amount,
        reason=payload.reason,
        is_return=payload.is_return,
        lines=[RefundLineInput(sku=ln.sku, quantity=ln.quantity) for ln in payload.lines],
        source=source,
    )


@transaction.atomic
def events_ingest(*, items: Sequence[EventIn], source: str) -> list[tuple[Event, bool]]:
    """Record events, all or none; returns (event, created) per item, in order.

    Customers are looked up in one query for the whole batch.
    """
    customers = customers_resolve(
        {item.customer_external_id for item in items if item.customer_external_id},
        source=source,
    )
    segments_follow(customer.pk for customer in customers.values())
    return [
        event_record(
            customer=customers[item.customer_external_id] if item.customer_external_id else None,
            type=item.type,
            properties=item.properties,
            occurred_at=item.occurred_at,
            source=source,
            idempotency_key=f"ext:{item.idempotency_key}" if item.idempotency_key else None,
        )
        for item in items
    ]
