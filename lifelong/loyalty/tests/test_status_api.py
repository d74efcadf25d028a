"""The status page's JSON twin: GET /api/v1/loyalty/customers/{id}/status."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from lifelong.accounts.models import ApiScope
from lifelong.api.tests.conftest import ApiClient, make_key
from lifelong.customers.models import Customer
from lifelong.factories import CustomerFactory, UserFactory
from lifelong.loyalty.earning import loyalty_earn
from lifelong.loyalty.referrals import referral_settings_update
from lifelong.loyalty.services import points_adjust, points_redeem
from lifelong.loyalty.tests.helpers import order_paid, programme_start
from lifelong.loyalty.tests.test_tiers import ladder_create
from lifelong.loyalty.tiers import tiers_refresh

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)


@pytest.fixture
def api(db) -> ApiClient:
    return ApiClient(make_key([ApiScope.READ])[1])


@pytest.fixture
def anna(frozen_time):
    programme_start(pending_days=14)
    anna = CustomerFactory.create(external_id="C-1", language="ru")
    order_paid(anna, "Z-1", "2500")
    loyalty_earn()
    olga = UserFactory.create(username="olga")
    points_adjust(customer_id=anna.pk, points=1250, key="fix", staff=olga, comment="Подарок")
    return anna


def test_the_status_in_the_customers_language_with_reasons_and_the_page_link(api, anna):
    response = api.get("/loyalty/customers/C-1/status")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["balance"], body["pending"], body["held"], body["debt"]) == (1250, 25, 0, 0)
    assert body["balance_text"] == "1\u202f250\u00a0баллов"
    assert body["language"] == "ru" and body["points_name"]["many"] == "баллов"
    assert body["pending_lots"] == [
        {"points": 25, "at": "2026-03-16T10:00:00Z", "text": "25\u00a0баллов"}
    ]
    earn, adjust = sorted(body["history"], key=lambda change: change["id"])
    assert (earn["kind"], earn["points"], earn["order_external_id"]) == ("earn", 25, "Z-1")
    assert (earn["kind_name"], earn["reason"]) == ("Начислено за покупку", "заказ Z-1")
    assert (adjust["points"], adjust["comment"], adjust["reason"]) == (1250, "Подарок", "Подарок")
    # The link opens the page the JSON describes.
    page = Client().get("/" + body["status_url"].split("/", 3)[3])
    assert page.status_code == 200 and "1\u202f250\u00a0баллов" in page.content.decode()


def test_english_on_request_and_a_shorter_history(api, anna):
    body = api.get("/loyalty/customers/C-1/status", {"language": "en", "history": 1}).json()
    assert body["balance_text"] == "1,250\u00a0points"
    assert [change["kind_name"] for change in body["history"]] == ["Adjusted by staff"]
    assert api.get("/loyalty/customers/C-1/status", {"history": 51}).status_code == 422
    assert api.get("/loyalty/customers/C-1/status", {"language": "de"}).status_code == 422


def test_unknown_customers_and_keys_without_read_are_refused(anna):
    reader = ApiClient(make_key([ApiScope.READ])[1])
    assert reader.get("/loyalty/customers/NO/status").status_code == 404
    assert ApiClient(None).get("/loyalty/customers/C-1/status").status_code == 401
    writer = ApiClient(make_key([ApiScope.LOYALTY])[1])
    assert writer.get("/loyalty/customers/C-1/status").status_code == 403


def test_the_tier_what_the_next_takes_and_the_referral(api, anna):
    ladder_create()
    body = api.get("/loyalty/customers/C-1/status").json()
    assert body["tier"]["name"] == "Новичок" and body["next_tier"]["slug"] == "znatok"
    assert body["missing"] == {
        "orders": 1,
        "spend": "7500.00",
        "status_points": None,
        "text": "ещё 1\u00a0заказ или 7\u202f500\u00a0₽",
    }
    assert (body["progress_percent"], body["window_months"], body["referral"]) == (50, 12, None)
    referrals_on()
    body = api.get("/loyalty/customers/C-1/status", {"language": "en"}).json()
    assert body["missing"]["text"] == "1\u00a0order or 7,500\u00a0₽ more"
    referral = body["referral"]
    assert referral["link"].endswith("/c/ref/" + referral["code"])
    assert (referral["referrer_points"], referral["friend_points"]) == (300, 200)
    assert body["manager_name"] == ""
    manager = UserFactory.create(username="maria", first_name="Мария", last_name="Соколова")
    Customer.objects.filter(pk=anna.pk).update(personal_manager=manager)
    assert api.get("/loyalty/customers/C-1/status").json()["manager_name"] == "Мария Соколова"


def referrals_on() -> None:
    referral_settings_update(
        values={
            "enabled": True,
            "referrer_points": 300,
            "friend_points": 200,
            "shop_url": "https://prana.example/",
        },
        actor=None,
    )


def test_the_same_queries_however_long_the_history(api, anna, django_assert_max_num_queries):
    ladder_create()
    tiers_refresh(customer_ids=[anna.pk])
    referrals_on()
    api.get("/loyalty/customers/C-1/status")
    with django_assert_max_num_queries(26) as short:
        api.get("/loyalty/customers/C-1/status", {"history": 50})
    for i in range(15):
        order_paid(anna, f"Z-{i + 2}", "1000")
        points_redeem(customer_id=anna.pk, points=1, key=f"spend-{i}")
    loyalty_earn()
    with django_assert_max_num_queries(26) as long:
        body = api.get("/loyalty/customers/C-1/status", {"history": 50}).json()
    assert len(body["history"]) == 32
    assert len(long.captured_queries) == len(short.captured_queries)
