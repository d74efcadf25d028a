"""Orders keep the customer's denormalised summary exact."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from lifelong.commerce.models import OrderStatus
from lifelong.commerce.services import LineInput, OrderDataError, order_upsert, refund_record
from lifelong.events.models import Event
from lifelong.factories import CustomerFactory, ProductFactory

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2025, 1, 10, 12, tzinfo=dt.UTC)


def test_orders_update_summary_and_replay_changes_nothing(frozen_time):
    customer = CustomerFactory()
    ProductFactory(sku="MAT-1")
    lines = [LineInput(sku="MAT-1", quantity=2, price=Decimal("1000.00"))]
    order_upsert(
        external_id="A1", customer=customer, total=Decimal("2000"), placed_at=T0, lines=lines
    )
    order_upsert(
        external_id="A2",
        customer=customer,
        total=Decimal("500"),
        placed_at=T0 + dt.timedelta(days=30),
    )
    events_before = Event.objects.count()
    _, created = order_upsert(
        external_id="A1", customer=customer, total=Decimal("2000"), placed_at=T0, lines=lines
    )
    assert not created
    assert Event.objects.count() == events_before
    customer.refresh_from_db()
    assert customer.orders_count == 2
    assert customer.total_spent == Decimal("2500.00")
    assert customer.first_order_at == T0
    assert customer.last_order_at == T0 + dt.timedelta(days=30)
    assert customer.average_order == Decimal("1250.00")


def test_status_changes_become_events_and_cancel_leaves_summary(frozen_time):
    customer = CustomerFactory()
    order_upsert(external_id="B1", customer=customer, total=Decimal("900"), placed_at=T0)
    order_upsert(
        external_id="B1",
        customer=customer,
        total=Decimal("900"),
        placed_at=T0,
        status=OrderStatus.PAID,
        paid_at=T0 + dt.timedelta(hours=1),
    )
    order_upsert(
        external_id="B1",
        customer=customer,
        total=Decimal("900"),
        placed_at=T0,
        status=OrderStatus.CANCELLED,
    )
    types = list(Event.objects.filter(customer=customer).values_list("type", flat=True))
    assert {"order_placed", "order_paid", "order_cancelled"} <= set(types)
    customer.refresh_from_db()
    assert customer.orders_count == 0
    assert customer.total_spent == 0


def test_refunds_are_capped_idempotent_and_reduce_spend(frozen_time):
    customer = CustomerFactory()
    order, _ = order_upsert(
        external_id="R1", customer=customer, total=Decimal("1000"), placed_at=T0
    )
    refund_record(external_id="rf-1", order=order, amount=Decimal("300"))
    _, created = refund_record(external_id="rf-1", order=order, amount=Decimal("300"))
    assert not created
    with pytest.raises(OrderDataError):
        refund_record(external_id="rf-2", order=order, amount=Decimal("800"))
    customer.refresh_from_db()
    assert customer.total_spent == Decimal("700.00")
    refund_record(external_id="rf-3", order=order, amount=Decimal("700"), is_return=True)
    order.refresh_from_db()
    assert order.status == OrderStatus.REFUNDED
    customer.refresh_from_db()
    assert (customer.orders_count, customer.total_spent) == (0, 0)
