"""The checkout API: balance, quote, and holds reserved, confirmed (perhaps for less), cancelled
and timed out, with Idempotency-Key replays; the ledger verifies after each story."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from lifelong import clock
from lifelong.api.tests.conftest import ApiClient, make_key
from lifelong.factories import CustomerFactory
from lifelong.jobs.sweeps import sweep_by_name
from lifelong.loyalty.holds import loyalty_holds_expire
from lifelong.loyalty.models import Account, EarningRule, Hold, Lot, RuleKind, Tier, Transaction
from lifelong.loyalty.services import points_award
from lifelong.loyalty.tests.helpers import assert_consistent, programme_start
from lifelong.loyalty.tiers import tier_set_manual

pytestmark = pytest.mark.django_db


@pytest.fixture
def anna(frozen_time):
    programme_start()
    customer = CustomerFactory.create(external_id="C-1")
    points_award(customer_id=customer.pk, points=500, key="gift")
    return customer


def balance(api: ApiClient) -> tuple[int, int]:
    body = api.get("/loyalty/customers/C-1").json()
    return body["available"], body["held"]


def reserve(
    api: ApiClient,
    points: int,
    order: str = "O-1",
    headers: dict[str, str] | None = None,
    **fields: object,
) -> Any:
    body = {"customer_external_id": "C-1", "order_external_id": order, "points": points, **fields}
    return api.post("/loyalty/holds", body, headers=headers)


def test_balance_shows_buckets_and_no_tier_before_one_is_reached(api, anna):
    body = api.get("/loyalty/customers/C-1").json()
    assert body == {
        "customer_external_id": "C-1",
        "available": 500,
        "pending": 0,
        "held": 0,
        "status_points": 0,
        "tier": None,
    }
    assert api.get("/loyalty/customers/NOPE").status_code == 404


def guru(customer: Any) -> None:
    """A ×2 tier given by hand for a month."""
    tier = Tier.objects.create(
        slug="guru",
        name="Гуру",
        colour="#aa5500",
        position=1,
        invitation_only=True,
        earn_multiplier=Decimal(2),
        privileges=["free_express_delivery"],
    )
    until = clock.now() + dt.timedelta(days=30)
    tier_set_manual(customer_id=customer.pk, tier=tier, until=until, actor=None, reason="VIP")


def test_balance_names_the_tier_and_its_privileges(api, anna):
    guru(anna)
    tier = api.get("/loyalty/customers/C-1").json()["tier"]
    assert (tier["slug"], tier["name"], tier["colour"]) == ("guru", "Гуру", "#aa5500")
    assert [p["code"] for p in tier["privileges"]] == ["free_express_delivery"]


def test_quote_for_a_customer_earns_at_their_tiers_multiplier(api, anna):
    cart = {"lines": [{"sku": "TEA", "price": "1000"}], "customer_external_id": "C-1"}
    assert api.post("/loyalty/quote", cart).json()["earn"] == 10
    guru(anna)
    assert api.post("/loyalty/quote", cart).json()["earn"] == 20


def test_quote_earns_by_the_rules_and_caps_the_burn_by_share_and_balance(api, anna):
    EarningRule.objects.create(
        kind=RuleKind.PRODUCT, name="double mats", sku="MAT", multiplier=Decimal(2)
    )
    lines = [{"sku": "MAT", "quantity": 2, "price": "1000"}, {"sku": "TEA", "price": "500"}]
    cart = {"lines": lines}
    body = api.post("/loyalty/quote", cart).json()
    # 2000 at 1 per 100 doubled (40) + 500 at 1 per 100 (5); half of 2500 roubles at 1 each.
    assert (body["earn"], body["max_burn"], body["available"]) == (45, 1250, None)
    capped = api.post("/loyalty/quote", {**cart, "customer_external_id": "C-1"}).json()
    assert (capped["max_burn"], capped["available"]) == (500, 500)
    assert not Transaction.objects.exclude(key="gift").exists()


def test_reserve_confirm_for_less_gives_the_rest_back(api, anna):
    created = reserve(api, 300)
    assert created.status_code == 201, created.content
    hold = created.json()
    assert hold["status"] == "open"
    assert balance(api) == (200, 300)
    confirmed = api.post(f"/loyalty/holds/{hold['id']}/confirm", {"points": 120})
    assert confirmed.status_code == 200, confirmed.content
    assert confirmed.json()["confirmed_points"] == 120
    assert balance(api) == (380, 0)
    again = api.post(f"/loyalty/holds/{hold['id']}/confirm", {"points": 120})
    assert again.status_code == 409
    assert "already confirmed" in again.json()["detail"]
    assert balance(api) == (380, 0)
    assert api.post(f"/loyalty/holds/{hold['id']}/cancel", {}).status_code == 409
    assert_consistent()


def test_confirming_more_than_held_is_refused(api, anna):
    hold = reserve(api, 100).json()
    refused = api.post(f"/loyalty/holds/{hold['id']}/confirm", {"points": 101})
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["field"] == "points"
    assert balance(api) == (400, 100)


def test_reserve_beyond_the_balance_is_refused_with_the_field(api, anna):
    refused = reserve(api, 501)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["field"] == "points"
    assert "500 points available" in refused.json()["detail"][0]["msg"]
    assert balance(api) == (500, 0)


def test_one_open_hold_per_order(api, anna):
    assert reserve(api, 100).status_code == 201
    second = reserve(api, 100)
    assert second.status_code == 409
    assert "already has an open hold" in second.json()["detail"]
    assert balance(api) == (400, 100)


def test_cancel_gives_everything_back_and_confirm_after_cancel_is_refused(api, anna):
    hold = reserve(api, 250).json()
    cancelled = api.post(f"/loyalty/holds/{hold['id']}/cancel", {})
    assert cancelled.json()["status"] == "cancelled"
    assert balance(api) == (500, 0)
    late = api.post(f"/loyalty/holds/{hold['id']}/confirm", {})
    assert late.status_code == 409
    assert "cancelled" in late.json()["detail"]
    assert balance(api) == (500, 0)
    assert_consistent()


def test_a_hold_times_out_at_confirm_or_by_the_sweep(api, anna, frozen_time):
    first = reserve(api, 100, timeout_seconds=60).json()
    second = reserve(api, 50, order="O-2", timeout_seconds=600).json()
    assert first["expires_at"] == "2026-03-02T10:01:00Z"
    frozen_time.shift(dt.timedelta(seconds=60))
    late = api.post(f"/loyalty/holds/{first['id']}/confirm", {"points": 100})
    assert late.status_code == 409
    assert "expired" in late.json()["detail"]
    assert Hold.objects.get(pk=first["id"]).status == "expired"
    assert balance(api) == (450, 50)
    frozen_time.shift(dt.timedelta(seconds=540))
    sweep = sweep_by_name("loyalty.holds_expire")
    assert sweep.load()() == 1
    assert loyalty_holds_expire() == 0
    assert api.get(f"/loyalty/holds/{second['id']}").json()["status"] == "expired"
    assert balance(api) == (500, 0)
    assert_consistent()


def test_same_idempotency_key_replays_different_key_is_refused(api, anna):
    hold = reserve(api, 200, headers={"Idempotency-Key": "r-1"}).json()
    replayed = reserve(api, 200, headers={"Idempotency-Key": "r-1"})
    assert replayed.status_code == 201 and replayed.json()["id"] == hold["id"]
    assert balance(api) == (300, 200)
    path = f"/loyalty/holds/{hold['id']}/confirm"
    first = api.post(path, {"points": 150}, headers={"Idempotency-Key": "c-1"})
    same = api.post(path, {"points": 150}, headers={"Idempotency-Key": "c-1"})
    assert (first.status_code, same.status_code) == (200, 200)
    assert same.content == first.content and same["Idempotent-Replayed"] == "true"
    other = api.post(path, {"points": 150}, headers={"Idempotency-Key": "c-2"})
    assert other.status_code == 409
    assert balance(api) == (350, 0)
    assert Transaction.objects.filter(key=f"hold:{hold['id']}:confirm").count() == 1
    assert_consistent()


def test_holds_need_the_loyalty_scope(anna):
    reader = ApiClient(make_key(["read"])[1])
    assert reader.get("/loyalty/customers/C-1").status_code == 200
    refused = reserve(reader, 10)
    assert refused.status_code == 403
    assert "loyalty:write" in refused.json()["detail"]
    assert Account.objects.get(customer=anna).held == 0


def test_a_hold_draws_the_oldest_lot_and_gives_back_to_the_latest(api, anna, frozen_time):
    frozen_time.shift(dt.timedelta(days=3))
    points_award(customer_id=anna.pk, points=100, key="later")
    hold = reserve(api, 550).json()
    api.post(f"/loyalty/holds/{hold['id']}/confirm", {"points": 520})
    # The 500-point lot (older, expires first) was spent whole; the newer kept 80.
    assert sorted(Lot.objects.filter(customer=anna).values_list("points", "remaining")) == [
        (100, 80),
        (500, 0),
    ]
    assert_consistent()


def test_the_sweep_voids_every_due_hold_in_batches_and_leaves_the_others(api, anna, frozen_time):
    for n in range(3):
        reserve(api, 10, order=f"O-{n}", timeout_seconds=60)
    reserve(api, 10, order="O-late", timeout_seconds=600)
    frozen_time.shift(dt.timedelta(seconds=61))
    assert loyalty_holds_expire(batch_size=2) == 3
    assert sorted(Hold.objects.values_list("order_external_id", "status")) == [
        ("O-0", "expired"),
        ("O-1", "expired"),
        ("O-2", "expired"),
        ("O-late", "open"),
    ]
    assert balance(api) == (490, 10)
    assert_consistent()


def test_a_timed_out_hold_does_not_block_a_new_one_for_its_order(api, anna, frozen_time):
    first = reserve(api, 300, timeout_seconds=60).json()
    frozen_time.shift(dt.timedelta(seconds=60))
    again = reserve(api, 400)  # the sweep has not run: the reserve voids the old hold itself
    assert again.status_code == 201, again.content
    assert Hold.objects.get(pk=first["id"]).status == "expired"
    assert balance(api) == (100, 400)
    assert_consistent()
