"""Referrals: codes and links, attribution at the friend's first order, the condition, the
guards, the limit per period, rewards through the ledger and the `referral_converted` event."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from lifelong import clock
from lifelong.accounts.models import AuditLog
from lifelong.commerce.models import Order
from lifelong.commerce.services import order_upsert
from lifelong.customers.models import Customer
from lifelong.customers.services import customer_upsert
from lifelong.events.models import Event
from lifelong.factories import CustomerFactory
from lifelong.journeys.models import Enrollment, JourneyStatus
from lifelong.journeys.reactor import journeys_react
from lifelong.journeys.services import journey_create, journey_status_set
from lifelong.loyalty.earning import loyalty_earn
from lifelong.loyalty.models import (
    Cursor,
    EarningRule,
    Referral,
    ReferralCondition,
    ReferralSettings,
    ReferralStatus,
    RefusalReason,
    RuleKind,
    Transaction,
)
from lifelong.loyalty.referral_sweep import loyalty_referrals
from lifelong.loyalty.referrals import (
    address_key,
    email_key,
    limit_allows,
    referral_code_get,
    referral_link,
    referral_settings_update,
    referral_summary,
)
from lifelong.loyalty.tests.helpers import (
    assert_consistent,
    balances,
    order_paid,
    order_status,
    programme_start,
    refund,
)
from lifelong.segments.models import CustomerState
from lifelong.segments.scoring import clv_scores_refresh

pytestmark = pytest.mark.django_db

SHOP = "https://prana.example/shop?utm=1"


def referrals_start(**overrides: Any) -> ReferralSettings:
    """Points on (14-day window), referrals on: 300 to the referrer, 200 to the friend."""
    programme_start(pending_days=14)
    values: dict[str, Any] = {
        "enabled": True,
        "referrer_points": 300,
        "friend_points": 200,
        "condition": ReferralCondition.RETURN_WINDOW,
        "shop_url": SHOP,
    }
    values.update(overrides)
    return referral_settings_update(values=values, actor=None)


def friend_with_code(code: str, external_id: str, **profile: Any) -> Customer:
    attributes = {"referral_code": code, **profile.pop("attributes", {})}
    customer, _created = customer_upsert(
        external_id=external_id, data=profile, attributes=attributes
    )
    return customer


def referral_of(friend: Customer) -> Referral:
    return Referral.objects.get(friend=friend)


def test_a_code_is_made_once_and_its_link_counts_visits_and_opens_the_shop(client, frozen_time):
    referrals_start()
    anna = CustomerFactory.create()
    code = referral_code_get(customer_id=anna.pk)
    assert referral_code_get(customer_id=anna.pk) == code
    assert len(code.code) == 8 and code.code.isalnum() and code.code.isupper()
    link = referral_link(customer_id=anna.pk)
    assert link.endswith(f"/c/ref/{code.code}")

    response = client.get(f"/c/ref/{code.code.lower()}")
    assert response.status_code == 302
    assert response["Location"] == f"https://prana.example/shop?utm=1&ref={code.code}"
    client.get(f"/c/ref/{code.code}")
    code.refresh_from_db()
    assert code.visits == 2
    # An unknown code still opens the shop, without ref; nothing is counted.
    response = client.get("/c/ref/NOSUCH")
    assert (response.status_code, response["Location"]) == (302, SHOP)


def test_the_link_is_off_while_referrals_are_off(client):
    anna = CustomerFactory.create()
    assert referral_link(customer_id=anna.pk) == ""
    assert not referral_summary(customer_id=anna.pk).enabled
    assert client.get("/c/ref/ABCDEFGH").status_code == 404


def test_a_friend_with_the_code_is_rewarded_after_the_return_window(frozen_time):
    referrals_start()
    anna = CustomerFactory.create()
    code = referral_code_get(customer_id=anna.pk).code
    boris = friend_with_code(code.lower(), "F-1", email="boris@example.ru")
    order_paid(boris, "O-1", "3000")
    assert loyalty_referrals() == 1
    referral = referral_of(boris)
    assert (referral.referrer_id, referral.status, referral.via) == (
        anna.pk,
        "waiting",
        "attribute",
    )
    assert referral.due_at == referral.ordered_at + dt.timedelta(days=14)

    frozen_time.shift(dt.timedelta(days=13))
    loyalty_referrals()
    assert referral_of(boris).status == ReferralStatus.WAITING
    assert balances(anna) == (0, 0, 0)

    frozen_time.shift(dt.timedelta(days=1))
    assert loyalty_referrals() == 1
    referral = referral_of(boris)
    assert (referral.status, referral.referrer_points, referral.friend_points) == (
        "converted",
        300,
        200,
    )
    assert balances(anna) == (300, 0, 0)
    assert balances(boris)[0] == 200
    keys = set(
        Transaction.objects.filter(key__startswith="referral:").values_list("key", flat=True)
    )
    assert keys == {f"referral:{referral.pk}:referrer", f"referral:{referral.pk}:friend"}
    event = Event.objects.get(type="referral_converted")
    assert event.customer_id == anna.pk
    assert event.properties["friend_id"] == boris.pk
    assert Transaction.objects.get(key=f"referral:{referral.pk}:referrer").event_id == event.pk

    # Nothing happens twice: more runs, and the log read again from the start.
    assert loyalty_referrals() == 0
    Cursor.objects.filter(name="referrals").update(last_event_id=0)
    loyalty_referrals()
    assert Referral.objects.count() == 1
    assert balances(anna) == (300, 0, 0)
    assert_consistent()

    summary = referral_summary(customer_id=anna.pk)
    assert (summary.code, summary.invited, summary.converted, summary.points_earned) == (
        code,
        1,
        1,
        300,
    )


def test_the_order_coupon_brings_the_code_and_the_first_order_condition_rewards_at_once(
    frozen_time,
):
    referrals_start(condition=ReferralCondition.FIRST_ORDER, friend_points=0)
    anna = CustomerFactory.create()
    code = referral_code_get(customer_id=anna.pk).code
    boris = CustomerFactory.create()
    order_upsert(
        external_id="O-1",
        customer=boris,
        total=Decimal("1000"),
        placed_at=clock.now(),
        status="paid",
        paid_at=clock.now(),
        coupon=f" {code.lower()} ",
    )
    assert loyalty_referrals() == 2  # recorded, and decided in the same run
    referral = referral_of(boris)
    assert (referral.via, referral.status, referral.friend_points) == ("coupon", "converted", 0)
    assert balances(anna) == (300, 0, 0)
    assert balances(boris) == (0, 0, 0)
    assert not Transaction.objects.filter(key=f"referral:{referral.pk}:friend").exists()


def test_a_profile_sent_just_after_the_first_order_still_brings_its_code(frozen_time):
    referrals_start(condition=ReferralCondition.FIRST_ORDER)
    anna = CustomerFactory.create()
    code = referral_code_get(customer_id=anna.pk).code
    boris = CustomerFactory.create(external_id="F-1")
    order_paid(boris, "O-1", "1000")
    loyalty_referrals()
    assert not Referral.objects.exists()
    frozen_time.shift(dt.timedelta(hours=3))
    friend_with_code(code, "F-1")
    loyalty_referrals()
    assert referral_of(boris).status == ReferralStatus.CONVERTED

    # A code sent long after the first order: the friend is not new.
    vera = CustomerFactory.create(external_id="F-2")
    order_paid(vera, "O-2", "1000")
    loyalty_referrals()
    frozen_time.shift(dt.timedelta(days=3))
    friend_with_code(code, "F-2")
    loyalty_referrals()
    assert (referral_of(vera).status, referral_of(vera).reason) == ("refused", "not_new")


def test_a_customer_who_bought_before_naming_a_code_is_not_new(frozen_time):
    referrals_start()
    anna = CustomerFactory.create()
    code = referral_code_get(customer_id=anna.pk).code
    boris = CustomerFactory.create(external_id="F-1")
    order_paid(boris, "O-1", "1000")
    loyalty_referrals()
    frozen_time.shift(dt.timedelta(days=40))
    friend_with_code(code, "F-1")
    order_paid(boris, "O-2", "1000")
    loyalty_referrals()
    referral = referral_of(boris)
    assert (referral.status, referral.reason, referral.order.external_id) == (
        "refused",
        "not_new",
        "O-1",
    )
    # A friend is referred once: a third order changes nothing.
    order_paid(boris, "O-3", "1000")
    loyalty_referrals()
    assert Referral.objects.count() == 1
    assert referral_summary(customer_id=anna.pk).invited == 0


def test_a_first_order_returned_inside_the_window_brings_nothing(frozen_time):
    referrals_start(min_order_total=Decimal("1000"))
    anna = CustomerFactory.create()
    code = referral_code_get(customer_id=anna.pk).code
    boris = friend_with_code(code, "F-1")
    vera = friend_with_code(code, "F-2")
    order = order_paid(boris, "O-1", "3000")
    order_paid(vera, "O-2", "2500")
    loyalty_referrals()
    order_status(order, "cancelled")
    refund(
        Order.objects.get(external_id="O-2"), "R-1", "1600"
    )  # 900 left: below the smallest first order
    frozen_time.shift(dt.timedelta(days=15))
    loyalty_referrals()
    assert (referral_of(boris).status, referral_of(boris).reason) == ("refused", "order_returned")
    assert (referral_of(vera).status, referral_of(vera).reason) == ("refused", "order_small")
    assert balances(anna) == (0, 0, 0)
    assert not Event.objects.filter(type="referral_converted").exists()


@pytest.mark.parametrize(
    ("referrer", "friend", "reason"),
    [
        ({"email": "Anna.K+promo@Gmail.com"}, {"email": "annak@googlemail.com"}, "same_email"),
        ({"phone": "+79161234567"}, {"phone": "8 916 123-45-67"}, "same_phone"),
        (
            {"attributes": {"payment_fingerprint": ["fp-1", "fp-2"]}},
            {"attributes": {"payment_fingerprint": "fp-2"}},
            "same_payment",
        ),
        (
            {"attributes": {"address": "Москва, ул. Тверская, д. 1, кв. 5"}},
            {"attributes": {"address": "москва ул тверская д 1 кв 5"}},
            "same_address",
        ),
    ],
)
def test_self_referral_is_refused_with_its_reason(frozen_time, referrer, friend, reason):
    referrals_start(condition=ReferralCondition.FIRST_ORDER)
    attributes = referrer.pop("attributes", {})
    anna, _ = customer_upsert(
        external_id="A-1",
        data={"email": "", "phone": "", **referrer},
        attributes=attributes,
    )
    code = referral_code_get(customer_id=anna.pk).code
    profile = {"email": "", "phone": "", **friend}
    boris = friend_with_code(code, "F-1", **profile)
    order_paid(boris, "O-1", "1000")
    loyalty_referrals()
    referral = referral_of(boris)
    assert (referral.status, referral.reason) == ("refused", reason)
    assert referral.decided_at is not None
    assert not Transaction.objects.filter(key__startswith="referral:").exists()
    assert referral_summary(customer_id=anna.pk).invited == 0


def test_naming_ones_own_code_and_a_merge_found_later_are_refused(frozen_time):
    referrals_start()
    anna = CustomerFactory.create(external_id="A-1")
    code = referral_code_get(customer_id=anna.pk).code
    friend_with_code(code, "A-1")
    order_paid(anna, "O-1", "1000")
    loyalty_referrals()
    assert (referral_of(anna).status, referral_of(anna).reason) == ("refused", "same_customer")

    # A second account of Vera's refers her first; staff merge them inside the window.
    vera = CustomerFactory.create(external_id="V-1")
    vera_code = referral_code_get(customer_id=vera.pk).code
    vera_again = friend_with_code(vera_code, "V-2", email="vera.other@example.ru")
    order_paid(vera_again, "O-2", "1000")
    loyalty_referrals()
    assert referral_of(vera_again).status == ReferralStatus.WAITING
    Customer.objects.filter(pk=vera_again.pk).update(merged_into=vera)
    frozen_time.shift(dt.timedelta(days=15))
    loyalty_referrals()
    assert (referral_of(vera_again).status, referral_of(vera_again).reason) == (
        "refused",
        "same_customer",
    )
    assert balances(vera) == (0, 0, 0)


def test_the_limit_per_period_is_counted_by_the_first_orders_dates(frozen_time):
    referrals_start(condition=ReferralCondition.FIRST_ORDER, limit_count=2, limit_days=30)
    anna = CustomerFactory.create()
    code = referral_code_get(customer_id=anna.pk).code
    friends = []
    for n in range(3):
        friend = friend_with_code(code, f"F-{n}")
        order_paid(friend, f"O-{n}", "1000")
        friends.append(friend)
    loyalty_referrals()
    assert [referral_of(f).status for f in friends] == ["converted", "converted", "refused"]
    assert referral_of(friends[2]).reason == RefusalReason.LIMIT
    frozen_time.shift(dt.timedelta(days=30))
    late = friend_with_code(code, "F-9")
    order_paid(late, "O-9", "1000")
    loyalty_referrals()
    assert referral_of(late).status == ReferralStatus.CONVERTED
    assert balances(anna) == (900, 0, 0)


def test_the_event_feeds_journeys_and_earning_rules(frozen_time):
    referrals_start(condition=ReferralCondition.FIRST_ORDER, referrer_points=0, friend_points=0)
    EarningRule.objects.create(
        kind=RuleKind.EVENT,
        name="Друг",
        event_type="referral_converted",
        points=50,
        status_points=100,
    )
    anna = CustomerFactory.create()
    code = referral_code_get(customer_id=anna.pk).code
    boris = friend_with_code(code, "F-1")
    order_paid(boris, "O-1", "1000")
    loyalty_referrals()
    loyalty_earn()
    assert balances(anna) == (50, 0, 100)
    assert_consistent()


def test_the_sweep_costs_the_same_statements_for_3_friends_as_for_30(frozen_time):
    referrals_start(condition=ReferralCondition.FIRST_ORDER)

    def run(n: int, prefix: str) -> int:
        anna = CustomerFactory.create()
        code = referral_code_get(customer_id=anna.pk).code
        for i in range(n):
            friend = friend_with_code(code, f"{prefix}-{i}")
            order_paid(friend, f"{prefix}-O-{i}", "1000")
        with CaptureQueriesContext(connection) as queries:
            loyalty_referrals()
        assert Referral.objects.filter(referrer=anna, status="converted").count() == n
        return len(queries)

    run(1, "warm")  # the ledger's system accounts are made on first use
    assert run(3, "a") == run(30, "b")


def test_settings_are_validated_and_audited(owner):
    with pytest.raises(ValidationError):
        referral_settings_update(values={"enabled": True, "shop_url": ""}, actor=owner)
    with pytest.raises(ValidationError):
        referral_settings_update(values={"limit_count": 3, "limit_days": 0}, actor=owner)
    row = referral_settings_update(
        values={"enabled": True, "shop_url": "https://prana.example/", "referrer_points": 100},
        actor=owner,
    )
    assert row.started_at is not None
    log = AuditLog.objects.get(action="loyalty.referrals.update")
    assert log.changes["referrer_points"] == {"from": "0", "to": "100"}


def test_emails_and_addresses_compare_as_people_write_them():
    assert email_key("Anna.Petrova+shop@GMAIL.com") == "annapetrova@gmail.com"
    assert email_key("anna.petrova+x@yandex.ru") == "anna.petrova@yandex.ru"
    assert email_key("") == ""
    assert address_key("Ёлочная ул.,  д.5") == address_key("елочная ул д 5")


def test_the_limit_holds_in_every_span_not_only_the_one_ending_now():
    day = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    times = [day + dt.timedelta(days=10)]
    # One earlier friend inside the 30 days after: the span [day, day + 30) would hold two.
    assert not limit_allows(times, day, count=1, days=30)
    assert limit_allows(times, day - dt.timedelta(days=21), count=1, days=30)
    assert limit_allows(times, day, count=2, days=30)
    assert limit_allows(times * 5, day, count=0, days=0)


def test_a_converted_referral_feeds_the_referrers_clv_referral_value(frozen_time):
    referrals_start(condition=ReferralCondition.FIRST_ORDER)
    anna = CustomerFactory.create(external_id="A-1")
    code = referral_code_get(customer_id=anna.pk).code
    boris = friend_with_code(code, "F-1")
    order_paid(boris, "O-1", "3000")
    order_paid(boris, "O-2", "500")
    # Named both ways (the shop's referred_by too): counted once.
    vera = friend_with_code(code, "F-2", attributes={"referred_by": "A-1"})
    order_paid(vera, "O-3", "1000")
    loyalty_referrals()
    clv_scores_refresh()
    assert CustomerState.objects.get(customer=anna).referral_value == Decimal("4500.00")


def test_a_journey_on_referral_converted_greets_the_referrer(frozen_time):
    referrals_start(condition=ReferralCondition.FIRST_ORDER)
    journey = journey_create(
        name="Спасибо за друга",
        slug="thanks-for-a-friend",
        definition={
            "trigger": {"kind": "event", "event_type": "referral_converted"},
            "start": "tag",
            "nodes": [{"id": "tag", "type": "tag", "tag": "brought-a-friend"}],
        },
    )
    journey_status_set(journey=journey, status=JourneyStatus.ACTIVE)
    journeys_react()  # the reactor starts at the end of the log
    anna = CustomerFactory.create()
    boris = friend_with_code(referral_code_get(customer_id=anna.pk).code, "F-1")
    order_paid(boris, "O-1", "1000")
    loyalty_referrals()
    journeys_react()
    assert list(Enrollment.objects.values_list("customer_id", flat=True)) == [anna.pk]
