"""Tier properties over random histories: orders, cancellations, status points, manual tiers,
time passing and sweeps run or skipped, for three customers at once."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifelong import clock
from lifelong.conftest import FROZEN_AT
from lifelong.events.models import Event
from lifelong.factories import CustomerFactory, UserFactory
from lifelong.loyalty.models import Cursor, CustomerTier, Tier
from lifelong.loyalty.services import points_award
from lifelong.loyalty.tests.helpers import order_paid, order_status
from lifelong.loyalty.tier_sweeps import loyalty_tiers_recheck, loyalty_tiers_review
from lifelong.loyalty.tiers import (
    Ladder,
    tier_qualified,
    tier_set_manual,
    tiers_current,
)

pytestmark = pytest.mark.django_db

operation = st.one_of(
    st.tuples(st.just("order"), st.integers(0, 2), st.integers(100, 9000)),
    st.tuples(st.just("cancel"), st.integers(0, 2), st.just(0)),
    st.tuples(st.just("status"), st.integers(0, 2), st.integers(1, 80)),
    st.tuples(st.just("manual"), st.integers(0, 2), st.integers(1, 60)),
    st.tuples(st.just("days"), st.just(0), st.sampled_from([1, 7, 20, 45])),
    st.tuples(st.just("sweep"), st.just(0), st.just(0)),
)


def _ladder() -> dict[str, Tier]:
    tiers = [
        Tier(slug="novichok", name="Новичок", position=1),
        Tier(slug="znatok", name="Знаток", position=2, min_orders=2, min_status_points=100),
        Tier(slug="ekspert", name="Эксперт", position=3, min_spend=Decimal("15000")),
        Tier(slug="guru", name="Гуру", position=4, min_orders=1, invitation_only=True),
    ]
    Tier.objects.bulk_create(tiers)
    return {t.slug: Tier.objects.get(slug=t.slug) for t in tiers}


def _rows() -> dict[int, tuple[object, ...]]:
    return {
        r.customer_id: (r.tier_id, r.since, r.review_at, r.manual_tier_id, r.shown, r.changes)
        for r in CustomerTier.objects.all()
    }


@settings(
    max_examples=40,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(operations=st.lists(operation, min_size=1, max_size=25))
def test_tier_rules_hold_through_random_histories(operations):
    with time_machine.travel(FROZEN_AT, tick=False) as traveller, transaction.atomic():
        tiers = _ladder()
        ladder = Ladder()
        staff = UserFactory.create()
        customers = [c.pk for c in CustomerFactory.create_batch(3)]
        orders: dict[int, list] = {pk: [] for pk in customers}
        for n, (kind, who, value) in enumerate(operations):
            pk = customers[who]
            before = {r.customer_id: r for r in CustomerTier.objects.all()}
            if kind == "order":
                customer = CustomerFactory._meta.model.objects.get(pk=pk)
                orders[pk].append(order_paid(customer, f"O-{n}", str(value)))
            elif kind == "cancel" and orders[pk]:
                order_status(orders[pk].pop(0), "cancelled")
            elif kind == "status":
                points_award(customer_id=pk, points=0, status_points=value, key=f"s{n}")
            elif kind == "manual":
                tier_set_manual(
                    customer_id=pk,
                    tier=tiers["guru"] if value % 2 else tiers["znatok"],
                    until=clock.now() + dt.timedelta(days=value),
                    actor=staff,
                    reason="test",
                )
            elif kind == "days":
                traveller.shift(dt.timedelta(days=value))
            elif kind == "sweep":
                loyalty_tiers_review()
                qualified = tier_qualified(customer_ids=customers)
                current = tiers_current(customer_ids=customers)
                after = {r.customer_id: r for r in CustomerTier.objects.all()}
                for cid in customers:
                    row, old = after.get(cid), before.get(cid)
                    held = ladder.held(row)
                    # Up at once: nobody holds less than they qualify for after a sweep.
                    assert _pos(held) >= _pos(qualified[cid])
                    # Invitation-only tiers are never reached by qualification.
                    assert held is None or not held.invitation_only
                    # Down only once the review date came.
                    if old is not None and _pos(held) < _pos(ladder.held(old)):
                        assert old.review_at is not None and old.review_at <= clock.now()
                    # A manual tier past its date is gone.
                    if row is not None and row.manual_until is not None:
                        assert row.manual_until > clock.now()
                    # The tier held is the one last announced.
                    assert (current[cid].slug if current[cid] else "") == (
                        row.shown if row else "novichok"
                    )
        # Every manual tier lapses at its date, with its announcement.
        traveller.shift(dt.timedelta(days=61))
        loyalty_tiers_review()
        assert not CustomerTier.objects.filter(manual_tier__isnull=False).exists()
        # Each customer's events chain from the entry level, one per change, keyed by its
        # number; reading the history again and the daily recheck change nothing.
        for cid in customers:
            events = list(Event.objects.filter(customer_id=cid, type="tier_changed").order_by("pk"))
            assert [e.idempotency_key for e in events] == [
                f"tier_changed:{cid}:{i}" for i in range(1, len(events) + 1)
            ]
            chain = ["novichok"] + [e.properties["to"] for e in events]
            assert [e.properties["from"] for e in events] == chain[:-1]
        settled = _rows()
        Cursor.objects.filter(name__startswith="tiers.").update(last_event_id=0)
        assert loyalty_tiers_review() == 0
        assert loyalty_tiers_recheck() == 0
        assert _rows() == settled
        transaction.set_rollback(True)


def _pos(tier: Tier | None) -> int:
    return tier.position if tier is not None else -1
