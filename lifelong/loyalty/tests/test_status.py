"""The customer's loyalty status: balances, pending and expiring lots, the history with reasons."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

from lifelong import clock
from lifelong.factories import CustomerFactory, UserFactory
from lifelong.journeys.models import Enrollment, Journey, JourneyVersion
from lifelong.loyalty.earning import loyalty_earn
from lifelong.loyalty.holds import hold_confirm, hold_reserve
from lifelong.loyalty.models import EarningRule, Programme, RuleKind, TxKind
from lifelong.loyalty.privileges import PRIVILEGES
from lifelong.loyalty.referrals import referral_settings_update
from lifelong.loyalty.services import points_adjust, points_award, points_redeem
from lifelong.loyalty.status import (
    Change,
    Missing,
    PointsNames,
    change_reason,
    loyalty_status,
    missing_text,
    number_text,
    plural_form,
    roubles_text,
)
from lifelong.loyalty.sweeps import loyalty_expire_due, loyalty_release_pending
from lifelong.loyalty.tests.helpers import assert_consistent, order_paid, programme_start
from lifelong.loyalty.tests.test_tiers import ladder_create
from lifelong.loyalty.tiers import tier_set_manual, tiers_refresh

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)


@pytest.fixture(autouse=True)
def _russian():
    with translation.override("ru"):
        yield


def _journey_enrollment(customer, name: str) -> Enrollment:
    journey = Journey.objects.create(name=name, slug="birthday-test")
    version = JourneyVersion.objects.create(journey=journey, number=1, definition={})
    return Enrollment.objects.create(journey=journey, version=version, customer=customer, key="x")


def _changes(customer) -> dict[str, Change]:
    return {change.kind: change for change in loyalty_status(customer_id=customer.pk).history}


def test_a_customer_without_points_has_an_empty_status(frozen_time):
    anna = CustomerFactory.create()
    found = loyalty_status(customer_id=anna.pk)
    assert (found.enabled, found.balance, found.pending, found.held, found.history) == (
        False,
        0,
        0,
        0,
        (),
    )
    assert found.points_text(0) == "0\u00a0баллов"


def test_balance_pending_expiring_and_the_reason_of_every_change(frozen_time):
    programme_start(pending_days=14, expiry_months=12)
    anna = CustomerFactory.create()
    olga = UserFactory.create(username="olga")
    rule = EarningRule.objects.create(
        kind=RuleKind.EVENT, name="Отзыв с фото", event_type="review_posted", points=50
    )
    order_paid(anna, "Z-1", "2500")
    loyalty_earn()
    points_award(customer_id=anna.pk, points=50, key="review", rule=rule)
    enrollment = _journey_enrollment(anna, "День рождения")
    points_award(
        customer_id=anna.pk, points=100, key="bday", enrollment_id=enrollment.pk, node_id="gift"
    )
    points_adjust(customer_id=anna.pk, points=30, key="fix", staff=olga, comment="Извините!")
    points_redeem(customer_id=anna.pk, points=20, key="spend")
    hold = hold_reserve(
        customer_id=anna.pk, order_external_id="Z-2", points=40, timeout_seconds=600
    )
    hold_confirm(hold_id=hold.pk, points=35)

    found = loyalty_status(customer_id=anna.pk)
    assert (found.available, found.pending, found.held) == (125, 25, 0)
    # The order's 25 points are pending through the 14-day return window.
    assert [(lot.points, lot.at) for lot in found.pending_lots] == [
        (25, dt.datetime(2026, 3, 16, 10, tzinfo=dt.UTC))
    ]
    assert found.expiring == ()
    changes = _changes(anna)
    assert (changes[TxKind.EARN].points, changes[TxKind.EARN].order) == (25, "Z-1")
    assert (changes[TxKind.ADJUST].points, changes[TxKind.ADJUST].comment) == (30, "Извините!")
    assert changes[TxKind.REDEEM].points == -20
    assert (changes[TxKind.HOLD].points, changes[TxKind.HOLD].moved) == (0, 40)
    assert (changes[TxKind.CONFIRM].points, changes[TxKind.CONFIRM].order) == (-35, "Z-2")
    awards = [c for c in found.history if c.kind == TxKind.AWARD]
    assert {(c.points, c.rule, c.journey) for c in awards} == {
        (50, "Отзыв с фото", ""),
        (100, "", "День рождения"),
    }
    assert change_reason(changes[TxKind.EARN]) == "заказ Z-1"
    assert change_reason(changes[TxKind.ADJUST]) == "Извините!"
    # Newest first.
    assert found.history[0].kind == TxKind.CONFIRM

    # After the window the points become spendable; the release names the order's earn.
    frozen_time.shift(15 * DAY)
    loyalty_release_pending()
    found = loyalty_status(customer_id=anna.pk)
    assert (found.available, found.pending, found.pending_lots) == (150, 0, ())
    release = _changes(anna)[TxKind.RELEASE]
    assert (release.points, release.moved, release.order) == (0, 25, "Z-1")

    # Eleven months on, what is left of the lots expires within the 60 days shown.
    frozen_time.shift(320 * DAY)
    found = loyalty_status(customer_id=anna.pk)
    assert sum(lot.points for lot in found.expiring) == found.expiring_points == 150
    assert [lot.at for lot in found.expiring] == sorted(lot.at for lot in found.expiring)
    frozen_time.shift(40 * DAY)
    loyalty_expire_due()
    found = loyalty_status(customer_id=anna.pk)
    assert (found.balance, found.expiring) == (0, ())
    expired = [c for c in found.history if c.kind == TxKind.EXPIRE]
    assert sum(c.points for c in expired) == -150
    # Each expiry names the earn of its lot: the order, or the rule or journey of an award.
    assert {(c.order, c.journey, c.comment) for c in expired} >= {
        ("Z-1", "", ""),
        ("", "День рождения", ""),
        ("", "", "Извините!"),
    }
    assert_consistent()


def test_the_history_costs_the_same_queries_for_a_long_one(frozen_time, django_assert_num_queries):
    programme_start()
    anna = CustomerFactory.create()
    rule = EarningRule.objects.create(
        kind=RuleKind.EVENT, name="Отзыв", event_type="review_posted", points=5
    )
    enrollment = _journey_enrollment(anna, "Приветствие")

    def add(n: int, start: int) -> None:
        for i in range(start, start + n):
            order_paid(anna, f"Z-{i}", "1000")
            points_award(customer_id=anna.pk, points=5, key=f"r{i}", rule=rule)
            points_award(customer_id=anna.pk, points=5, key=f"j{i}", enrollment_id=enrollment.pk)
            hold = hold_reserve(
                customer_id=anna.pk, order_external_id=f"H-{i}", points=3, timeout_seconds=600
            )
            hold_confirm(hold_id=hold.pk, points=2)
        loyalty_earn()
        frozen_time.shift(20 * DAY)
        loyalty_release_pending()

    add(2, 0)
    loyalty_status(customer_id=anna.pk)  # the settings rows are made on first use
    # Programme, account, lots; transactions, entries, lot sources, journeys, holds; the tier:
    # tiers, the customer's tier row, orders and status points in the window;
    # referral settings (off); the personal manager.
    with django_assert_num_queries(14):
        short = loyalty_status(customer_id=anna.pk)
    add(6, 2)
    with django_assert_num_queries(14):
        long = loyalty_status(customer_id=anna.pk)
    assert len(long.history) > 3 * len(short.history)
    with django_assert_num_queries(7):
        loyalty_status(customer_id=anna.pk, history_limit=0, full=False)


def test_a_debt_shows_as_a_debt_not_as_a_negative_balance(frozen_time):
    programme_start(pending_days=0)
    anna = CustomerFactory.create()
    order = order_paid(anna, "Z-1", "10000")
    loyalty_earn()
    points_redeem(customer_id=anna.pk, points=100, key="spend")
    from lifelong.loyalty.tests.helpers import order_status

    order_status(order, "cancelled")
    loyalty_earn()
    found = loyalty_status(customer_id=anna.pk)
    assert (found.available, found.balance, found.debt) == (-100, 0, 100)


def test_words_in_russian_and_english():
    names = PointsNames("балл", "балла", "баллов")
    with translation.override("ru"):
        assert number_text(1250) == "1\u202f250"
        assert roubles_text(Decimal("3400")) == "3\u202f400\u00a0₽"
        assert roubles_text(Decimal("3400.50")) == "3\u202f400,50\u00a0₽"
        assert [names.word(n) for n in (1, 2, 5, 11, 21, 112)] == [
            "балл",
            "балла",
            "баллов",
            "баллов",
            "балл",
            "баллов",
        ]
    with translation.override("en"):
        assert number_text(1250) == "1,250"
        assert [names.word(n) for n in (1, 2)] == ["point", "points"]


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_the_plural_rule_is_the_programmes(n):
    programme = Programme(name_one="балл", name_few="балла", name_many="баллов")
    assert plural_form(n, "балл", "балла", "баллов") == programme.points_name(n)


def test_the_tier_its_privileges_and_exactly_what_the_next_one_takes(frozen_time):
    programme_start(pending_days=14)
    ladder_create()
    anna = CustomerFactory.create()
    found = loyalty_status(customer_id=anna.pk)
    assert found.tier is not None and found.tier.name == "Новичок"
    assert found.next_tier is not None and found.next_tier.name == "Знаток"
    assert found.missing == Missing(orders=2, spend=Decimal("10000"), status_points=None)
    assert found.progress_percent == 0
    assert missing_text(found.missing) == "ещё 2\u00a0заказа или 10\u202f000\u00a0₽"

    order_paid(anna, "Z-1", "6600")
    found = loyalty_status(customer_id=anna.pk)
    assert found.missing == Missing(orders=1, spend=Decimal("3400"), status_points=None)
    # Closest threshold: 6 600 of 10 000 ₽ beats 1 of 2 orders.
    assert found.progress_percent == 66
    assert missing_text(found.missing) == "ещё 1\u00a0заказ или 3\u202f400\u00a0₽"
    with translation.override("en"):
        assert missing_text(found.missing) == "1\u00a0order or 3,400\u00a0₽ more"

    order_paid(anna, "Z-2", "100")
    tiers_refresh(customer_ids=[anna.pk])
    found = loyalty_status(customer_id=anna.pk)
    assert found.tier is not None and found.tier.name == "Знаток"
    assert [(p.code, bool(p.name), bool(p.description)) for p in found.tier.privileges] == [
        ("early_access", True, True)
    ]
    assert found.next_tier is not None and found.next_tier.name == "Эксперт"
    assert found.missing == Missing(orders=None, spend=Decimal("23300"), status_points=500)
    assert missing_text(found.missing) == "ещё 23\u202f300\u00a0₽ или 500\u00a0статусных баллов"


def test_the_highest_tier_has_nothing_missing(frozen_time):
    programme_start()
    tiers = ladder_create()
    anna = CustomerFactory.create()
    tier_set_manual(
        customer_id=anna.pk,
        tier=tiers["guru"],
        until=clock.now() + 30 * DAY,
        actor=None,
        reason="Амбассадор",
    )
    found = loyalty_status(customer_id=anna.pk)
    assert found.tier is not None and found.tier.slug == "guru"
    assert (found.next_tier, found.missing, found.progress_percent) == (None, None, None)
    assert {p.code for p in found.tier.privileges} == set(PRIVILEGES)


def test_the_referral_summary_when_referrals_are_on(frozen_time):
    anna = CustomerFactory.create()
    assert loyalty_status(customer_id=anna.pk).referral is None
    programme_start()
    referral_settings_update(
        values={
            "enabled": True,
            "referrer_points": 300,
            "friend_points": 200,
            "shop_url": "https://prana.example/",
        },
        actor=None,
    )
    found = loyalty_status(customer_id=anna.pk)
    assert found.referral is not None
    assert found.referral.link.endswith(f"/c/ref/{found.referral.code}")
    assert (found.referral.referrer_points, found.referral.friend_points) == (300, 200)
    assert loyalty_status(customer_id=anna.pk, full=False).referral is None
