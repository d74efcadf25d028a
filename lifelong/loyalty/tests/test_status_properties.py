"""Whatever happened to a customer's points, the history the status page shows adds up to their
balances, and each lot listed as pending or expiring is one the ledger holds."""

from __future__ import annotations

import contextlib
import datetime as dt

import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from lifelong.conftest import FROZEN_AT
from lifelong.factories import CustomerFactory
from lifelong.loyalty.earning import loyalty_earn
from lifelong.loyalty.holds import hold_cancel, hold_confirm, hold_reserve
from lifelong.loyalty.ledger import NotEnoughPoints
from lifelong.loyalty.models import Account, Lot, Transaction, TxKind
from lifelong.loyalty.services import points_award, points_redeem
from lifelong.loyalty.status import loyalty_status
from lifelong.loyalty.sweeps import loyalty_expire_due, loyalty_release_pending
from lifelong.loyalty.tests.helpers import order_paid, order_status, programme_start

STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("order"), st.sampled_from(["990", "2500", "12400"])),
        st.tuples(st.just("award"), st.integers(1, 300)),
        st.tuples(st.just("redeem"), st.integers(1, 300)),
        st.tuples(st.just("hold"), st.integers(1, 200), st.integers(0, 200)),
        st.tuples(st.just("cancel"), st.integers(0, 5)),
        st.tuples(st.just("days"), st.sampled_from([1, 15, 100, 400])),
    ),
    max_size=12,
)


class TestHistoryAddsUp(TestCase):
    @settings(max_examples=30, suppress_health_check=[HealthCheck.too_slow])
    @given(steps=STEPS)
    def test_the_history_sums_to_the_balances(self, steps):
        with time_machine.travel(FROZEN_AT, tick=False) as clock:
            programme_start(pending_days=14, expiry_months=12)
            anna = CustomerFactory.create()
            orders = []
            for n, step in enumerate(steps):
                kind = step[0]
                if kind == "order":
                    orders.append(order_paid(anna, f"Z-{n}", step[1]))
                    loyalty_earn()
                elif kind == "award":
                    points_award(customer_id=anna.pk, points=step[1], key=f"a{n}")
                elif kind == "redeem":
                    with contextlib.suppress(NotEnoughPoints):
                        points_redeem(customer_id=anna.pk, points=step[1], key=f"r{n}")
                elif kind == "hold":
                    try:
                        hold = hold_reserve(
                            customer_id=anna.pk,
                            order_external_id=f"H-{n}",
                            points=step[1],
                            timeout_seconds=600,
                        )
                    except NotEnoughPoints:
                        continue
                    if step[2]:
                        hold_confirm(hold_id=hold.pk, points=min(step[1], step[2]))
                    else:
                        hold_cancel(hold_id=hold.pk)
                elif kind == "cancel" and orders:
                    order_status(orders[step[1] % len(orders)], "cancelled")
                    loyalty_earn()
                elif kind == "days":
                    clock.shift(dt.timedelta(days=step[1]))
                    loyalty_release_pending()
                    loyalty_expire_due()

            found = loyalty_status(customer_id=anna.pk, history_limit=10_000)
            account = Account.objects.filter(customer=anna).first()
            own = account.available + account.pending + account.held if account else 0
            assert sum(change.points for change in found.history) == own
            assert sum(change.status_points for change in found.history) == (
                account.status if account else 0
            )
            assert len(found.history) == Transaction.objects.filter(customer=anna).count()
            for change in found.history:
                if change.kind in (TxKind.RELEASE, TxKind.HOLD, TxKind.UNHOLD):
                    assert change.points == 0 and change.moved > 0
            # The lots the page lists are the ledger's own, point for point.
            pending = Lot.objects.filter(customer=anna, released=False, remaining__gt=0)
            assert sum(lot.points for lot in found.pending_lots) == sum(
                lot.remaining for lot in pending
            )
            assert found.pending == sum(lot.points for lot in found.pending_lots)
            assert all(lot.points > 0 for lot in (*found.pending_lots, *found.expiring))
