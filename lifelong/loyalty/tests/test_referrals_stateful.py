"""Random sequences of referrals: friends who come with a code (some of them the referrer in
disguise), first and later orders, cancellations, time, sweeps and the log read again.

After every step: no referral is rewarded twice (each reward key once, one
`referral_converted` event per converted referral, the referrer's points equal to the
rewards), a self-referral is never rewarded, a friend whose first order was cancelled before
the decision is never rewarded, every span of the limit's days holds at most the limit's
converted friends per referrer, and the ledger is consistent.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import pytest
import time_machine
from django.db import transaction
from django.db.models import Sum
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from lifelong import clock
from lifelong.commerce.models import Order
from lifelong.commerce.services import order_upsert
from lifelong.conftest import FROZEN_AT
from lifelong.customers.models import Customer
from lifelong.customers.services import customer_upsert
from lifelong.events.models import Event
from lifelong.loyalty.models import (
    Cursor,
    Entry,
    Referral,
    ReferralCondition,
    ReferralStatus,
    RefusalReason,
    Transaction,
)
from lifelong.loyalty.referral_sweep import loyalty_referrals
from lifelong.loyalty.referrals import referral_code_get, referral_settings_update
from lifelong.loyalty.tests.helpers import order_status, programme_start
from lifelong.loyalty.verify import ledger_verify

REFERRER_POINTS, FRIEND_POINTS = 300, 200
DISGUISES = {
    "": "",
    "email": RefusalReason.SAME_EMAIL,
    "phone": RefusalReason.SAME_PHONE,
    "payment": RefusalReason.SAME_PAYMENT,
    "address": RefusalReason.SAME_ADDRESS,
}


@dataclass
class MFriend:
    customer_id: int
    referrer: int
    disguise: str
    first_order: str
    cancelled_at: dt.datetime | None = None


class ReferralMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.atomic = transaction.atomic()
        self.atomic.__enter__()
        self.clock = time_machine.travel(FROZEN_AT, tick=False)
        self.traveller = self.clock.start()
        self.friends: list[MFriend] = []
        self.referrers: list[Customer] = []
        self.codes: list[str] = []
        self.orders = 0

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self.atomic.__exit__(None, None, None)
        self.clock.stop()

    @initialize(
        first_order=st.booleans(), limit=st.integers(0, 3), limit_days=st.sampled_from([5, 30])
    )
    def start(self, first_order: bool, limit: int, limit_days: int) -> None:
        programme_start(pending_days=7)
        self.limit, self.limit_days = limit, limit_days if limit else 0
        referral_settings_update(
            values={
                "enabled": True,
                "shop_url": "https://prana.example/",
                "referrer_points": REFERRER_POINTS,
                "friend_points": FRIEND_POINTS,
                "condition": ReferralCondition.FIRST_ORDER
                if first_order
                else ReferralCondition.RETURN_WINDOW,
                "limit_count": self.limit,
                "limit_days": self.limit_days,
            },
            actor=None,
        )
        for n in range(2):
            referrer, _ = customer_upsert(
                external_id=f"R-{n}",
                data={"email": f"referrer{n}@example.ru", "phone": f"+7916000000{n}"},
                attributes={"payment_fingerprint": f"card-{n}", "address": f"Тверская {n}"},
            )
            self.referrers.append(referrer)
            self.codes.append(referral_code_get(customer_id=referrer.pk).code)

    def _order(self, customer: Customer, coupon: str = "") -> str:
        self.orders += 1
        external_id = f"O-{self.orders}"
        order_upsert(
            external_id=external_id,
            customer=customer,
            total=Decimal(1000),
            placed_at=clock.now(),
            status="paid",
            paid_at=clock.now(),
            coupon=coupon,
        )
        return external_id

    @rule(
        referrer=st.integers(0, 1),
        disguise=st.sampled_from(sorted(DISGUISES)),
        coupon=st.booleans(),
    )
    def friend_comes(self, referrer: int, disguise: str, coupon: bool) -> None:
        n = len(self.friends)
        data = {"email": f"friend{n}@example.ru", "phone": f"+7926000{n:04d}"}
        attributes: dict[str, str] = {"address": f"Арбат {n}"}
        if disguise == "email":
            data["email"] = f"Referrer{referrer}+{n}@example.ru"
        elif disguise == "phone":
            data["phone"] = f"+7916000000{referrer}"
        elif disguise == "payment":
            attributes["payment_fingerprint"] = f"card-{referrer}"
        elif disguise == "address":
            attributes["address"] = f"тверская, {referrer}"
        code = self.codes[referrer]
        if not coupon:
            attributes["referral_code"] = code
        friend, _ = customer_upsert(external_id=f"F-{n}", data=data, attributes=attributes)
        first = self._order(friend, coupon=code.lower() if coupon else "")
        self.friends.append(MFriend(friend.pk, self.referrers[referrer].pk, disguise, first))

    @precondition(lambda self: self.friends)
    @rule(data=st.data())
    def friend_orders_again(self, data: st.DataObject) -> None:
        friend = data.draw(st.sampled_from(self.friends))
        self._order(Customer.objects.get(pk=friend.customer_id))

    @precondition(lambda self: self.friends)
    @rule(data=st.data())
    def first_order_cancelled(self, data: st.DataObject) -> None:
        friend = data.draw(st.sampled_from(self.friends))
        if friend.cancelled_at is None:
            order_status(Order.objects.get(external_id=friend.first_order), "cancelled")
            friend.cancelled_at = clock.now()

    @rule(days=st.integers(1, 10))
    def time_passes(self, days: int) -> None:
        self.traveller.shift(dt.timedelta(days=days))

    @rule()
    def sweep(self) -> None:
        loyalty_referrals()

    @rule()
    def log_read_again(self) -> None:
        Cursor.objects.filter(name="referrals").update(last_event_id=0)
        loyalty_referrals()

    @invariant()
    def never_twice_never_self_limit_kept(self) -> None:
        referrals = {r.friend_id: r for r in Referral.objects.all()}
        converted = [r for r in referrals.values() if r.status == ReferralStatus.CONVERTED]
        rewards = Transaction.objects.filter(key__startswith="referral:")
        assert rewards.count() == 2 * len(converted)
        assert Event.objects.filter(type="referral_converted").count() == len(converted)
        for friend in self.friends:
            referral = referrals.get(friend.customer_id)
            if referral is None:
                continue
            assert referral.referrer_id == friend.referrer
            if friend.disguise and referral.status != ReferralStatus.WAITING:
                assert referral.status == ReferralStatus.REFUSED
                assert referral.reason == DISGUISES[friend.disguise]
            if referral.status == ReferralStatus.CONVERTED and friend.cancelled_at is not None:
                assert referral.decided_at is not None
                assert referral.decided_at <= friend.cancelled_at
        span = dt.timedelta(days=self.limit_days)
        for referrer in self.referrers:
            times = sorted(r.ordered_at for r in converted if r.referrer_id == referrer.pk)
            if self.limit:
                for start in times:
                    assert sum(1 for t in times if start <= t < start + span) <= self.limit
            earned = (
                Entry.objects.filter(
                    transaction__key__startswith="referral:",
                    transaction__customer_id=referrer.pk,
                    account__customer_id=referrer.pk,
                ).aggregate(s=Sum("points"))["s"]
                or 0
            )
            assert earned == REFERRER_POINTS * len(times)
        report = ledger_verify()
        assert report.ok, report.lines()


@pytest.mark.django_db
def test_referrals_hold_their_invariants_through_random_sequences():
    run_state_machine_as_test(
        ReferralMachine,
        settings=settings(
            max_examples=30,
            stateful_step_count=25,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
