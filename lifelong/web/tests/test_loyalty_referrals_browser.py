"""The referrals page in a real browser (Debian's Chromium), in Russian: the owner opens it
from the loyalty page, is told the shop address is missing, saves the settings, and reads
why a referral was refused."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from lifelong import clock
from lifelong.accounts.models import AuditLog, Role
from lifelong.commerce.models import Order
from lifelong.factories import CustomerFactory, UserFactory
from lifelong.loyalty.models import Referral, ReferralSettings, ReferralStatus, RefusalReason

pytestmark = pytest.mark.browser


@pytest.fixture
def owner_page(staff_page) -> Page:
    owner = UserFactory.create(username="olga", role=Role.OWNER, password=None)
    return staff_page(owner)


def test_the_owner_sets_up_referrals_and_sees_why_one_was_refused(owner_page, live_server):
    anna = CustomerFactory.create(first_name="Анна", last_name="Петрова")
    boris = CustomerFactory.create(first_name="Борис", last_name="Петров")
    order = Order.objects.create(external_id="O-77", customer=boris, total=1000)
    Referral.objects.create(
        referrer=anna,
        friend=boris,
        code="ABCDEFGH",
        via="attribute",
        order=order,
        ordered_at=clock.now(),
        due_at=clock.now(),
        decided_at=clock.now(),
        status=ReferralStatus.REFUSED,
        reason=RefusalReason.SAME_ADDRESS,
    )
    page = owner_page
    page.goto(f"{live_server.url}/loyalty/")
    page.locator("#referrals-link").click()
    expect(page.get_by_role("heading", name="Реферальная программа", exact=True)).to_be_visible()
    expect(page.locator("#referrals")).to_contain_text(
        "Отказано: Тот же адрес, что у пригласившего"
    )

    form = page.locator("#referral-settings")
    form.locator("input[name=enabled]").check()
    form.locator("input[name=referrer_points]").fill("300")
    form.locator("input[name=friend_points]").fill("200")
    form.locator("button[type=submit]").click()
    # Links need somewhere to send the friend: the form comes back, nothing is saved.
    expect(page.locator("body")).to_contain_text("Реферальным ссылкам нужен адрес магазина.")
    assert not ReferralSettings.current().enabled

    form = page.locator("#referral-settings")
    form.locator("input[name=shop_url]").fill("https://prana.example/")
    form.locator("select[name=condition]").select_option("first_order")
    form.locator("button[type=submit]").click()
    expect(page.locator("body")).to_contain_text("Настройки реферальной программы сохранены.")
    row = ReferralSettings.current()
    assert (row.enabled, row.referrer_points, row.friend_points, row.condition) == (
        True,
        300,
        200,
        "first_order",
    )
    assert row.shop_url == "https://prana.example/"
    assert list(AuditLog.objects.values_list("action", "actor_label")) == [
        ("loyalty.referrals.update", "olga")
    ]
