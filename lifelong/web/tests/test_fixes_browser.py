"""Fixes in Chromium, in Russian: the marketer marks delivery fixed, sees how many customers
would hear of it, confirms, and lands on the results; one message per customer with consent."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from lifelong.accounts.models import AuditLog
from lifelong.customers.models import Purpose
from lifelong.customers.services import consent_record
from lifelong.factories import CustomerFactory
from lifelong.feedback.fix_messages import DEFAULTS
from lifelong.feedback.inbox import item_record
from lifelong.feedback.models import Fix, ItemSource, Theme, ThemeRule
from lifelong.messaging.models import ChannelConfig, Message
from lifelong.web.tests.test_surveys_browser import marketer_page  # noqa: F401

pytestmark = pytest.mark.browser


def test_the_marketer_previews_and_announces_a_fix(marketer_page, live_server):  # noqa: F811
    ChannelConfig.objects.create(channel="email", transport="sandbox", active=True)
    theme, _ = Theme.objects.get_or_create(
        slug="delivery", defaults={"name_ru": "Доставка", "name_en": "Delivery"}
    )
    ThemeRule.objects.get_or_create(theme=theme, language="ru", phrase="доставка")
    with_consent, without = CustomerFactory.create(), CustomerFactory.create()
    consent_record(
        customer=with_consent, channel="email", purpose=Purpose.MARKETING, granted=True, source="t"
    )
    for n, customer in enumerate((with_consent, without)):
        item_record(
            source=ItemSource.MESSAGE,
            source_key=f"k{n}",
            customer=customer,
            text="Доставка заняла неделю",
        )

    page = marketer_page
    page.goto(f"{live_server.url}/feedback/themes/")
    page.get_by_role("link", name="Исправления: сообщить жаловавшимся клиентам").click()
    expect(page.get_by_role("heading", name="Исправления", exact=True)).to_be_visible()
    page.get_by_label("Тема", exact=True).select_option(label=theme.name_ru)
    page.get_by_label("Что изменилось").fill("теперь привозим за два дня")
    # The theme's template (its default): the form starts from it.
    expect(page.get_by_label("Сообщение", exact=True)).to_have_value(DEFAULTS["ru"][1])
    page.get_by_label("Контрольная группа, %").fill("0")
    page.get_by_role("button", name="Предпросмотр").click()
    preview = page.locator("#fix-preview")
    expect(preview).to_contain_text("2 клиента писали об этой теме")
    expect(preview).to_contain_text("можно отправить (есть согласие): 1")
    expect(preview).to_contain_text("пропущены (нет согласия, адреса или настроенного канала): 1")
    assert not Fix.objects.exists()

    page.get_by_role("button", name="Подтвердить и отправить").click()
    expect(
        page.get_by_text("Исправление объявлено, сообщения поставлены в очередь.")
    ).to_be_visible()
    expect(page.locator("#fix-reach")).to_contain_text("В очереди")
    fix = Fix.objects.get()
    assert fix.note == "теперь привозим за два дня" and fix.holdout_percent == 0
    messages = Message.objects.filter(dedupe_key__startswith=f"fix:{fix.pk}:")
    assert [m.customer_id for m in messages] == [with_consent.pk]
    assert "«Доставка заняла неделю»? Мы услышали и исправили: теперь привозим за два дня." in (
        messages[0].body_text
    )
    assert AuditLog.objects.filter(action="feedback.fix.announce", object_id=str(fix.pk)).exists()

    page.goto(f"{live_server.url}/feedback/fixes/")
    expect(page.locator("#fixes")).to_contain_text("теперь привозим за два дня")
