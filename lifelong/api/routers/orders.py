"""Orders with their lines, and refunds."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Status

from lifelong.accounts.models import ApiScope
from lifelong.api.auth import READ
from lifelong.api.errors import READ_ERRORS
from lifelong.api.idempotency import write_operation
from lifelong.api.ingest import order_get, order_ingest, refund_ingest
from lifelong.api.pagination import keyset_page
from lifelong.api.schemas import (
    ExternalId,
    OrderFilters,
    OrderIn,
    OrderOut,
    OrderPage,
    PageQuery,
    RefundIn,
    RefundOut,
)
from lifelong.commerce.models import Order

router = Router(tags=["orders"])
SOURCE = "api"


@router.get("/orders", auth=READ, response={200: OrderPage, **READ_ERRORS})
def orders_list(
    request: HttpRequest, page: Query[PageQuery], filters: Query[OrderFilters]
) -> dict[str, Any]:
    """Orders by id, oldest first, with their lines."""
    orders = Order.objects.select_related("customer").prefetch_related("lines")
    if filters.customer_external_id:
        orders = orders.filter(customer__external_id=filters.customer_external_id)
    if filters.updated_since is not None:
        orders = orders.filter(updated_at__gte=filters.updated_since)
    return keyset_page(orders, page)


@router.get("/orders/{external_id}", auth=READ, response={200: OrderOut, **READ_ERRORS})
def orders_get(request: HttpRequest, external_id: ExternalId) -> Order:
    return order_get(external_id)


@write_operation(
    router,
    "PUT",
    "/orders/{external_id}",
    scope=ApiScope.ORDERS,
    response={200: OrderOut, 201: OrderOut},
)
def orders_put(request: HttpRequest, external_id: ExternalId, payload: OrderIn) -> Status[Order]:
    """Create or replace the order. An unknown customer_external_id creates a bare customer.

    201 when created; status changes become events (order_paid, order_delivered, ...).
    """
    order, created = order_ingest(external_id=external_id, payload=payload, source=SOURCE)
    return Status(201 if created else 200, order_get(order.external_id))


@write_operation(
    router,
    "POST",
    "/orders/{external_id}/refunds",
    scope=ApiScope.ORDERS,
    response={200: RefundOut, 201: RefundOut},
)
def refunds_create(request: HttpRequest, external_id: ExternalId, payload: RefundIn) -> Any:
    """Record money given back. A replay of the same refund external_id answers 200."""
    refund, created = refund_ingest(order_external_id=external_id, payload=payload, source=SOURCE)
    return Status(201 if created else 200, refund)
