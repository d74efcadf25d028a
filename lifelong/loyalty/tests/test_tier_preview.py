"""The tier editor's preview counts what the tier sweep's qualification decides, in one query."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from lifelong.accounts.models import AuditLog
from lifelong.commerce.models import OrderStatus
from lifelong.customers.models import Customer
from lifelong.factories import CustomerFactory, OrderFactory, UserFactory
from lifelong.loyalty.models import Tier
from lifelong.loyalty.services import points_award
from lifelong.loyalty.tier_editor import NO_TIER, tier_holders, tier_save, tiers_preview
from lifelong.loyalty.tiers import tier_qualified, tiers_refresh

FROZEN = dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC)


def _ladder() -> list[Tier]:
    return [
        Tier(slug="novichok", name="Новичок", position=1),
        Tier(slug="znatok", name="Знаток", position=2, min_orders=2, min_spend=Decimal("10000")),
        Tier(
            slug="ekspert",
            name="Эксперт",
            position=3,
            min_spend=Decimal("30000.50"),
            min_status_points=500,
        ),
        Tier(slug="guru", name="Гуру", position=4, min_spend=Decimal(1), invitation_only=True),
    ]


def _expected(tiers: list[Tier]) -> Counter[int]:
    """The tier sweep's own answer, customer by customer, as preview indexes."""
    ids = list(Customer.objects.live().values_list("pk", flat=True))
    index = {t.slug: i for i, t in enumerate(tiers)}
    return Counter(
        NO_TIER if tier is None else index[tier.slug]
        for tier in tier_qualified(customer_ids=ids).values()
    )


@pytest.mark.django_db
def test_the_preview_counts_each_tier_in_one_query(time_machine):
    time_machine.move_to(FROZEN, tick=False)
    tiers = _ladder()
    for tier in tiers:
        tier.save()
    rich, regular, active, idle = CustomerFactory.create_batch(4)
    OrderFactory.create(customer=rich, total=Decimal("30000.50"))
    OrderFactory.create_batch(2, customer=regular, total=Decimal("100"))
    # Cancelled orders, and orders before the window (12 months), do not count.
    OrderFactory.create_batch(3, customer=idle, total=Decimal("900"), status=OrderStatus.CANCELLED)
    OrderFactory.create(customer=idle, total=Decimal("90000"), placed_at=FROZEN.replace(2024))
    points_award(customer_id=active.pk, points=0, status_points=500, key="review:1")
    with CaptureQueriesContext(connection) as queries:
        counts = tiers_preview(tiers=tiers)
    assert counts == {0: 1, 1: 1, 2: 2}
    assert counts == dict(_expected(tiers))
    assert len([q for q in queries.captured_queries if "COUNT" in q["sql"]]) == 1


@pytest.mark.django_db
def test_a_draft_threshold_moves_the_counts_before_anything_is_saved(time_machine):
    time_machine.move_to(FROZEN, tick=False)
    tiers = _ladder()
    for customer in CustomerFactory.create_batch(3):
        OrderFactory.create(customer=customer, total=Decimal("5000"))
    assert tiers_preview(tiers=tiers) == {0: 3}
    tiers[1].min_orders = 1
    assert tiers_preview(tiers=tiers) == {1: 3}
    tiers[1].active = False
    assert tiers_preview(tiers=tiers) == {0: 3}
    assert not Tier.objects.exists()


@pytest.mark.django_db
def test_without_an_entry_level_some_customers_have_no_tier(time_machine):
    time_machine.move_to(FROZEN, tick=False)
    tiers = _ladder()[1:]
    CustomerFactory.create_batch(2)
    assert tiers_preview(tiers=tiers) == {NO_TIER: 2}
    assert tiers_preview(tiers=[]) == {NO_TIER: 2}


@pytest.mark.django_db
def test_holders_are_counted_as_the_sweep_announced_them(time_machine):
    time_machine.move_to(FROZEN, tick=False)
    tiers = _ladder()
    for tier in tiers:
        tier.save()
    buyer, *others = CustomerFactory.create_batch(3)
    OrderFactory.create_batch(2, customer=buyer, total=Decimal("100"))
    tiers_refresh(customer_ids=[buyer.pk, others[0].pk])
    assert tier_holders(tiers=tiers) == {"znatok": 1, "novichok": 2}


@pytest.mark.django_db
def test_saving_a_tier_is_audited_with_its_changes():
    owner = UserFactory.create(username="owner")
    values = {
        "slug": "znatok",
        "name": "Знаток",
        "colour": "#1f6feb",
        "position": 2,
        "min_orders": 2,
        "min_spend": Decimal("10000"),
        "min_status_points": 0,
        "invitation_only": False,
        "earn_multiplier": Decimal("1"),
        "privileges": ["early_access"],
        "active": True,
    }
    tier = tier_save(tier=None, values=values, actor=owner)
    tier_save(tier=tier, values={**values, "min_orders": 3}, actor=owner)
    tier_save(tier=tier, values={**values, "min_orders": 3}, actor=owner)  # no change, no line
    logs = list(AuditLog.objects.order_by("pk").values_list("action", "changes"))
    assert [action for action, _changes in logs] == ["loyalty.tier.create", "loyalty.tier.update"]
    assert logs[1][1] == {"min_orders": {"from": "2", "to": "3"}}
    with pytest.raises(ValidationError) as refused:
        tier_save(tier=tier, values={"privileges": ["free_money"]}, actor=owner)
    assert set(refused.value.message_dict) == {"privileges"}


class TestPreviewAgreesWithTheSweep(TestCase):
    """Random customers and thresholds: the one-query preview equals per-customer qualification."""

    @settings(max_examples=25, suppress_health_check=[HealthCheck.too_slow])
    @given(
        customers=st.lists(
            st.tuples(
                st.lists(st.integers(1, 20_000), max_size=4),  # order totals
                st.integers(0, 900),  # status points
            ),
            min_size=1,
            max_size=8,
        ),
        thresholds=st.lists(
            st.tuples(st.integers(0, 600), st.integers(0, 40_000), st.integers(0, 4)),
            min_size=1,
            max_size=4,
        ),
        invite=st.integers(0, 3),
    )
    def test_same_counts(self, customers, thresholds, invite):
        with time_machine.travel(FROZEN, tick=False):
            tiers = [
                Tier(
                    slug=f"t{i}",
                    name=f"T{i}",
                    position=i + 1,
                    min_status_points=p,
                    min_spend=Decimal(s),
                    min_orders=n,
                    invitation_only=i == invite,
                )
                for i, (p, s, n) in enumerate(thresholds)
            ]
            for tier in tiers:
                tier.save()
            for n, (totals, status) in enumerate(customers):
                customer = CustomerFactory.create()
                for total in totals:
                    OrderFactory.create(customer=customer, total=Decimal(total) / 10)
                if status:
                    points_award(
                        customer_id=customer.pk, points=0, status_points=status, key=f"s{n}"
                    )
            assert tiers_preview(tiers=tiers) == dict(_expected(tiers))
