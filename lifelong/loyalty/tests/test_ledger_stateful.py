"""Random sequences of loyalty operations against a plain in-memory model of lots.

The machine drives the real paths (orders and refunds through commerce services, events
through the event log, the earning, release and expiry sweeps, redeem) and after every step
checks that each customer's balances equal the model's, that every transaction sums to zero
and that every cached balance and lot equals its entries (`ledger_verify`).

Tiers: the `tier_review` rule runs the tier sweeps (after a replay of their cursors, now and
then) and compares every customer's tier with a model that knows only the rules of
docs/loyalty.md, "Tiers": the highest tier the window's orders, spend and status points reach;
up at once; down only once `review_at` (one window plus the grace after the last
qualification) has come; one `tier_changed` event per change. Purchases earn at the tier's
multiplier (Эксперт: 1.5), so the model's earn follows the model's tier.

Holds: the checkout API adds rules here (reserve -> `held` in the model, confirm for less,
release, time-out), each moving points between the model's lots and `held` the way
ledger.py's "Holds" section says; `Model.balances` already reports `held`.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
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

from lifelong.commerce.models import Order
from lifelong.commerce.services import LineInput, order_upsert, refund_record
from lifelong.conftest import FROZEN_AT
from lifelong.customers.models import Customer
from lifelong.events.models import Event
from lifelong.events.services import event_record
from lifelong.factories import CustomerFactory
from lifelong.loyalty.earning import loyalty_earn
from lifelong.loyalty.ledger import NotEnoughPoints
from lifelong.loyalty.models import (
    Account,
    Cursor,
    DebtPolicy,
    EarningRule,
    RuleKind,
    Tier,
    Transaction,
)
from lifelong.loyalty.services import months_add, points_redeem
from lifelong.loyalty.sweeps import loyalty_expire_due, loyalty_release_pending
from lifelong.loyalty.tests.helpers import programme_start
from lifelong.loyalty.tier_sweeps import loyalty_tiers_recheck, loyalty_tiers_review
from lifelong.loyalty.tiers import tiers_current
from lifelong.loyalty.verify import ledger_verify

PENDING = dt.timedelta(days=14)
# The tier ladder of the machine: position -> (slug, orders, status points, spend, multiplier).
# A one-month window and five days' grace, so reviews come within a run.
LADDER = {
    1: ("novichok", 0, 0, 0, Decimal(1)),
    2: ("znatok", 3, 60, 0, Decimal(1)),
    3: ("ekspert", 0, 0, 20000, Decimal("1.5")),
}
TIER_GRACE = dt.timedelta(days=5)
REVIEW_POINTS, REVIEW_STATUS, CAP, CAP_DAYS = 50, 5, 2, 30
FAR = dt.datetime.max.replace(tzinfo=dt.UTC)


@dataclass
class MLot:
    id: int
    points: int
    remaining: int
    released: bool
    pending_until: dt.datetime
    expires_at: dt.datetime
    expired: int = 0


@dataclass
class MOrder:
    customer: int
    total: int
    lot: MLot | None = None
    refunded: int = 0
    taken: int = 0
    status_taken: int = 0
    drawn: dict[int, int] = field(default_factory=dict)
    given_back: dict[int, int] = field(default_factory=dict)
    closed: bool = False
    placed_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(tz=dt.UTC))


@dataclass
class MCustomer:
    lots: list[MLot] = field(default_factory=list)
    debt: int = 0
    shortfall: int = 0
    awards: list[dt.datetime] = field(default_factory=list)
    # Status points as dated changes, so the tier model can sum a window.
    status_log: list[tuple[dt.datetime, int]] = field(default_factory=list)
    # The model's tier: position, review date, changes announced.
    tier: int = 1
    review_at: dt.datetime | None = None
    tier_changes: int = 0

    @property
    def status(self) -> int:
        return sum(points for _at, points in self.status_log)

    @status.setter
    def status(self, value: int) -> None:
        self.status_log.append((dt.datetime.now(tz=dt.UTC), value - self.status))

    def open_lots(self, *, released: bool) -> list[MLot]:
        found = [lot for lot in self.lots if lot.released == released and lot.remaining > 0]
        return sorted(found, key=lambda lot: (lot.expires_at, lot.id))

    def balances(self) -> tuple[int, int, int, int]:
        """(available, pending, held, status), as the account caches them."""
        available = sum(lot.remaining for lot in self.lots if lot.released) - self.debt
        pending = sum(lot.remaining for lot in self.lots if not lot.released)
        return (available, pending, 0, self.status)


def share(earned: int, refunded: int, total: int) -> int:
    return earned if refunded >= total else earned * refunded // total


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.atomic = transaction.atomic()
        self.atomic.__enter__()
        self.clock = time_machine.travel(FROZEN_AT, tick=False)
        self.traveller = self.clock.start()
        self.model: dict[int, MCustomer] = {}
        self.orders: dict[str, MOrder] = {}
        self.lot_ids = 0
        self.sequence = 0

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self.atomic.__exit__(None, None, None)
        self.clock.stop()

    @property
    def now(self) -> dt.datetime:
        return dt.datetime.now(tz=dt.UTC)

    @initialize(debt=st.booleans())
    def start(self, debt: bool) -> None:
        self.policy = DebtPolicy.DEBT if debt else DebtPolicy.CAP
        programme_start(
            expiry_months=1,
            pending_days=14,
            debt_policy=self.policy,
            tier_window_months=1,
            tier_grace_days=TIER_GRACE.days,
        )
        for position, (slug, orders, status, spend, multiplier) in LADDER.items():
            Tier.objects.create(
                slug=slug,
                name=slug,
                position=position,
                min_orders=orders,
                min_status_points=status,
                min_spend=Decimal(spend),
                earn_multiplier=multiplier,
            )
        # Never reached by qualification, however much is spent.
        Tier.objects.create(
            slug="guru", name="guru", position=9, min_orders=1, invitation_only=True
        )
        EarningRule.objects.create(
            kind=RuleKind.EVENT,
            name="review",
            event_type="review_posted",
            points=REVIEW_POINTS,
            status_points=REVIEW_STATUS,
            cap_count=CAP,
            cap_days=CAP_DAYS,
        )
        self.customers = CustomerFactory.create_batch(2)
        self.model = {c.pk: MCustomer() for c in self.customers}

    def _lot(self, customer: MCustomer, points: int, *, pending: bool) -> MLot:
        self.lot_ids += 1
        lot = MLot(
            id=self.lot_ids,
            points=points,
            remaining=points,
            released=not pending,
            pending_until=self.now + PENDING,
            expires_at=months_add(self.now, 1),
        )
        customer.lots.append(lot)
        repay = min(customer.debt, points)
        lot.remaining -= repay
        customer.debt -= repay
        return lot

    def _earned(self, customer_id: int, paid: int) -> int:
        """A purchase's points at the rate of 1 per 100 roubles times the tier's multiplier,
        rounded down once."""
        multiplier = LADDER[self.model[customer_id].tier][4]
        return int(paid * multiplier // 100)

    def _draw(self, customer: MCustomer, points: int, drawn: dict[int, int]) -> int:
        taken = 0
        for lot in customer.open_lots(released=True):
            n = min(lot.remaining, points - taken)
            lot.remaining -= n
            drawn[lot.id] = drawn.get(lot.id, 0) + n
            taken += n
            if taken == points:
                break
        return taken

    # -- the operations --------------------------------------------------------------------

    @rule(who=st.integers(0, 1), amount=st.integers(50, 9000), burn=st.integers(0, 60))
    def order_paid(self, who: int, amount: int, burn: int) -> None:
        customer = self.customers[who]
        mc = self.model[customer.pk]
        self.sequence += 1
        external_id = f"O-{self.sequence}"
        order = _order(customer, external_id, amount, "placed")
        mo = MOrder(customer=customer.pk, total=amount)
        burn = min(burn, max(0, mc.balances()[0]), amount)
        if burn:
            points_redeem(
                customer_id=customer.pk, points=burn, key=f"burn:{external_id}", order_id=order.pk
            )
            self._draw(mc, burn, mo.drawn)
        _order(customer, external_id, amount, "paid")
        loyalty_earn()
        earned = self._earned(customer.pk, amount - burn)
        if earned:
            mo.lot = self._lot(mc, earned, pending=True)
            mc.status += earned
        self.orders[external_id] = mo

    @rule(who=st.integers(0, 1), points=st.integers(1, 80))
    def redeem(self, who: int, points: int) -> None:
        customer = self.customers[who]
        mc = self.model[customer.pk]
        self.sequence += 1
        if mc.balances()[0] < points:
            with pytest.raises(NotEnoughPoints):
                points_redeem(customer_id=customer.pk, points=points, key=f"r{self.sequence}")
            return
        points_redeem(customer_id=customer.pk, points=points, key=f"r{self.sequence}")
        self._draw(mc, points, {})

    @rule(who=st.integers(0, 1))
    def review(self, who: int) -> None:
        customer = self.customers[who]
        mc = self.model[customer.pk]
        self.sequence += 1
        event_record(customer=customer, type="review_posted", idempotency_key=f"e{self.sequence}")
        loyalty_earn()
        since = self.now - dt.timedelta(days=CAP_DAYS)
        if sum(1 for at in mc.awards if since < at <= self.now) < CAP:
            mc.awards.append(self.now)
            self._lot(mc, REVIEW_POINTS, pending=False)
            mc.status += REVIEW_STATUS

    # Big steps too: a lot's month runs out within a few of them. The sweeps run on their
    # schedules in production; here each may or may not have run when the next step comes.
    @rule(days=st.sampled_from([1, 5, 15, 32]), release=st.booleans(), expire=st.booleans())
    def time_passes(self, days: int, release: bool, expire: bool) -> None:
        self.traveller.shift(dt.timedelta(days=days))
        if release:
            self._release()
        if expire:
            self._expire()

    def _release(self) -> None:
        loyalty_release_pending()
        for mc in self.model.values():
            for lot in mc.lots:
                if not lot.released and lot.pending_until <= self.now:
                    lot.released = True

    def _expire(self) -> None:
        loyalty_expire_due()
        for mc in self.model.values():
            for lot in mc.lots:
                if lot.remaining > 0 and lot.expires_at <= self.now:
                    lot.expired += lot.remaining
                    lot.remaining = 0

    @precondition(lambda self: any(not o.closed for o in self.orders.values()))
    @rule(data=st.data(), cancel=st.booleans())
    def cancel_or_refund_fully(self, data: st.DataObject, cancel: bool) -> None:
        external_id = data.draw(st.sampled_from(sorted(self._open_orders())))
        mo = self.orders[external_id]
        order = Order.objects.get(external_id=external_id)
        if cancel:
            _order(order.customer, external_id, mo.total, "cancelled")
        else:
            refund_record(
                external_id=f"{external_id}-all",
                order=order,
                amount=Decimal(mo.total - mo.refunded),
            )
        loyalty_earn()
        self._reverse(mo, mo.total)
        mo.closed = True

    @precondition(lambda self: any(not o.closed for o in self.orders.values()))
    @rule(data=st.data())
    def refund_partly(self, data: st.DataObject) -> None:
        external_id = data.draw(st.sampled_from(sorted(self._open_orders())))
        mo = self.orders[external_id]
        amount = data.draw(st.integers(1, mo.total - mo.refunded))
        self.sequence += 1
        order = Order.objects.get(external_id=external_id)
        refund_record(external_id=f"R-{self.sequence}", order=order, amount=Decimal(amount))
        loyalty_earn()
        mo.refunded += amount
        self._reverse(mo, mo.refunded)
        mo.closed = mo.refunded == mo.total

    @rule()
    def replay_the_event_log(self) -> None:
        Cursor.objects.filter(name="earning").update(last_event_id=0)
        loyalty_earn()

    @rule(replay=st.booleans())
    def tier_review(self, replay: bool) -> None:
        if replay:
            Cursor.objects.filter(name__startswith="tiers.").update(last_event_id=0)
        loyalty_tiers_review()
        # The daily pass: it lifts whoever reaches a higher tier by time alone (a refund's
        # negative status points leaving the window).
        loyalty_tiers_recheck()
        now = self.now
        for pk, mc in self.model.items():
            reached = self._tier_reached(pk)
            if reached > mc.tier or (mc.review_at is not None and mc.review_at <= now):
                if reached != mc.tier:
                    mc.tier_changes += 1
                mc.tier = reached
                mc.review_at = months_add(now, 1) + TIER_GRACE

    def _tier_reached(self, customer_id: int) -> int:
        since = months_add(self.now, -1)
        counted = [
            o
            for o in self.orders.values()
            if o.customer == customer_id and not o.closed and since < o.placed_at <= self.now
        ]
        spend = sum(o.total - o.refunded for o in counted)
        status = sum(p for at, p in self.model[customer_id].status_log if since < at <= self.now)
        reached = 1
        for position, (_slug, orders, points, least, _multiplier) in LADDER.items():
            if (
                (orders and len(counted) >= orders)
                or (points and max(0, status) >= points)
                or (least and spend >= least)
            ):
                reached = position
        return reached

    def _open_orders(self) -> list[str]:
        return [k for k, o in self.orders.items() if not o.closed and o.refunded < o.total]

    def _reverse(self, mo: MOrder, refunded: int) -> None:
        mc = self.model[mo.customer]
        if mo.lot is not None:
            lot = mo.lot
            target = min(share(lot.points, refunded, mo.total), lot.points - lot.expired)
            due = target - mo.taken
            if due > 0:
                own = min(due, lot.remaining)
                lot.remaining -= own
                rest = due - own
                rest -= self._draw(mc, rest, {})
                if self.policy == DebtPolicy.DEBT:
                    mc.debt += rest
                else:
                    mc.shortfall += rest
                mo.taken += due
            status_due = share(lot.points, refunded, mo.total) - mo.status_taken
            if status_due > 0:
                mc.status -= status_due
                mo.status_taken += status_due
        burned = sum(mo.drawn.values())
        due = share(burned, refunded, mo.total) - sum(mo.given_back.values())
        lots = {lot.id: lot for lot in mc.lots}
        by_expiry = sorted(
            (lots[i] for i, n in mo.drawn.items() if n - mo.given_back.get(i, 0) > 0),
            key=lambda lot: (lot.expires_at, lot.id),
        )
        for lot in reversed(by_expiry):
            if due <= 0:
                break
            n = min(due, mo.drawn[lot.id] - mo.given_back.get(lot.id, 0))
            mo.given_back[lot.id] = mo.given_back.get(lot.id, 0) + n
            due -= n
            if lot.released and lot.expires_at <= self.now:
                lot.expired += n
            else:
                lot.remaining += n

    @invariant()
    def balances_match_the_model_and_the_ledger_is_consistent(self) -> None:
        if not self.model:
            return
        for customer in self.customers:
            account = Account.objects.filter(customer=customer).first()
            got = (
                (account.available, account.pending, account.held, account.status)
                if account
                else (0, 0, 0, 0)
            )
            assert got == self.model[customer.pk].balances()
            shortfall = Transaction.objects.filter(customer=customer).aggregate(s=Sum("shortfall"))[
                "s"
            ]
            assert (shortfall or 0) == self.model[customer.pk].shortfall
        report = ledger_verify()
        assert report.ok, report.lines()

    @invariant()
    def tiers_match_the_model_with_one_event_per_change(self) -> None:
        if not self.model:
            return
        tiers = tiers_current(customer_ids=list(self.model))
        for pk, mc in self.model.items():
            tier = tiers[pk]
            assert tier is not None and tier.slug == LADDER[mc.tier][0]
            events = list(
                Event.objects.filter(customer_id=pk, type="tier_changed")
                .order_by("pk")
                .values_list("properties", flat=True)
            )
            assert len(events) == mc.tier_changes
            chain = ["novichok"] + [e["to"] for e in events]
            assert [e["from"] for e in events] == chain[:-1]


def _order(customer: Customer, external_id: str, amount: int, status: str) -> Order:
    now = dt.datetime.now(tz=dt.UTC)
    order, _created = order_upsert(
        external_id=external_id,
        customer=customer,
        total=Decimal(amount),
        placed_at=now,
        status=status,
        paid_at=now if status == "paid" else None,
        lines=[LineInput(sku="MAT", quantity=1, price=Decimal(amount))],
    )
    return order


def stateful_settings(*, examples: int) -> settings:
    """`examples` sequences of 30 steps, or as many as LIFELONG_STATEFUL_EXAMPLES asks: CI runs
    both machines once more at scale (.ci/run)."""
    return settings(
        max_examples=int(os.environ.get("LIFELONG_STATEFUL_EXAMPLES") or examples),
        stateful_step_count=int(os.environ.get("LIFELONG_STATEFUL_STEPS") or 30),
        suppress_health_check=[HealthCheck.too_slow],
    )


@pytest.mark.django_db
def test_the_ledger_follows_the_model_through_random_sequences():
    run_state_machine_as_test(LedgerMachine, settings=stateful_settings(examples=50))
