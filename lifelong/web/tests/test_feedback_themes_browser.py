"""The themes page in a real browser (Debian's Chromium), in Russian: the marketer tries a
text, adds a theme from what it missed, sees the same text tagged, then edits a rule."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from lifelong.accounts.models import AuditLog, Role
from lifelong.factories import UserFactory
from lifelong.feedback.models import Theme, ThemeRule

pytestmark = pytest.mark.browser


@pytest.fixture
def marketer_page(staff_page) -> Page:
    marketer = UserFactory.create(username="marina", role=Role.MARKETER, password=None)
    return staff_page(marketer)


def test_the_marketer_adds_a_theme_and_tries_it(marketer_page, live_server):
    page = marketer_page
    # Another browser test may have emptied the database (the seeded themes with it).
    delivery, _ = Theme.objects.get_or_create(
        slug="delivery", defaults={"name_ru": "Доставка", "name_en": "Delivery"}
    )
    ThemeRule.objects.get_or_create(theme=delivery, language="ru", phrase="доставка")

    page.goto(f"{live_server.url}/")
    page.get_by_role("link", name="Темы").click()
    expect(page.get_by_role("heading", name="Темы отзывов")).to_be_visible()

    try_box = page.locator("#theme-try")
    try_box.locator("textarea[name=text]").fill(
        "Доставкой довольна, а вот кешбэк так и не начислили"
    )
    try_box.locator("input[name=score]").fill("6")
    try_box.locator("button[type=submit]").click()
    expect(page.locator("#tried")).to_contain_text("Доставка")
    expect(page.locator("#tried")).not_to_contain_text("Кешбэк")

    form = page.locator("#theme-new")
    form.locator("input[name=slug]").fill("cashback")
    form.locator("input[name=name_ru]").fill("Кешбэк")
    form.locator("input[name=name_en]").fill("Cashback")
    form.locator("textarea[name=rules_en]").fill("кешбэк")
    form.locator("button[type=submit]").click()
    # Russian words among the English rules: the form comes back with the reason.
    expect(page.locator("body")).to_contain_text("«кешбэк» — не английский.")
    assert not Theme.objects.filter(slug="cashback").exists()
    form = page.locator("#theme-new")
    form.locator("textarea[name=rules_en]").fill("cashback")
    form.locator("textarea[name=rules_ru]").fill("кешбэк\nбаллы не начислили")
    form.locator("button[type=submit]").click()
    expect(page.locator("body")).to_contain_text("Тема «Кешбэк» добавлена.")
    expect(page.locator("#themes")).to_contain_text("Кешбэк")

    try_box = page.locator("#theme-try")
    try_box.locator("textarea[name=text]").fill("Кешбэка так и не дождалась")
    try_box.locator("button[type=submit]").click()
    expect(page.locator("#tried")).to_contain_text("Кешбэк")

    page.locator("#themes tr", has_text="Кешбэк").get_by_role("link", name="Изменить").click()
    page.locator("#theme-edit textarea[name=rules_ru]").fill("кешбэк\nкэшбэк")
    page.locator("#theme-edit button[type=submit]").click()
    expect(page.locator("body")).to_contain_text("Тема «Кешбэк» сохранена.")
    assert sorted(
        ThemeRule.objects.filter(theme__slug="cashback").values_list("language", "phrase")
    ) == [("en", "cashback"), ("ru", "кешбэк"), ("ru", "кэшбэк")]
    assert list(AuditLog.objects.order_by("pk").values_list("action", "actor_label")) == [
        ("feedback.theme.create", "marina"),
        ("feedback.theme.update", "marina"),
    ]
