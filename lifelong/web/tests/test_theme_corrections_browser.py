"""Correcting an item's themes in a real browser (Debian's Chromium), in Russian: a support
agent opens the conversation, ticks the right theme in the item's form (a plain form, no
JavaScript needed) and the page shows staff's themes."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from lifelong.accounts.models import AuditLog, Role
from lifelong.factories import CustomerFactory, UserFactory
from lifelong.feedback.inbox import item_record
from lifelong.feedback.models import Item, ItemSource, Theme
from lifelong.web.tests.conftest import PHONE

pytestmark = pytest.mark.browser


@pytest.fixture
def support_page(staff_page) -> Page:
    support = UserFactory.create(username="olga", role=Role.SUPPORT, password=None)
    return staff_page(support, viewport=PHONE, javascript=False)


def test_support_corrects_the_themes_without_javascript(support_page, live_server):
    page = support_page
    # A transactional test may run after another emptied the tables the data migration filled.
    for slug, name in (("delivery", "Доставка"), ("staff", "Сотрудники")):
        Theme.objects.get_or_create(slug=slug, defaults={"name_ru": name, "name_en": slug})
    item, _ = item_record(
        source=ItemSource.MESSAGE,
        source_key="tg-1",
        customer=CustomerFactory.create(first_name="Анна"),
        text="Курьер нагрубил, хотя привёз вовремя",
        channel="telegram",
    )
    page.goto(f"{live_server.url}/inbox/conversations/{item.conversation_id}/")
    form = page.locator("details.item-themes")
    form.locator("summary").click()
    form.get_by_label("Доставка").uncheck()
    form.get_by_label("Сотрудники").check()
    form.locator("button[type=submit]").click()

    expect(page.locator("#items")).to_contain_text("Сотрудники")
    item.refresh_from_db()
    assert item.themes == ["staff"] and item.themes_corrected_at is not None
    assert Item.objects.get(pk=item.pk).themes_corrected_by.username == "olga"
    assert AuditLog.objects.filter(action="feedback.item.themes_correct").count() == 1
