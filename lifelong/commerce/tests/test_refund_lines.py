"""Refunds by line: which goods came back, checked against what was ordered."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from lifelong.commerce.models import RefundLine
from lifelong.commerce.services import (
    LineInput,
    OrderDataError,
    RefundLineInput,
    order_upsert,
    refund_record,
)
from lifelong.events.models import Event
from lifelong.factories import CustomerFactory

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2025, 1, 10, 12, tzinfo=dt.UTC)


@pytest.fixture
def order(frozen_time):
    lines = [
        LineInput(sku="MAT", quantity=2, price=Decimal("1000")),
        LineInput(sku="TEA", quantity=3, price=Decimal("200")),
    ]
    order, _ = order_upsert(
        external_id="L1",
        customer=CustomerFactory(),
        total=Decimal("2600"),
        placed_at=T0,
        lines=lines,
    )
    return order


def test_lines_are_stored_and_named_in_the_event(order):
    refund, created = refund_record(
        external_id="rf-1",
        order=order,
        amount=Decimal("1200"),
        lines=[RefundLineInput("MAT", 1), RefundLineInput("TEA", 1)],
    )
    assert created
    assert sorted(RefundLine.objects.filter(refund=refund).values_list("sku", "quantity")) == [
        ("MAT", 1),
        ("TEA", 1),
    ]
    event = Event.objects.get(type="order_refund")
    assert event.properties["lines"] == [
        {"sku": "MAT", "quantity": 1},
        {"sku": "TEA", "quantity": 1},
    ]


@pytest.mark.parametrize(
    "lines",
    [
        [RefundLineInput("SOCKS", 1)],
        [RefundLineInput("MAT", 3)],
        [RefundLineInput("MAT", 1), RefundLineInput("MAT", 1)],
        [RefundLineInput("MAT", 0)],
    ],
    ids=["not on the order", "more than ordered", "sku twice", "zero"],
)
def test_bad_lines_are_refused_and_nothing_is_written(order, lines):
    with pytest.raises(OrderDataError) as refused:
        refund_record(external_id="rf-x", order=order, amount=Decimal("100"), lines=lines)
    assert refused.value.field == "lines"
    order.refresh_from_db()
    assert order.refunded_total == 0
    assert not RefundLine.objects.exists()
    assert not Event.objects.filter(type="order_refund").exists()


def test_quantities_add_up_over_refunds(order):
    refund_record(
        external_id="rf-1", order=order, amount=Decimal("1000"), lines=[RefundLineInput("MAT", 1)]
    )
    refund_record(
        external_id="rf-2", order=order, amount=Decimal("1000"), lines=[RefundLineInput("MAT", 1)]
    )
    with pytest.raises(OrderDataError, match="exceed the 2 ordered"):
        refund_record(
            external_id="rf-3",
            order=order,
            amount=Decimal("100"),
            lines=[RefundLineInput("MAT", 1)],
        )


def test_a_replay_with_other_lines_is_refused(order):
    refund_record(
        external_id="rf-1", order=order, amount=Decimal("200"), lines=[RefundLineInput("TEA", 1)]
    )
    _, created = refund_record(
        external_id="rf-1", order=order, amount=Decimal("200"), lines=[RefundLineInput("TEA", 1)]
    )
    assert not created
    with pytest.raises(OrderDataError, match="already used"):
        refund_record(
            external_id="rf-1",
            order=order,
            amount=Decimal("200"),
            lines=[RefundLineInput("TEA", 2)],
        )
