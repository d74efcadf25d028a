"""The loyalty settings page in a real browser (Debian's Chromium), in Russian: the owner
switches the programme on, changes the return window, adds an action rule and edits it."""

from __future__ import annotations

import pytest
from django.test import Client
from playwright.sync_api import Page, expect

from lifelong.accounts.models import AuditLog, Role
from lifelong.factories import UserFactory
from lifelong.loyalty.models import EarningRule, Programme

pytestmark = pytest.mark.browser


@pytest.fixture
def owner_page(browser, live_server, transactional_db) -> Page:
    owner = UserFactory.create(username="olga", role=Role.OWNER, password=None)
    client = Client()
    client.force_login(owner)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ru-RU")
    session = client.cookies["sessionid"].value
    context.add_cookies(
        [
            {"name": "sessionid", "value": session, "url": live_server.url},
            {"name": "django_language", "value": "ru", "url": live_server.url},
        ]
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page


def test_the_owner_sets_up_the_programme_and_a_rule(owner_page, live_server):
    page = owner_page
    page.goto(f"{live_server.url}/")
    page.get_by_role("link", name="Лояльность").click()
    expect(page.get_by_role("heading", name="Программа лояльности")).to_be_visible()

    form = page.locator("#programme-settings")
    form.locator("input[name=enabled]").check()
    form.locator("input[name=pending_days]").fill("10")
    form.locator("input[name=name_one]").fill("бонус")
    form.locator("input[name=name_few]").fill("")
    form.locator("input[name=name_many]").fill("")
    form.locator("button[type=submit]").click()
    expect(page.locator("body")).to_contain_text("Настройки программы лояльности сохранены.")

    programme = Programme.current()
    assert programme.enabled and programme.pending_days == 10
    assert (programme.name_few, programme.name_many) == ("бонуса", "бонусов")

    rule = page.locator("#rule-new")
    rule.locator("select[name=kind]").select_option("event")
    rule.locator("input[name=name]").fill("Подробный отзыв")
    rule.locator("input[name=event_type]").fill("review_posted")
    rule.locator("input[name=points]").fill("50")
    rule.locator("input[name=cap_count]").fill("0")
    rule.locator("input[name=cap_days]").fill("30")
    rule.locator("button[type=submit]").click()
    # A cap needs both numbers: the form comes back with the reason, nothing is saved.
    expect(page.locator("body")).to_contain_text("Для ограничения нужны и число, и период.")
    assert not EarningRule.objects.exists()
    page.locator("#rule-new input[name=cap_count]").fill("2")
    page.locator("#rule-new button[type=submit]").click()
    expect(page.locator("#earning-rules")).to_contain_text("Подробный отзыв")

    page.locator("#earning-rules").get_by_role("link", name="Изменить").click()
    page.locator("#rule-edit input[name=points]").fill("70")
    page.locator("#rule-edit button[type=submit]").click()
    expect(page.locator("#earning-rules")).to_contain_text("review_posted: +70")
    assert EarningRule.objects.get().points == 70
    assert list(AuditLog.objects.order_by("pk").values_list("action", "actor_label")) == [
        ("loyalty.programme.update", "olga"),
        ("loyalty.rule.create", "olga"),
        ("loyalty.rule.update", "olga"),
    ]
