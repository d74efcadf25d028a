"""Points from orders and events, and what refunds and cancellations do to them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from lifelong.events.services import event_record
from lifelong.factories import CustomerFactory
from lifelong.loyalty.earning import loyalty_earn
from lifelong.loyalty.ledger import NotEnoughPoints
from lifelong.loyalty.models import (
    Cursor,
    DebtPolicy,
    EarningRule,
    Entry,
    Lot,
    RateMode,
    Rounding,
    RuleKind,
    Transaction,
    TxKind,
)
from lifelong.loyalty.services import points_award, points_redeem
from lifelong.loyalty.sweeps import loyalty_expire_due, loyalty_release_pending
from lifelong.loyalty.tests.helpers import (
    assert_consistent,
    balances,
    order_paid,
    order_status,
    programme_start,
    refund,
)

pytestmark = pytest.mark.django_db


def test_a_paid_order_earns_pending_points_that_become_spendable_after_the_window(
    frozen_time,
):
    programme_start()
    anna = CustomerFactory.create()
    order_paid(anna, "O-1", "1990")
    loyalty_earn()
    assert balances(anna) == (0, 19, 19)  # 1 point per 100 roubles, rounded down
    loyalty_release_pending()
    assert balances(anna) == (0, 19, 19)
    frozen_time.shift(dt.timedelta(days=14))
    assert loyalty_release_pending() == 1
    assert balances(anna) == (19, 0, 19)
    assert loyalty_release_pending() == 0
    assert_consistent()


def test_earn_excludes_what_was_paid_with_points_and_applies_multipliers(frozen_time):
    programme_start(pending_days=0)
    EarningRule.objects.create(
        kind=RuleKind.PRODUCT, name="двойные", sku="YOGA", multiplier=Decimal(2)
    )
    anna = CustomerFactory.create()
    order_paid(anna, "O-1", "5000")
    loyalty_earn()
    loyalty_release_pending()
    assert balances(anna)[0] == 50
    order = order_paid(anna, "O-2", "1000", sku="YOGA")
    # 30 points (30 roubles) spent on it: 970 roubles paid, doubled: 19.4 -> 19.
    points_redeem(customer_id=anna.pk, points=30, key="burn:O-2", order_id=order.pk)
    loyalty_earn()
    earn = Transaction.objects.get(order=order, kind=TxKind.EARN)
    assert earn.lot.points == 19
    assert_consistent()


def test_cancellation_takes_back_the_earn_and_gives_back_the_burn(frozen_time):
    programme_start(pending_days=0)
    anna = CustomerFactory.create()
    order_paid(anna, "O-1", "10000")
    loyalty_earn()
    loyalty_release_pending()
    second = order_paid(anna, "O-2", "3000")
    points_redeem(customer_id=anna.pk, points=40, key="burn:O-2", order_id=second.pk)
    loyalty_earn()
    assert balances(anna) == (89, 0, 129)
    order_status(second, "cancelled")
    loyalty_earn()
    assert balances(anna) == (100, 0, 100)
    assert_consistent()


def test_partial_refunds_take_back_the_floor_of_their_share_and_add_up_to_the_whole(
    frozen_time,
):
    programme_start()
    anna = CustomerFactory.create()
    order = order_paid(anna, "O-1", "1000", "999")  # 19 points
    loyalty_earn()
    refund(order, "R-1", "333")  # 19 * 333 / 1999 = 3.16 -> 3
    loyalty_earn()
    assert balances(anna)[1] == 16
    refund(order, "R-2", "333")  # 19 * 666 / 1999 = 6.33 -> 6 in all, 3 more
    loyalty_earn()
    assert balances(anna)[1] == 13
    refund(order, "R-3", "1333")  # the rest: exactly all 19
    loyalty_earn()
    assert balances(anna) == (0, 0, 0)
    reversals = Transaction.objects.filter(order=order, kind=TxKind.REVERSE)
    assert reversals.count() == 3
    assert_consistent()


def test_a_refund_after_spending_leaves_a_recorded_debt_the_next_earn_repays(frozen_time):
    programme_start(pending_days=0)
    anna = CustomerFactory.create()
    order = order_paid(anna, "O-1", "5000")
    loyalty_earn()
    loyalty_release_pending()
    points_redeem(customer_id=anna.pk, points=45, key="burn:1")
    order_status(order, "cancelled")
    loyalty_earn()
    assert balances(anna) == (-45, 0, 0)
    with pytest.raises(NotEnoughPoints):
        points_redeem(customer_id=anna.pk, points=1, key="burn:2")
    order_paid(anna, "O-2", "6000")
    loyalty_earn()
    assert balances(anna)[:2] == (15, 0)
    assert Lot.objects.get(source__order__external_id="O-2").remaining == 15
    assert_consistent()


def test_under_the_cap_policy_the_balance_stops_at_zero_and_the_shortfall_is_kept(
    frozen_time,
):
    programme_start(pending_days=0, debt_policy=DebtPolicy.CAP)
    anna = CustomerFactory.create()
    order = order_paid(anna, "O-1", "5000")
    loyalty_earn()
    loyalty_release_pending()
    points_redeem(customer_id=anna.pk, points=45, key="burn:1")
    order_status(order, "cancelled")
    loyalty_earn()
    assert balances(anna) == (0, 0, 0)
    assert Transaction.objects.get(kind=TxKind.REVERSE).shortfall == 45
    assert_consistent()


def test_expiry_takes_exactly_what_is_left_of_each_lot_once(frozen_time):
    programme_start(pending_days=0, expiry_months=1)
    anna = CustomerFactory.create()
    order_paid(anna, "O-1", "3000")
    loyalty_earn()
    frozen_time.shift(dt.timedelta(days=10))
    order_paid(anna, "O-2", "2000")
    loyalty_earn()
    loyalty_release_pending()
    points_redeem(customer_id=anna.pk, points=35, key="burn:1")  # 30 from O-1, 5 from O-2
    frozen_time.shift(dt.timedelta(days=25))
    assert loyalty_expire_due() == 0  # O-1's lot is empty: nothing left to expire
    frozen_time.shift(dt.timedelta(days=10))
    assert loyalty_expire_due() == 1
    assert loyalty_expire_due() == 0
    assert balances(anna)[0] == 0
    expired = Transaction.objects.get(kind=TxKind.EXPIRE)
    assert sorted(expired.entries.values_list("points", flat=True)) == [-15, 15]
    assert_consistent()


def test_giving_back_to_an_expired_lot_expires_the_points_at_once(frozen_time):
    programme_start(pending_days=0, expiry_months=1)
    anna = CustomerFactory.create()
    order_paid(anna, "O-1", "3000")
    loyalty_earn()
    loyalty_release_pending()
    second = order_paid(anna, "O-2", "500")
    points_redeem(customer_id=anna.pk, points=30, key="burn:1", order_id=second.pk)
    frozen_time.shift(dt.timedelta(days=40))
    loyalty_expire_due()
    order_status(second, "cancelled")
    loyalty_earn()
    assert balances(anna)[0] == 0
    restore = Transaction.objects.get(kind=TxKind.RESTORE)
    assert sorted(restore.entries.values_list("points", flat=True)) == [-30, -30, 30, 30]
    assert_consistent()


def test_event_rules_award_within_their_cap_and_replay_posts_nothing_new(frozen_time):
    programme_start()
    EarningRule.objects.create(
        kind=RuleKind.EVENT,
        name="отзыв",
        event_type="review_posted",
        points=50,
        status_points=10,
        cap_count=2,
        cap_days=30,
    )
    anna = CustomerFactory.create()
    for n in range(3):
        event_record(customer=anna, type="review_posted", idempotency_key=f"review:{n}")
    loyalty_earn()
    assert balances(anna) == (100, 0, 20)
    frozen_time.shift(dt.timedelta(days=31))
    event_record(customer=anna, type="review_posted", idempotency_key="review:3")
    loyalty_earn()
    assert balances(anna) == (150, 0, 30)
    entries = Entry.objects.count()
    Cursor.objects.filter(name="earning").update(last_event_id=0)
    loyalty_earn()
    assert Entry.objects.count() == entries
    assert balances(anna) == (150, 0, 30)
    assert_consistent()


def test_purchases_before_the_programme_started_earn_nothing(frozen_time):
    anna = CustomerFactory.create()
    order_paid(anna, "O-0", "5000")
    frozen_time.shift(dt.timedelta(hours=1))
    programme_start()
    Cursor.objects.filter(name="earning").update(last_event_id=0)
    loyalty_earn()
    assert balances(anna) == (0, 0, 0)


def test_an_order_that_earned_nothing_earns_nothing_on_a_replay_after_its_refund(
    frozen_time,
):
    programme_start()
    anna = CustomerFactory.create()
    points_award(customer_id=anna.pk, points=42, key="gift")
    order = order_paid(anna, "O-1", "111")
    points_redeem(customer_id=anna.pk, points=22, key="burn:O-1", order_id=order.pk)
    loyalty_earn()  # 89 roubles paid in money: no whole point
    refund(order, "R-1", "111")
    loyalty_earn()
    assert balances(anna) == (42, 0, 0)
    Cursor.objects.filter(name="earning").update(last_event_id=0)
    loyalty_earn()
    assert balances(anna) == (42, 0, 0)
    assert_consistent()


@pytest.mark.parametrize(
    ("rounding", "mode", "rate", "expected"),
    [
        (Rounding.DOWN, RateMode.PER_ROUBLES, "1", 19),  # 19.9
        (Rounding.NEAREST, RateMode.PER_ROUBLES, "1", 20),
        (Rounding.DOWN, RateMode.PERCENT, "5", 49),  # 5 % of 1 990 ₽ at 2 ₽ a point: 49.75
        (Rounding.NEAREST, RateMode.PERCENT, "5", 50),
    ],
)
def test_the_rate_and_the_rounding_rule_are_the_programmes(
    frozen_time, rounding, mode, rate, expected
):
    programme_start(rounding=rounding, point_value=Decimal(2))
    EarningRule.objects.filter(kind=RuleKind.PURCHASE).update(mode=mode, rate=Decimal(rate))
    anna = CustomerFactory.create()
    order_paid(anna, "O-1", "1990")
    loyalty_earn()
    assert balances(anna)[1] == expected
