"""The loyalty status page in a real browser (Debian's Chromium) on a phone, with scripts off:
everything reads without JavaScript and nothing is wider than the screen."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from lifelong.factories import CustomerFactory, UserFactory
from lifelong.loyalty.earning import loyalty_earn
from lifelong.loyalty.referrals import referral_settings_update
from lifelong.loyalty.services import points_adjust
from lifelong.loyalty.status import status_url
from lifelong.loyalty.tests.helpers import order_paid, programme_start
from lifelong.loyalty.tests.test_tiers import ladder_create
from lifelong.loyalty.tiers import tiers_refresh

pytestmark = [pytest.mark.browser]

PHONE = {"width": 360, "height": 740}


def test_the_status_page_on_a_phone_without_javascript(browser, transactional_db, live_server):
    from django.conf import settings

    settings.SITE_URL = live_server.url
    programme_start(pending_days=14)
    anna = CustomerFactory.create(first_name="Анна", language="ru")
    olga = UserFactory.create(username="olga")
    order_paid(anna, "Z-1001", "12400")
    loyalty_earn()
    points_adjust(
        customer_id=anna.pk,
        points=1250,
        key="fix",
        staff=olga,
        comment="Извините за долгую доставку заказа, вот баллы на следующую покупку",
    )
    ladder_create()
    tiers_refresh(customer_ids=[anna.pk])
    referral_settings_update(
        values={
            "enabled": True,
            "referrer_points": 300,
            "friend_points": 200,
            "shop_url": "https://prana.example/",
        },
        actor=None,
    )
    context = browser.new_context(
        locale="ru-RU", viewport=PHONE, is_mobile=True, java_script_enabled=False
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    response = page.goto(status_url(customer_id=anna.pk))
    assert response is not None and response.status == 200
    expect(page.locator("h1")).to_have_text("Ваши баллы")
    expect(page.locator(".balance")).to_have_text("1\u202f250\u00a0баллов")
    expect(page.locator(".loyalty-pending li")).to_contain_text("124\u00a0балла")
    expect(page.locator(".tier")).to_have_text("Знаток")
    expect(page.locator("label[for=tier-progress]")).to_contain_text("До уровня «Эксперт»: ещё")
    # The bar is the browser's own element: it fills without a script.
    assert page.locator("#tier-progress").evaluate("e => e.position") > 0.4
    expect(page.locator("#referral-link")).to_have_value(re.compile(r"/c/ref/[A-Z0-9]{8}$"))
    history = page.locator(".history li")
    expect(history).to_have_count(2)
    expect(history.first).to_contain_text("+1\u202f250\u00a0баллов")
    # Phone first: no sideways scrolling, the points of each row on the screen.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"]
    boxes = [history.nth(i).locator(".history-points").bounding_box() for i in range(2)]
    boxes += [page.locator(s).bounding_box() for s in ("#tier-progress", "#referral-link")]
    for box in boxes:
        assert box is not None and box["x"] + box["width"] <= PHONE["width"]
    # The stylesheets loaded (the page is styled, not bare HTML), under the CSP.
    size = page.locator(".balance").evaluate("e => getComputedStyle(e).fontSize")
    assert float(size.removesuffix("px")) >= 28
    context.close()
