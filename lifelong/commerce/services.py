"""Writes for products, orders and refunds; they keep the customer summary exact."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q, Sum
from django.utils.translation import gettext as _

from lifelong import clock
from lifelong.commerce.models import Order, OrderLine, OrderStatus, Product, Refund, RefundLine
from lifelong.customers.models import Customer
from lifelong.events.field_limits import (
    amount_limit,
    currency_check,
    discount_check,
    moment_check,
    name_check,
    order_currency_check,
    refused_as,
)
from lifelong.events.services import event_record
from lifelong.lib.errors import DomainError

ZERO = Decimal("0")


class OrderDataError(DomainError):
    """Bad input for an order."""


@dataclass(frozen=True)
class LineInput:
    sku: str
    quantity: int
    price: Decimal
    name: str = ""


@transaction.atomic
def product_upsert(
    *,
    sku: str,
    name: str,
    category: str = "",
    price: Decimal = ZERO,
    currency: str = "RUB",
    replenishment_days: int | None = None,
    active: bool = True,
) -> tuple[Product, bool]:
    """Create or update a product by SKU. Returns (product, created)."""
    with refused_as(OrderDataError, "name"):
        name = name_check(name)
    with refused_as(OrderDataError, "currency"):
        currency_check(currency)
    values = {
        "name": name,
        "category": category,
        "price": price,
        "currency": currency,
        "replenishment_days": replenishment_days,
        "active": active,
    }
    product, created = Product.objects.select_for_update().get_or_create(sku=sku, defaults=values)
    if not created:
        changed = [k for k, v in values.items() if getattr(product, k) != v]
        if changed:
            for k in changed:
                setattr(product, k, values[k])
            product.save(update_fields=changed)
    return product, created


# Cancelled and fully refunded orders are not purchases for the summary.
UNCOUNTED_STATUSES = (OrderStatus.CANCELLED.value, OrderStatus.REFUNDED.value)
COUNTED = ~Q(status__in=UNCOUNTED_STATUSES)


def customer_spend(*, customer_id: int, excluding_order_id: int | None = None) -> Decimal:
    """The net spend of the customer's counted orders, summed from the orders themselves."""
    orders = Order.objects.filter(COUNTED, customer_id=customer_id)
    if excluding_order_id is not None:
        orders = orders.exclude(pk=excluding_order_id)
    spent = orders.aggregate(spent=Sum(F("total") - F("refunded_total")))["spent"]
    return Decimal(spent or ZERO)


def spend_fits(amount: Decimal) -> bool:
    """Whether a customer's spend of `amount` fits Customer.total_spent."""
    return amount < amount_limit(Customer, "total_spent").ceiling


def spend_refusal() -> str:
    return _("the customer's spend would exceed the largest amount kept, %(largest)s") % {
        "largest": amount_limit(Customer, "total_spent").largest
    }


_SUMMARY_SQL = """
UPDATE {customer} SET orders_count = s.n, total_spent = s.spent,
    first_order_at = s.first_at, last_order_at = s.last_at
FROM (
    SELECT c.id AS id, COUNT(o.id) AS n, COALESCE(SUM(o.total - o.refunded_total), 0) AS spent,
        MIN(o.placed_at) AS first_at, MAX(o.placed_at) AS last_at
    FROM {customer} c
    LEFT JOIN {order} o ON o.customer_id = c.id AND o.status NOT IN (%s, %s)
    WHERE c.id {ids}
    GROUP BY c.id
) s
WHERE {customer}.id = s.id AND (
    {customer}.orders_count IS DISTINCT FROM s.n
    OR {customer}.total_spent IS DISTINCT FROM s.spent
    OR {customer}.first_order_at IS DISTINCT FROM s.first_at
    OR {customer}.last_order_at IS DISTINCT FROM s.last_at
)
"""
# SQLite takes the ids as parameters, a chunk at a time (it allows a few thousand per query).
SUMMARY_CHUNK = 5000


def customer_summaries_refresh(customer_ids: Iterable[int]) -> None:
    """Recompute the order summary of these customers from their orders, set-based.

    One grouped UPDATE (per 5,000 customers on SQLite) that rewrites only the rows whose
    summary changed. Bulk writers queue their customers instead and refresh them once
    (`commerce.summaries`).
    """
    ids = sorted(set(customer_ids))
    if not ids:
        return
    tables = {"customer": Customer._meta.db_table, "order": Order._meta.db_table}
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One array parameter: a query with thousands of placeholders costs more to
            # build in Python than to run.
            sql = _SUMMARY_SQL.format(**tables, ids="= ANY(%s::bigint[])")
            cursor.execute(sql, [*UNCOUNTED_STATUSES, ids])
            return
        for start in range(0, len(ids), SUMMARY_CHUNK):
            chunk = ids[start : start + SUMMARY_CHUNK]
            sql = _SUMMARY_SQL.format(**tables, ids=f"IN ({', '.join(['%s'] * len(chunk))})")
            cursor.execute(sql, [*UNCOUNTED_STATUSES, *chunk])


_STATUS_EVENTS = {
    OrderStatus.PLACED: "order_placed",
    OrderStatus.PAID: "order_paid",
    OrderStatus.DELIVERED: "order_delivered",
    OrderStatus.CANCELLED: "order_cancelled",
    OrderStatus.REFUNDED: "order_refunded",
}


@transaction.atomic
def order_upsert(
    *,
    external_id: str,
    customer: Customer,
    total: Decimal,
    placed_at: dt.datetime,
    status: str = OrderStatus.PLACED,
    currency: str | None = None,
    paid_at: dt.datetime | None = None,
    delivered_at: dt.datetime | None = None,
    discount: Decimal = ZERO,
    coupon: str = "",
    channel: str = "",
    lines: Sequence[LineInput] | None = None,
    source: str = "api",
) -> tuple[Order, bool]:
    """Create or update an order by external id. Returns (order, created).

    Status changes become events (order_placed, order_paid, ...); a replay with
    the same data changes nothing. Lines, when given, replace the stored ones. The
    currency is the shop's (settings.DEFAULT_CURRENCY); another is refused.
    """
    if status not in OrderStatus.values:
        raise OrderDataError(f"unknown status {status!r}", field="status")
    if total < 0:
        raise OrderDataError("total cannot be negative", field="total")
    currency = currency or settings.DEFAULT_CURRENCY
    with refused_as(OrderDataError, "currency"):
        order_currency_check(currency, shop=settings.DEFAULT_CURRENCY)
    now = clock.now()
    for field, moment in (
        ("placed_at", placed_at),
        ("paid_at", paid_at),
        ("delivered_at", delivered_at),
    ):
        if moment is not None:
            with refused_as(OrderDataError, field):
                moment_check(moment, now=now)
    if lines is not None:
        with refused_as(OrderDataError, "discount"):
            discount_check(discount, subtotal=sum((ln.price * ln.quantity for ln in lines), ZERO))
    if customer.merged_into_id is not None:
        customer = Customer.objects.get(pk=customer.merged_into_id)
    values = {
        "customer_id": customer.pk,
        "total": total,
        "placed_at": placed_at,
        "status": status,
        "currency": currency,
        "paid_at": paid_at,
        "delivered_at": delivered_at,
        "discount": discount,
        "coupon": coupon,
        "channel": channel,
    }
    order = Order.objects.select_for_update().filter(external_id=external_id).first()
    if order is not None and total < order.refunded_total:
        raise OrderDataError(f"total is below the refunded {order.refunded_total}", field="total")
    if status not in UNCOUNTED_STATUSES:
        # The summary must fit its column: the customer row is locked so that two orders
        # arriving at once cannot both take the last room.
        Customer.objects.select_for_update().filter(pk=customer.pk).first()
        others = customer_spend(
            customer_id=customer.pk, excluding_order_id=None if order is None else order.pk
        )
        if not spend_fits(others + total - (ZERO if order is None else order.refunded_total)):
            raise OrderDataError(spend_refusal(), field="total")
    created = order is None
    previous_customer_id = None if order is None else order.customer_id
    previous_status = None if order is None else order.status
    if order is None:
        order = Order.objects.create(external_id=external_id, **values)
        changed = list(values)
    else:
        changed = [k for k, v in values.items() if getattr(order, k) != v]
        if changed:
            for k in changed:
                setattr(order, k, values[k])
            order.updated_at = clock.now()
            order.save(update_fields=[*changed, "updated_at"])
    lines_changed = lines is not None and _lines_replace(order, lines)
    if not changed and not lines_changed:
        return order, False
    customer_summaries_refresh(
        [customer.pk] + ([previous_customer_id] if previous_customer_id else [])
    )
    if created:
        event_record(
            customer=customer,
            type="order_placed",
            properties=_order_properties(order),
            occurred_at=placed_at,
            source=source,
            idempotency_key=f"order:{external_id}:placed",
        )
    if status != previous_status and status != OrderStatus.PLACED:
        event_record(
            customer=customer,
            type=_STATUS_EVENTS[OrderStatus(status)],
            properties=_order_properties(order),
            occurred_at=_status_time(order) or clock.now(),
            source=source,
            idempotency_key=f"order:{external_id}:{status}",
        )
    return order, created


def _status_time(order: Order) -> dt.datetime | None:
    return {OrderStatus.PAID: order.paid_at, OrderStatus.DELIVERED: order.delivered_at}.get(
        OrderStatus(order.status)
    )


def _order_properties(order: Order) -> dict[str, object]:
    return {
        "order_id": order.pk,
        "external_id": order.external_id,
        "total": str(order.total),
        "currency": order.currency,
        "status": order.status,
        # In line order, as the CSV import writes them (without ORDER BY, PostgreSQL may
        # return a replaced order's lines in another order now and then).
        "skus": list(order.lines.order_by("pk").values_list("sku", flat=True)),
    }


def _lines_replace(order: Order, lines: Sequence[LineInput]) -> bool:
    """Store `lines` for the order; returns False when they equal what is stored."""
    for line in lines:
        if line.quantity <= 0:
            raise OrderDataError(f"quantity must be positive for {line.sku!r}", field="lines")
        if line.price < 0:
            raise OrderDataError(f"price cannot be negative for {line.sku!r}", field="lines")
    current = [(ln.sku, ln.quantity, ln.price, ln.name) for ln in order.lines.order_by("pk")]
    wanted = [(ln.sku, ln.quantity, ln.price, ln.name) for ln in lines]
    if current == wanted:
        return False
    products = dict(
        Product.objects.filter(sku__in={ln.sku for ln in lines}).values_list("sku", "pk")
    )
    order.lines.all().delete()
    OrderLine.objects.bulk_create(
        [
            OrderLine(
                order=order,
                product_id=products.get(ln.sku),
                sku=ln.sku,
                name=ln.name,
                quantity=ln.quantity,
                price=ln.price,
            )
            for ln in lines
        ]
    )
    return True


@dataclass(frozen=True)
class RefundLineInput:
    sku: str
    quantity: int


@transaction.atomic
def refund_record(
    *,
    external_id: str,
    order: Order,
    amount: Decimal,
    reason: str = "",
    is_return: bool = False,
    lines: Sequence[RefundLineInput] = (),
    source: str = "api",
) -> tuple[Refund, bool]:
    """Record money given back on an order; a replay of the same external id changes nothing.

    Refunds can never exceed the order total; a full refund marks the order refunded.
    `lines` says which goods the refund was for (loyalty then takes back exactly their
    points); a line can be refunded at most the quantity ordered, over all refunds.
    """
    existing = Refund.objects.filter(external_id=external_id).first()
    if existing is not None:
        same_lines = {(ln.sku, ln.quantity) for ln in existing.lines.all()} == {
            (ln.sku, ln.quantity) for ln in lines
        }
        if existing.order_id != order.pk or existing.amount != amount or not same_lines:
            raise OrderDataError(
                "this refund id was already used with other data", field="external_id"
            )
        return existing, False
    if amount <= 0:
        raise OrderDataError("a refund amount must be positive", field="amount")
    order = Order.objects.select_for_update().get(pk=order.pk)
    if order.refunded_total + amount > order.total:
        raise OrderDataError(
            f"refunds would exceed the order total "
            f"({order.refunded_total} + {amount} > {order.total})",
            field="amount",
        )
    _refund_lines_check(order, lines)
    refund = Refund.objects.create(
        external_id=external_id, order=order, amount=amount, reason=reason, is_return=is_return
    )
    RefundLine.objects.bulk_create(
        RefundLine(refund=refund, sku=ln.sku, quantity=ln.quantity) for ln in lines
    )
    order.refunded_total += amount
    fields = ["refunded_total", "updated_at"]
    if order.refunded_total == order.total:
        order.status = OrderStatus.REFUNDED
        fields.append("status")
    order.updated_at = clock.now()
    order.save(update_fields=fields)
    customer_summaries_refresh([order.customer_id])
    event_record(
        customer=order.customer,
        type="order_returned" if is_return else "order_refund",
        properties={
            "order_id": order.pk,
            "external_id": order.external_id,
            "refund_id": external_id,
            "amount": str(amount),
            "reason": reason,
            **(
                {"lines": [{"sku": ln.sku, "quantity": ln.quantity} for ln in lines]}
                if lines
                else {}
            ),
        },
        source=source,
        idempotency_key=f"refund:{external_id}",
    )
    return refund, True


def _refund_lines_check(order: Order, lines: Sequence[RefundLineInput]) -> None:
    """Each SKU once, on the order, and never more units refunded than were ordered."""
    skus = [ln.sku for ln in lines]
    if len(set(skus)) != len(skus):
        raise OrderDataError("name each SKU once per refund", field="lines")
    if not lines:
        return
    ordered: dict[str, int] = defaultdict(int)
    for sku, quantity in OrderLine.objects.filter(order=order, sku__in=skus).values_list(
        "sku", "quantity"
    ):
        ordered[sku] += quantity
    refunded = dict(
        RefundLine.objects.filter(refund__order=order, sku__in=skus)
        .values_list("sku")
        .annotate(n=Sum("quantity"))
    )
    for ln in lines:
        if ln.quantity <= 0:
            raise OrderDataError("a refunded quantity must be positive", field="lines")
        if ln.sku not in ordered:
            raise OrderDataError(f"the order has no line with SKU {ln.sku!r}", field="lines")
        if refunded.get(ln.sku, 0) + ln.quantity > ordered[ln.sku]:
            raise OrderDataError(
                f"refunds of {ln.sku!r} would exceed the {ordered[ln.sku]} ordered",
                field="lines",
            )
