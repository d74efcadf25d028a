"""The demo rebuilds its made-up shop even after its customers earned and spent points."""

from __future__ import annotations

import pytest

from lifelong import clock
from lifelong.commerce.models import Order
from lifelong.customers.models import Customer
from lifelong.demo.generator import demo_wipe
from lifelong.demo.people import CUSTOMER_PREFIX
from lifelong.demo.purchases import ORDER_PREFIX
from lifelong.factories import CustomerFactory
from lifelong.loyalty.earning import loyalty_earn
from lifelong.loyalty.models import Account, Entry, Hold, Lot, Transaction
from lifelong.loyalty.services import points_award, points_redeem
from lifelong.loyalty.tests.helpers import assert_consistent, order_paid, programme_start

pytestmark = pytest.mark.django_db


def test_demo_wipe_erases_the_demo_ledger_and_keeps_everyone_elses(frozen_time):
    programme_start(pending_days=0)
    demo = CustomerFactory.create(external_id=f"{CUSTOMER_PREFIX}1")
    real = CustomerFactory.create(external_id="REAL-1")
    order = order_paid(demo, f"{ORDER_PREFIX}1", "5000")
    loyalty_earn()
    points_redeem(customer_id=demo.pk, points=20, key="burn:demo", order_id=order.pk)
    points_award(customer_id=real.pk, points=30, key="gift:real")
    Hold.objects.create(customer=demo, order_external_id="x", points=1, expires_at=clock.now())
    demo_wipe()
    assert not Customer.objects.filter(pk=demo.pk).exists()
    assert not Order.objects.filter(pk=order.pk).exists()
    assert list(
        Account.objects.filter(customer__isnull=False).values_list("customer", flat=True)
    ) == [real.pk]
    assert set(Transaction.objects.values_list("customer", flat=True)) == {real.pk}
    assert Lot.objects.get().customer_id == real.pk
    assert Entry.objects.count() == 2
    assert_consistent()
