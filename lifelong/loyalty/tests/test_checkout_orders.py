"""A checkout's confirmed hold counts as points spent on the order the shop sends later: the
earn leaves them out and refunds give them back to the lots the hold drew from."""

from __future__ import annotations

import datetime as dt

import pytest

from lifelong.factories import CustomerFactory
from lifelong.loyalty.earning import loyalty_earn
from lifelong.loyalty.holds import hold_confirm, hold_reserve
from lifelong.loyalty.models import Cursor, Entry, Lot, Transaction, TxKind
from lifelong.loyalty.services import points_award
from lifelong.loyalty.tests.helpers import (
    assert_consistent,
    balances,
    order_paid,
    order_status,
    programme_start,
    refund,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def checked_out(frozen_time):
    """Anna had 100 + 300 points; a hold of 250 on O-1 was confirmed for 200, then the shop
    sent O-1 paid: 5 000 ₽, of which 200 ₽ were points."""
    programme_start()
    anna = CustomerFactory.create()
    points_award(customer_id=anna.pk, points=100, key="old")
    frozen_time.shift(dt.timedelta(days=2))
    points_award(customer_id=anna.pk, points=300, key="new")
    hold = hold_reserve(
        customer_id=anna.pk, order_external_id="O-1", points=250, timeout_seconds=600
    )
    hold_confirm(hold_id=hold.pk, points=200)
    order = order_paid(anna, "O-1", "5000")
    loyalty_earn()
    return anna, order


def test_the_earn_leaves_out_what_the_hold_paid(checked_out):
    anna, order = checked_out
    earn = Transaction.objects.get(order=order, kind=TxKind.EARN)
    assert earn.lot.points == 48  # 4 800 roubles paid in money
    assert balances(anna) == (200, 48, 48)
    assert_consistent()


def test_a_cancellation_gives_the_confirmed_points_back_to_their_lots(checked_out):
    anna, order = checked_out
    order_status(order, "cancelled")
    loyalty_earn()
    assert balances(anna) == (400, 0, 0)
    assert sorted(Lot.objects.filter(customer=anna).values_list("points", "remaining")) == [
        (48, 0),
        (100, 100),
        (300, 300),
    ]
    Cursor.objects.filter(name="earning").update(last_event_id=0)
    loyalty_earn()
    assert balances(anna) == (400, 0, 0)
    assert_consistent()


def test_a_partial_refund_gives_back_its_share_latest_expiring_lot_first(checked_out):
    anna, order = checked_out
    refund(order, "R-1", "1250")  # a quarter: 50 of the 200 points, 12 of the 48 earned
    loyalty_earn()
    assert balances(anna) == (250, 36, 36)
    # The hold drew on both lots: the one that expires last gets the 50 back.
    restored = Entry.objects.filter(transaction__kind=TxKind.RESTORE, lot__isnull=False)
    assert list(restored.values_list("lot__points", "points")) == [(300, 50)]
    assert_consistent()
