"""A merged customer's points move to the survivor, lot by lot, once."""

from __future__ import annotations

import datetime as dt

import pytest

from lifelong.customers.services import customer_merge
from lifelong.factories import CustomerFactory
from lifelong.loyalty.earning import loyalty_earn
from lifelong.loyalty.merges import loyalty_merges_follow
from lifelong.loyalty.models import Lot, Transaction, TxKind
from lifelong.loyalty.services import points_award, points_redeem
from lifelong.loyalty.sweeps import loyalty_release_pending
from lifelong.loyalty.tests.helpers import (
    assert_consistent,
    balances,
    order_paid,
    order_status,
    programme_start,
)

pytestmark = pytest.mark.django_db


def test_lots_status_and_pending_points_follow_the_merge_once(frozen_time):
    programme_start()
    anna, duplicate = CustomerFactory.create_batch(2)
    points_award(customer_id=anna.pk, points=10, key="a")
    points_award(customer_id=duplicate.pk, points=40, status_points=5, key="d")
    order = order_paid(duplicate, "O-1", "3000")
    loyalty_earn()
    gift = Lot.objects.get(source__key="d")
    customer_merge(primary=anna, duplicate=duplicate, actor=None)
    assert loyalty_merges_follow() == 1
    assert loyalty_merges_follow() == 0
    assert balances(duplicate) == (0, 0, 0)
    assert balances(anna) == (50, 30, 35)
    moved = Lot.objects.get(customer=anna, points=40)
    assert moved.expires_at == gift.expires_at and moved.released
    assert Transaction.objects.filter(kind=TxKind.MERGE).count() == 3
    frozen_time.shift(dt.timedelta(days=14))
    loyalty_release_pending()
    assert balances(anna)[:2] == (80, 0)
    # The order moved with the customer; its cancellation takes the earn back from anna.
    order.refresh_from_db()
    order_status(order, "cancelled")
    loyalty_earn()
    assert balances(anna) == (50, 0, 5)
    assert_consistent()


def test_a_refund_after_the_merge_gives_the_spent_points_back_to_the_survivor(frozen_time):
    programme_start(pending_days=0)
    anna, duplicate = CustomerFactory.create_batch(2)
    points_award(customer_id=duplicate.pk, points=40, key="d")
    order = order_paid(duplicate, "O-1", "500")
    points_redeem(customer_id=duplicate.pk, points=40, key="burn", order_id=order.pk)
    loyalty_earn()  # 460 roubles paid in money: 4 points
    customer_merge(primary=anna, duplicate=duplicate, actor=None)
    loyalty_merges_follow()
    assert balances(anna) == (4, 0, 4)
    order.refresh_from_db()
    order_status(order, "cancelled")
    loyalty_earn()
    assert balances(anna) == (40, 0, 0)
    assert balances(duplicate) == (0, 0, 0)
    assert_consistent()
