"""Items marked fixed in Chromium, in Russian, with scripts off: the marketer ticks two
inbox items, marks them fixed (the form starts from the delivery theme's template), sees who
would hear of it, confirms, and lands on the results: one message to the one customer with
consent, none to the customer whose item was not ticked."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from lifelong.accounts.models import AuditLog, Role
from lifelong.customers.models import Purpose
from lifelong.customers.services import consent_record
from lifelong.factories import CustomerFactory, UserFactory
from lifelong.feedback.inbox import item_record
from lifelong.feedback.models import Fix, ItemSource, Theme, ThemeRule
from lifelong.messaging.models import ChannelConfig, Message

pytestmark = pytest.mark.browser


@pytest.fixture
def marketer_no_scripts(staff_page) -> Page:
    marketer = UserFactory.create(username="marina", role=Role.MARKETER, password=None)
    return staff_page(marketer, javascript=False)


def test_the_marketer_marks_ticked_items_fixed(marketer_no_scripts, live_server):
    ChannelConfig.objects.create(channel="email", transport="sandbox", active=True)
    theme, _ = Theme.objects.get_or_create(
        slug="delivery", defaults={"name_ru": "Доставка", "name_en": "Delivery"}
    )
    ThemeRule.objects.get_or_create(theme=theme, language="ru", phrase="курьер")
    Theme.objects.filter(pk=theme.pk).update(
        fix_text_ru="{{ name }}, вы писали: «{{ told }}». Исправили: {{ note }}."
    )
    price, _ = Theme.objects.get_or_create(
        slug="price", defaults={"name_ru": "Цены", "name_en": "Prices"}
    )
    Theme.objects.filter(pk=price.pk).update(fix_text_ru="Про цены: {{ note }}")
    olga, irina, anna = (
        CustomerFactory.create(first_name=name) for name in ("Ольга", "Ирина", "Анна")
    )
    for customer in (olga, anna):
        consent_record(
            customer=customer, channel="email", purpose=Purpose.MARKETING, granted=True, source="t"
        )
    texts = {olga: "Курьер опоздал на час", irina: "Курьер не позвонил", anna: "Курьер грубил"}
    for n, (customer, text) in enumerate(texts.items()):
        item_record(source=ItemSource.MESSAGE, source_key=f"k{n}", customer=customer, text=text)

    page = marketer_no_scripts
    page.goto(f"{live_server.url}/inbox/")
    page.get_by_role("link", name="Отметить обращения исправленными").click()
    expect(page.get_by_role("heading", name="Отметить обращения исправленными")).to_be_visible()
    page.get_by_label("Курьер опоздал на час").check()
    page.get_by_label("Курьер не позвонил").check()
    page.get_by_role("button", name="Отметить выбранные исправленными…").click()

    expect(page.locator("#fix-picked")).to_contain_text("Курьер опоздал на час")
    expect(page.locator("#fix-picked")).not_to_contain_text("Курьер грубил")
    expect(page.get_by_label("Тема", exact=True)).to_have_value(str(theme.pk))
    expect(page.get_by_label("Сообщение", exact=True)).to_have_value(
        "{{ name }}, вы писали: «{{ told }}». Исправили: {{ note }}."
    )
    page.get_by_label("Что изменилось").fill("теперь курьер звонит за час")
    # Another theme's template, without a script: the button posts the form back filled.
    page.get_by_label("Тема", exact=True).select_option(label="Цены")
    page.get_by_role("button", name="Взять шаблон темы").click()
    expect(page.get_by_label("Сообщение", exact=True)).to_have_value("Про цены: {{ note }}")
    expect(page.get_by_label("Что изменилось")).to_have_value("теперь курьер звонит за час")
    page.get_by_label("Тема", exact=True).select_option(label="Доставка")
    page.get_by_role("button", name="Взять шаблон темы").click()
    expect(page.get_by_label("Сообщение", exact=True)).to_have_value(
        "{{ name }}, вы писали: «{{ told }}». Исправили: {{ note }}."
    )
    page.get_by_label("Контрольная группа, %").fill("0")
    page.get_by_role("button", name="Предпросмотр").click()
    preview = page.locator("#fix-preview")
    expect(preview).to_contain_text("2 клиента написали эти обращения")
    expect(preview).to_contain_text("можно отправить (есть согласие): 1")
    assert not Fix.objects.exists()

    page.get_by_role("button", name="Подтвердить и отправить").click()
    expect(
        page.get_by_text("Исправление объявлено, сообщения поставлены в очередь.")
    ).to_be_visible()
    expect(page.locator("#fix-items")).to_contain_text("Курьер не позвонил")
    fix = Fix.objects.get()
    assert fix.items.count() == 2 and fix.theme == theme
    messages = Message.objects.filter(dedupe_key__startswith=f"fix:{fix.pk}:")
    assert [m.customer_id for m in messages] == [olga.pk]
    assert messages[0].body_text == (
        "Ольга, вы писали: «Курьер опоздал на час». Исправили: теперь курьер звонит за час."
    )
    assert AuditLog.objects.filter(action="feedback.fix.announce", object_id=str(fix.pk)).exists()
