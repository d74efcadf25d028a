"""The customer's loyalty status page: what it says, in whose language, and to whom."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation

from lifelong.customers.models import Customer
from lifelong.factories import CustomerFactory, UserFactory
from lifelong.lib.signing import token_make
from lifelong.loyalty.earning import loyalty_earn
from lifelong.loyalty.holds import hold_reserve
from lifelong.loyalty.models import ReferralCode
from lifelong.loyalty.referrals import referral_settings_update
from lifelong.loyalty.services import points_adjust, points_redeem
from lifelong.loyalty.status import STATUS_LINK_DAYS, status_url
from lifelong.loyalty.sweeps import loyalty_release_pending
from lifelong.loyalty.tests.helpers import order_paid, programme_start
from lifelong.loyalty.tests.test_tiers import ladder_create
from lifelong.loyalty.tiers import tiers_refresh

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_time")]

DAY = dt.timedelta(days=1)


@pytest.fixture(autouse=True)
def _default_language():
    # The page activates the customer's language for the rest of the thread.
    yield
    translation.activate(settings.LANGUAGE_CODE)


def _path(customer: Customer) -> str:
    return "/" + status_url(customer_id=customer.pk).split("/", 3)[3]


def _text(html: str) -> str:
    """The page's words, tags stripped and spaces of every width made one."""
    words = re.sub(r"<[^>]+>", " ", html)
    return " ".join(words.replace("\u202f", " ").replace("\u00a0", " ").split())


@pytest.fixture
def anna(frozen_time) -> Customer:
    programme_start(pending_days=14, expiry_months=12)
    anna = CustomerFactory.create(first_name="Анна", language="ru")
    olga = UserFactory.create(username="olga")
    order_paid(anna, "Z-1001", "2500")
    loyalty_earn()
    frozen_time.shift(15 * DAY)
    loyalty_release_pending()
    order_paid(anna, "Z-1002", "12400")
    loyalty_earn()
    points_adjust(customer_id=anna.pk, points=1226, key="fix", staff=olga, comment="За ожидание")
    points_redeem(customer_id=anna.pk, points=1, key="spend")
    hold_reserve(customer_id=anna.pk, order_external_id="Z-1003", points=10, timeout_seconds=600)
    return anna


def test_the_page_shows_balance_pending_held_and_the_history_with_reasons(client: Client, anna):
    response = client.get(_path(anna))
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")
    text = _text(response.content.decode())
    # 25 + 1226 - 1 - 10 held: the plural agrees with each number.
    assert "1 240 баллов" in text
    assert "Зарезервировано под заказ, который вы оплачиваете: 10 баллов." in text
    assert "124 балла с 31 марта 2026" in text
    assert "Начислено за покупку заказ Z-1001 +25 баллов" in text
    assert "Корректировка сотрудником За ожидание +1 226 баллов" in text
    assert "Потрачено −1 балл" in text
    assert "Стали доступны заказ Z-1001 25 баллов" in text
    assert "<script" not in response.content.decode()


def test_an_english_customer_reads_it_in_english(client: Client, anna):
    Customer.objects.filter(pk=anna.pk).update(language="en")
    text = _text(client.get(_path(anna)).content.decode())
    assert "Your points" in text and "1,240 points" in text
    assert "Earned for a purchase order Z-1001 +25 points" in text


def test_expiring_lots_are_listed_with_their_dates(client: Client, anna, frozen_time):
    frozen_time.shift(320 * DAY)
    text = _text(client.get(_path(anna)).content.decode())
    assert "Скоро сгорят" in text
    # Per lot, oldest first: what is left of the first order's 25 after 1 spent and 10 held.
    assert "14 баллов 2 марта 2027 1 226 баллов 17 марта 2027" in text


def test_a_forged_foreign_or_expired_link_shows_nothing(client: Client, anna, frozen_time):
    good = _path(anna)
    forged = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
    for path in (forged, f"/c/l/{token_make(purpose='preferences', value=anna.pk)}"):
        response = client.get(path)
        assert response.status_code == 404
        assert "1 240" not in _text(response.content.decode())
    frozen_time.shift((STATUS_LINK_DAYS + 1) * DAY)
    response = client.get(good)
    assert response.status_code == 200
    text = _text(response.content.decode())
    assert "Ссылка устарела" in text or "out of date" in text
    assert "баллов" not in text


def test_a_merged_customers_link_opens_the_survivors_points(client: Client, anna):
    old = CustomerFactory.create(merged_into=anna)
    assert "1 240 баллов" in _text(client.get(_path(old)).content.decode())


def test_the_page_changes_nothing_and_takes_no_post(client: Client, anna):
    assert client.post(_path(anna)).status_code == 405


def test_a_programme_not_started_says_so(client: Client):
    anna = CustomerFactory.create()
    text = _text(client.get(_path(anna)).content.decode())
    assert "программа лояльности ещё не началась" in text


def test_the_page_costs_the_same_queries_for_a_long_history(
    client: Client, anna, django_assert_max_num_queries
):
    ladder_create()
    tiers_refresh(customer_ids=[anna.pk])
    referral_settings_update(
        values={"enabled": True, "shop_url": "https://prana.example/"}, actor=None
    )
    path = _path(anna)
    client.get(path)  # the throttle's, the session's and the referral code's first-use work
    with django_assert_max_num_queries(22) as short:
        client.get(path)
    for i in range(20):
        order_paid(anna, f"Z-2{i:03d}", "1000")
        points_redeem(customer_id=anna.pk, points=1, key=f"spend-{i}")
    loyalty_earn()
    with django_assert_max_num_queries(22) as long:
        client.get(path)
    assert len(long.captured_queries) == len(short.captured_queries)


def test_the_tier_its_privileges_and_the_progress_to_the_next(client: Client, anna):
    ladder_create()
    tiers_refresh(customer_ids=[anna.pk])
    response = client.get(_path(anna))
    html = response.content.decode()
    text = _text(html)
    # 2 500 + 12 400 ₽ and 2 orders: Знаток; Эксперт at 30 000 ₽ or 500 status points
    # (the two earns gave 25 + 124).
    assert "Ваш уровень Знаток" in text
    assert "Ранний доступ" in text or "Early access" in text
    assert "До уровня «Эксперт»: ещё 15 100 ₽ или 351 статусный балл" in text
    assert '<progress id="tier-progress" value="49" max="100">' in html
    assert "Считается за последние 12 месяцев." in text
    assert 'fill="#1f6feb"' in html


def test_the_referral_link_and_what_it_brings(client: Client, anna):
    referral_settings_update(
        values={
            "enabled": True,
            "referrer_points": 300,
            "friend_points": 200,
            "shop_url": "https://prana.example/",
        },
        actor=None,
    )
    html = client.get(_path(anna)).content.decode()
    text = _text(html)
    assert (
        "Поделитесь своей ссылкой: друг получит 200 баллов за первый заказ, а вы — 300 баллов."
        in text
    )
    code = ReferralCode.objects.get(customer=anna).code
    assert f'value="{settings.SITE_URL}/c/ref/{code}"' in html


def test_the_personal_manager_by_name(client: Client, anna):
    assert "персональный менеджер" not in _text(client.get(_path(anna)).content.decode())
    manager = UserFactory.create(username="maria", first_name="Мария", last_name="Соколова")
    Customer.objects.filter(pk=anna.pk).update(personal_manager=manager)
    text = _text(client.get(_path(anna)).content.decode())
    assert "Ваш персональный менеджер Мария Соколова знает всю вашу историю с нами" in text
