"""A refund that names its lines takes back exactly what those lines earned."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
import time_machine
from django.db.models import Sum
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from lifelong import clock
from lifelong.commerce.models import Order
from lifelong.commerce.services import LineInput, RefundLineInput, order_upsert, refund_record
from lifelong.conftest import FROZEN_AT
from lifelong.customers.models import Customer
from lifelong.factories import CustomerFactory
from lifelong.loyalty.earning import loyalty_earn
from lifelong.loyalty.models import (
    AccountKind,
    Bucket,
    EarningRule,
    Entry,
    Lot,
    RuleKind,
    Transaction,
    TxKind,
)
from lifelong.loyalty.services import points_award, points_redeem
from lifelong.loyalty.tests.helpers import assert_consistent, balances, programme_start

pytestmark = pytest.mark.django_db


def _order(customer: Customer, external_id: str, lines: list[tuple[str, int, str]]) -> Order:
    inputs = [LineInput(sku=sku, quantity=q, price=Decimal(price)) for sku, q, price in lines]
    order, _created = order_upsert(
        external_id=external_id,
        customer=customer,
        total=sum((i.price * i.quantity for i in inputs), Decimal(0)),
        placed_at=clock.now(),
        status="paid",
        paid_at=clock.now(),
        lines=inputs,
    )
    return order


def _refund(order: Order, external_id: str, amount: str, *lines: tuple[str, int]) -> None:
    refund_record(
        external_id=external_id,
        order=order,
        amount=Decimal(amount),
        lines=[RefundLineInput(sku, q) for sku, q in lines],
    )
    loyalty_earn()


def _taken_back(order: Order) -> int:
    total = Entry.objects.filter(
        transaction__order=order,
        transaction__kind=TxKind.REVERSE,
        account__kind=AccountKind.ISSUED,
        bucket=Bucket.AVAILABLE,  # the system side of spendable points; status has its own
    ).aggregate(s=Sum("points"))["s"]
    return int(total or 0)


def test_the_refunded_lines_give_back_their_own_earn_not_a_share_of_the_money(frozen_time):
    programme_start()
    EarningRule.objects.create(kind=RuleKind.PRODUCT, name="x2", sku="MAT", multiplier=2)
    anna = CustomerFactory.create()
    # MAT: 2 x 1000 at x2 = 40 points; TEA: 3 x 200 = 6 points; 46 in all.
    order = _order(anna, "O-1", [("MAT", 2, "1000"), ("TEA", 3, "200")])
    loyalty_earn()
    assert balances(anna) == (0, 46, 46)
    # One mat is 2000 of the 4600 weighted roubles: floor(46 x 2000 / 4600) = 20 (a share
    # of the money alone, 1000 / 2600, would take back only 17).
    _refund(order, "R-1", "1000", ("MAT", 1))
    assert balances(anna) == (0, 26, 26)
    # The rules change after the earn: the refund still uses what the lines earned at.
    EarningRule.objects.filter(sku="MAT").update(multiplier=5)
    _refund(order, "R-2", "600", ("TEA", 3))  # floor(46 x 2600 / 4600) = 26 in all: 6 more
    assert _taken_back(order) == 26
    _refund(order, "R-3", "1000", ("MAT", 1))  # every unit back: exactly 46
    assert balances(anna) == (0, 0, 0)
    assert_consistent()


def test_the_burn_comes_back_by_the_money_of_the_refunded_lines(frozen_time):
    programme_start(pending_days=0)
    anna = CustomerFactory.create()
    points_award(customer_id=anna.pk, points=100, key="gift", comment="подарок")
    order = _order(anna, "O-1", [("MAT", 1, "2000"), ("TEA", 3, "200")])
    points_redeem(customer_id=anna.pk, points=52, key="burn:O-1", order_id=order.pk)
    loyalty_earn()
    _refund(order, "R-1", "200", ("TEA", 1))  # 200 of 2600: floor(52 x 200 / 2600) = 4
    restored = Transaction.objects.get(order=order, kind=TxKind.RESTORE)
    assert sum(e.points for e in restored.entries.all() if e.points > 0) == 4
    assert_consistent()


def test_a_refund_of_an_amount_alone_still_counts_by_money(frozen_time):
    programme_start()
    EarningRule.objects.create(kind=RuleKind.PRODUCT, name="x2", sku="MAT", multiplier=2)
    anna = CustomerFactory.create()
    order = _order(anna, "O-1", [("MAT", 2, "1000"), ("TEA", 3, "200")])
    loyalty_earn()
    _refund(order, "R-1", "1300")  # half the money: floor(46 / 2) = 23
    assert _taken_back(order) == 23
    _refund(order, "R-2", "1000", ("MAT", 1))  # 1/2 + 2000/4600 of it: floor(43.0) = 43
    assert _taken_back(order) == 43
    assert_consistent()


LINES = st.lists(
    st.tuples(
        st.integers(1, 3),
        st.sampled_from(["199.90", "1000", "333", "2490"]),
        st.sampled_from([1, Decimal("1.5"), 2, 3]),
    ),
    min_size=1,
    max_size=4,
)


class TestLineRefundsAddUp(TestCase):
    """Random orders and random line refunds: the cumulative floor rule, exactly."""

    @settings(max_examples=25)
    @given(lines=LINES, picks=st.lists(st.tuples(st.integers(0, 3), st.integers(1, 3)), max_size=8))
    def test_taken_back_is_the_floor_of_the_refunded_weight(self, lines, picks):
        with time_machine.travel(FROZEN_AT, tick=False):
            programme_start()
            customer = CustomerFactory.create()
            skus = [f"SKU{i}" for i in range(len(lines))]
            for sku, (_q, _price, multiplier) in zip(skus, lines, strict=True):
                if multiplier != 1:
                    EarningRule.objects.create(
                        kind=RuleKind.PRODUCT, name=sku, sku=sku, multiplier=multiplier
                    )
            order = _order(
                customer, "O-H", [(s, q, p) for s, (q, p, _m) in zip(skus, lines, strict=True)]
            )
            loyalty_earn()
            earned = Lot.objects.get(source__order=order).points
            weight = {
                s: Decimal(p) * q * Decimal(m) for s, (q, p, m) in zip(skus, lines, strict=True)
            }
            left = {s: q for s, (q, _p, _m) in zip(skus, lines, strict=True)}
            refunded = Fraction(0)
            for n, (index, quantity) in enumerate(picks):
                sku = skus[index % len(skus)]
                quantity = min(quantity, left[sku])
                if not quantity:
                    continue
                ordered = dict(zip(skus, (q for q, _p, _m in lines), strict=True))[sku]
                left[sku] -= quantity
                refunded += Fraction(weight[sku]) * Fraction(quantity, ordered)
                _refund(order, f"R-{n}", "0.01", (sku, quantity))
                share = refunded / Fraction(sum(weight.values()))
                assert _taken_back(order) == earned * share.numerator // share.denominator
            for sku, quantity in left.items():
                if quantity:
                    _refund(order, f"R-last-{sku}", "0.01", (sku, quantity))
            assert _taken_back(order) == earned
            assert_consistent()
