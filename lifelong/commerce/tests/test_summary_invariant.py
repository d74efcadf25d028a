"""Property: whatever the sequence of order writes, the customer summary equals a recomputation."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifelong.commerce.models import Order, OrderStatus
from lifelong.commerce.services import OrderDataError, order_upsert, refund_record
from lifelong.customers.models import Customer

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)

money = st.decimals(min_value=0, max_value=100000, places=2, allow_nan=False, allow_infinity=False)
upsert = st.tuples(
    st.just("upsert"),
    st.integers(0, 5),  # order number
    st.integers(0, 2),  # customer number
    money,
    st.sampled_from(OrderStatus.values),
    st.integers(0, 700),  # day placed
)
refund = st.tuples(st.just("refund"), st.integers(0, 5), money)


def expected_summary(customer: Customer) -> tuple[int, Decimal, object, object]:
    orders = [
        o
        for o in Order.objects.filter(customer=customer)
        if o.status not in (OrderStatus.CANCELLED, OrderStatus.REFUNDED)
    ]
    return (
        len(orders),
        sum((o.total - o.refunded_total for o in orders), Decimal("0")),
        min((o.placed_at for o in orders), default=None),
        max((o.placed_at for o in orders), default=None),
    )


@pytest.mark.django_db
@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(st.one_of(upsert, refund), max_size=25))
def test_summary_always_equals_recomputation(ops):
    customers = [Customer.objects.get_or_create(external_id=f"h{i}")[0] for i in range(3)]
    refunds = 0
    for op in ops:
        try:
            if op[0] == "upsert":
                _, n, c, total, status, day = op
                order_upsert(
                    external_id=f"h-order-{n}",
                    customer=customers[c],
                    total=total,
                    status=status,
                    placed_at=T0 + dt.timedelta(days=day),
                )
            else:
                _, n, amount = op
                order = Order.objects.filter(external_id=f"h-order-{n}").first()
                if order is not None:
                    refunds += 1
                    refund_record(external_id=f"h-refund-{refunds}", order=order, amount=amount)
        except OrderDataError:
            pass  # rejected input must leave everything as it was; the check below covers it
    for customer in customers:
        customer.refresh_from_db()
        actual = (
            customer.orders_count,
            customer.total_spent,
            customer.first_order_at,
            customer.last_order_at,
        )
        assert actual == expected_summary(customer)
    Order.objects.all().delete()
    Customer.objects.filter(external_id__startswith="h").delete()
