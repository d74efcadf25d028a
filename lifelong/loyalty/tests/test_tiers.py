"""Tiers: qualification over the window, up at once, down only at review, manual tiers, events."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from lifelong import clock
from lifelong.accounts.models import AuditLog
from lifelong.events.models import Event
from lifelong.factories import CustomerFactory
from lifelong.loyalty.earning import loyalty_earn
from lifelong.loyalty.models import Cursor, CustomerTier, Programme, Tier, Transaction
from lifelong.loyalty.privileges import PRIVILEGES
from lifelong.loyalty.services import months_add, points_award
from lifelong.loyalty.tests.helpers import (
    assert_consistent,
    order_paid,
    order_status,
    programme_start,
    refund,
)
from lifelong.loyalty.tier_sweeps import loyalty_tiers_recheck, loyalty_tiers_review
from lifelong.loyalty.tiers import (
    TierError,
    tier_current,
    tier_progress,
    tier_qualified,
    tier_set_manual,
    tiers_current,
    tiers_refresh,
)

pytestmark = pytest.mark.django_db


def ladder_create() -> dict[str, Tier]:
    """Новичок for everyone; Знаток at 2 orders or 10 000 ₽; Эксперт at 30 000 ₽ or 500
    status points; Гуру by invitation."""
    rows = [
        Tier(slug="novichok", name="Новичок", colour="#8c959f", position=1),
        Tier(
            slug="znatok",
            name="Знаток",
            colour="#1f6feb",
            position=2,
            min_orders=2,
            min_spend=Decimal("10000"),
            privileges=["early_access"],
        ),
        Tier(
            slug="ekspert",
            name="Эксперт",
            colour="#8250df",
            position=3,
            min_spend=Decimal("30000"),
            min_status_points=500,
            earn_multiplier=Decimal("1.5"),
            privileges=["early_access", "free_express_delivery"],
        ),
        Tier(
            slug="guru",
            name="Гуру",
            colour="#bf8700",
            position=4,
            min_spend=Decimal("1"),
            invitation_only=True,
            privileges=list(PRIVILEGES),
        ),
    ]
    for tier in rows:
        tier.full_clean()
        tier.save()
    return {t.slug: t for t in rows}


def slug(customer_id: int) -> str:
    tier = tier_current(customer_id=customer_id)
    return tier.slug if tier else ""


def changes(customer_id: int) -> list[tuple[str, str, str]]:
    return [
        (e.properties["from"], e.properties["to"], e.properties["direction"])
        for e in Event.objects.filter(customer_id=customer_id, type="tier_changed").order_by("pk")
    ]


def test_everyone_starts_at_the_entry_level_and_goes_up_at_once(frozen_time):
    ladder_create()
    anna = CustomerFactory.create()
    assert slug(anna.pk) == "novichok"
    order_paid(anna, "O-1", "4000")
    loyalty_tiers_review()
    assert slug(anna.pk) == "novichok"
    assert changes(anna.pk) == []
    order_paid(anna, "O-2", "1500")  # the second order: Знаток
    loyalty_tiers_review()
    assert slug(anna.pk) == "znatok"
    assert changes(anna.pk) == [("novichok", "znatok", "up")]
    row = CustomerTier.objects.get(customer=anna)
    assert row.since == row.qualified_at == clock.now()
    assert row.review_at == months_add(clock.now(), 12) + dt.timedelta(days=30)
    # Sweeping again, or reading the whole log again, announces nothing new.
    assert loyalty_tiers_review() == 0
    # The cursor has moved past every event, the sweep's own tier_changed among them, so
    # idle runs read nothing again.
    newest = Event.objects.order_by("-pk").values_list("pk", flat=True)[0]
    assert Cursor.objects.get(name="tiers.events").last_event_id == newest
    Cursor.objects.filter(name__startswith="tiers.").update(last_event_id=0)
    assert loyalty_tiers_review() == 0
    assert loyalty_tiers_recheck() == 0
    assert len(changes(anna.pk)) == 1


def test_a_big_order_jumps_two_tiers_with_one_event(frozen_time):
    ladder_create()
    anna = CustomerFactory.create()
    order_paid(anna, "O-1", "31000")
    tiers_refresh(customer_ids=[anna.pk])
    assert slug(anna.pk) == "ekspert"
    assert changes(anna.pk) == [("novichok", "ekspert", "up")]


def test_no_downgrade_before_the_review_date_then_down_to_what_they_qualify_for(frozen_time):
    ladder_create()
    anna = CustomerFactory.create()
    order_paid(anna, "O-1", "12000")
    loyalty_tiers_review()
    assert slug(anna.pk) == "znatok"
    review_at = CustomerTier.objects.get(customer=anna).review_at
    assert review_at is not None
    # A cancellation takes the spend away, but the tier stays until the review.
    order_status(Order_of(anna), "cancelled")
    loyalty_tiers_review()
    assert slug(anna.pk) == "znatok"
    frozen_time.move_to(review_at - dt.timedelta(seconds=1))
    loyalty_tiers_review()
    loyalty_tiers_recheck()
    assert slug(anna.pk) == "znatok"
    frozen_time.move_to(review_at)
    assert loyalty_tiers_review() == 1
    assert slug(anna.pk) == "novichok"
    assert changes(anna.pk) == [("novichok", "znatok", "up"), ("znatok", "novichok", "down")]
    assert CustomerTier.objects.get(customer=anna).review_at is not None  # the entry's review


def Order_of(customer):
    from lifelong.commerce.models import Order

    return Order.objects.get(customer=customer)


def test_activity_in_the_grace_period_keeps_the_tier(frozen_time):
    ladder_create()
    anna = CustomerFactory.create()
    order_paid(anna, "O-1", "12000")
    loyalty_tiers_review()
    review_at = CustomerTier.objects.get(customer=anna).review_at
    # The window has rolled past the order at the anniversary; within the grace she buys twice.
    frozen_time.move_to(review_at - dt.timedelta(days=10))
    order_paid(anna, "O-2", "500")
    order_paid(anna, "O-3", "500")
    loyalty_tiers_review()
    frozen_time.move_to(review_at)
    loyalty_tiers_review()
    assert slug(anna.pk) == "znatok"
    row = CustomerTier.objects.get(customer=anna)
    assert row.review_at == months_add(review_at, 12) + dt.timedelta(days=30)
    assert changes(anna.pk) == [("novichok", "znatok", "up")]


def test_spend_leaves_out_refunds_cancellations_and_orders_outside_the_window(frozen_time):
    ladder_create()
    anna = CustomerFactory.create()
    old = order_paid(anna, "O-0", "20000")
    frozen_time.shift(dt.timedelta(days=400))
    order_paid(anna, "O-1", "9000")
    cancelled = order_paid(anna, "O-2", "5000")
    order_status(cancelled, "cancelled")
    refund(order_paid(anna, "O-3", "2000"), "R-1", "1500")
    assert old.placed_at < clock.now() - dt.timedelta(days=366)
    progress = tier_progress(customer_id=anna.pk)
    assert (progress.orders, progress.spend) == (2, Decimal("9500"))
    assert tier_qualified(customer_ids=[anna.pk])[anna.pk].slug == "znatok"  # two orders


def test_status_points_count_by_the_date_of_their_transaction(frozen_time):
    programme_start()
    ladder_create()
    anna = CustomerFactory.create()
    points_award(customer_id=anna.pk, points=0, status_points=300, key="a1")
    frozen_time.shift(dt.timedelta(days=200))
    points_award(customer_id=anna.pk, points=0, status_points=200, key="a2")
    loyalty_tiers_review()
    assert slug(anna.pk) == "ekspert"  # 500 status points in the window
    assert tier_progress(customer_id=anna.pk).status_points == 500
    frozen_time.shift(dt.timedelta(days=200))
    assert tier_progress(customer_id=anna.pk).status_points == 200
    assert tier_qualified(customer_ids=[anna.pk])[anna.pk].slug == "novichok"
    assert_consistent()


def test_progress_says_exactly_what_the_next_tier_takes(frozen_time):
    ladder_create()
    anna = CustomerFactory.create()
    progress = tier_progress(customer_id=anna.pk)
    assert progress.tier.slug == "novichok" and progress.next_tier.slug == "znatok"
    assert (progress.missing_orders, progress.missing_spend) == (2, Decimal("10000"))
    assert progress.missing_status_points is None
    order_paid(anna, "O-1", "6600")
    progress = tier_progress(customer_id=anna.pk)
    assert (progress.missing_orders, progress.missing_spend) == (1, Decimal("3400"))
    order_paid(anna, "O-2", "100")
    loyalty_tiers_review()
    progress = tier_progress(customer_id=anna.pk)
    assert progress.tier.slug == "znatok" and progress.next_tier.slug == "ekspert"
    assert progress.missing_spend == Decimal("23300")
    assert progress.missing_status_points == 500
    assert progress.missing_orders is None
    assert progress.review_at == months_add(clock.now(), 12) + dt.timedelta(days=30)


def test_invitation_only_is_never_reached_by_qualification(frozen_time):
    ladder_create()
    anna = CustomerFactory.create()
    order_paid(anna, "O-1", "1000000")
    loyalty_tiers_review()
    loyalty_tiers_recheck()
    assert slug(anna.pk) == "ekspert"
    assert tier_progress(customer_id=anna.pk).next_tier is None


def test_a_manual_tier_holds_until_its_date_then_lapses_with_an_event(frozen_time, owner):
    tiers = ladder_create()
    anna = CustomerFactory.create()
    until = clock.now() + dt.timedelta(days=90)
    tier_set_manual(
        customer_id=anna.pk, tier=tiers["guru"], until=until, actor=owner, reason="Блогер"
    )
    assert slug(anna.pk) == "guru"
    assert changes(anna.pk) == [("novichok", "guru", "manual")]
    audit = AuditLog.objects.get(action="loyalty.tier_manual")
    assert audit.changes["to"] == "guru" and audit.changes["reason"] == "Блогер"
    assert tier_progress(customer_id=anna.pk).manual_until == until
    order_paid(anna, "O-1", "12000")
    loyalty_tiers_review()
    assert slug(anna.pk) == "guru"  # the qualified Знаток is underneath
    frozen_time.move_to(until)
    assert slug(anna.pk) == "znatok"  # it lapses at once for readers...
    assert loyalty_tiers_review() == 1  # ...and the sweep announces and clears it
    row = CustomerTier.objects.get(customer=anna)
    assert row.manual_tier is None and row.manual_until is None
    assert changes(anna.pk)[-1] == ("guru", "znatok", "down")
    assert loyalty_tiers_review() == 0


def test_qualifying_above_a_manual_tier_lifts_the_customer_at_once(frozen_time, owner):
    tiers = ladder_create()
    anna = CustomerFactory.create()
    until = clock.now() + dt.timedelta(days=30)
    tier_set_manual(
        customer_id=anna.pk, tier=tiers["znatok"], until=until, actor=owner, reason="Жалоба"
    )
    order_paid(anna, "O-1", "40000")
    loyalty_tiers_review()
    assert slug(anna.pk) == "ekspert"
    assert changes(anna.pk)[-1] == ("znatok", "ekspert", "up")
    frozen_time.move_to(until)
    assert loyalty_tiers_review() == 0  # the manual tier lapses beneath: nothing to announce


def test_a_manual_tier_needs_a_reason_and_a_future_end(owner, frozen_time):
    tiers = ladder_create()
    anna = CustomerFactory.create()
    with pytest.raises(TierError):
        tier_set_manual(
            customer_id=anna.pk, tier=tiers["guru"], until=None, actor=owner, reason="x"
        )
    with pytest.raises(TierError):
        tier_set_manual(
            customer_id=anna.pk, tier=tiers["guru"], until=clock.now(), actor=owner, reason="x"
        )
    with pytest.raises(TierError):
        tier_set_manual(
            customer_id=anna.pk,
            tier=tiers["guru"],
            until=clock.now() + dt.timedelta(days=1),
            actor=owner,
            reason="  ",
        )
    assert not Event.objects.filter(type="tier_changed").exists()
    # Ending a manual tier early is a manual change too.
    tier_set_manual(
        customer_id=anna.pk,
        tier=tiers["guru"],
        until=clock.now() + dt.timedelta(days=1),
        actor=owner,
        reason="Приглашение",
    )
    tier_set_manual(customer_id=anna.pk, tier=None, until=None, actor=owner, reason="Ошибка")
    assert changes(anna.pk) == [("novichok", "guru", "manual"), ("guru", "novichok", "manual")]
    keys = list(Event.objects.filter(type="tier_changed").values_list("idempotency_key", flat=True))
    assert sorted(keys) == [f"tier_changed:{anna.pk}:1", f"tier_changed:{anna.pk}:2"]


def test_a_switched_off_tier_stops_counting(frozen_time):
    tiers = ladder_create()
    anna = CustomerFactory.create()
    order_paid(anna, "O-1", "12000")
    loyalty_tiers_review()
    assert slug(anna.pk) == "znatok"
    Tier.objects.filter(pk=tiers["znatok"].pk).update(active=False)
    assert slug(anna.pk) == "novichok"
    loyalty_tiers_review()
    assert CustomerTier.objects.get(customer=anna).tier == tiers["novichok"]
    assert changes(anna.pk)[-1] == ("znatok", "novichok", "down")


def test_lowered_thresholds_lift_customers_at_the_daily_recheck(frozen_time):
    tiers = ladder_create()
    anna = CustomerFactory.create()
    order_paid(anna, "O-1", "12000")
    loyalty_tiers_review()
    Tier.objects.filter(pk=tiers["ekspert"].pk).update(min_spend=Decimal("12000"))
    assert loyalty_tiers_review() == 0  # nothing new happened to her
    assert loyalty_tiers_recheck() == 1
    assert slug(anna.pk) == "ekspert"


def test_a_merge_brings_the_duplicates_orders_into_the_survivors_window(frozen_time):
    from lifelong.customers.services import customer_merge

    ladder_create()
    anna, duplicate = CustomerFactory.create_batch(2)
    order_paid(anna, "O-1", "100")
    order_paid(duplicate, "O-2", "100")
    loyalty_tiers_review()
    assert slug(anna.pk) == "novichok"
    customer_merge(primary=anna, duplicate=duplicate, actor=None)
    loyalty_tiers_review()
    assert slug(anna.pk) == "znatok"  # two orders now


def test_the_tier_multiplier_applies_to_purchase_earning_exactly(frozen_time):
    programme_start(pending_days=0)
    ladder_create()
    anna, boris = CustomerFactory.create_batch(2)
    order_paid(anna, "A-1", "31000")
    loyalty_earn()
    loyalty_tiers_review()
    assert slug(anna.pk) == "ekspert"
    order_paid(anna, "A-2", "1990")  # 19.9 points x 1.5 = 29.85, rounded down once
    order_paid(boris, "B-1", "1990")  # Новичок: 19
    loyalty_earn()
    earned = dict(
        Transaction.objects.filter(kind="earn").values_list("order__external_id", "lot__points")
    )
    assert earned == {"A-1": 310, "A-2": 29, "B-1": 19}
    assert_consistent()


def test_tiers_current_and_the_sweep_cost_the_same_statements_for_3_or_30(
    frozen_time, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    ladder_create()

    def run(count: int) -> tuple[int, int]:
        customers = CustomerFactory.create_batch(count)
        for n, customer in enumerate(customers):
            order_paid(customer, f"Q{count}-{n}-a", "6000")
            order_paid(customer, f"Q{count}-{n}-b", "6000")
        with CaptureQueriesContext(connection) as swept:
            assert loyalty_tiers_review() == count
        with CaptureQueriesContext(connection) as read:
            found = tiers_current(customer_ids=[c.pk for c in customers])
        assert {t.slug for t in found.values() if t} == {"znatok"}
        return len(swept), len(read)

    run(1)
    assert run(3) == run(30)


def test_the_privilege_catalogue_names_every_code():
    assert set(PRIVILEGES) == {
        "early_access",
        "reservations",
        "free_express_delivery",
        "personal_manager",
        "closed_community",
        "birthday_gift",
    }
    assert all(str(name) and str(text) for name, text in PRIVILEGES.values())
    tier = Tier(slug="x", name="X", position=9, privileges=["teleport"])
    with pytest.raises(Exception, match="privilege"):
        tier.full_clean()
    assert Programme.current().tier_window_months == 12
