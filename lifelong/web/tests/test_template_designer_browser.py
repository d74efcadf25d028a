"""The email designer in Chromium, in Russian: the marketer builds an email from blocks,
watches the preview, saves, sends a test to herself through the sandbox and reads it in the
sandbox inbox.

Set LIFELONG_SCREENSHOTS=docs/img to write the designer's screenshot for the docs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from lifelong.accounts.models import Role
from lifelong.factories import UserFactory
from lifelong.messaging.dispatch import dispatch_due
from lifelong.messaging.models import ChannelConfig, Message, Status, Template
from lifelong.messaging.tests.email_check import email_html_problems

pytestmark = pytest.mark.browser


@pytest.fixture
def designer_page(staff_page) -> Iterator[Page]:
    marketer = UserFactory.create(
        username="marina", email="marina@prana.example", role=Role.MARKETER, password=None
    )
    page = staff_page(marketer, viewport=(1366, 900))
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    assert errors == []  # the designer's script ran without an error


def _block(page: Page, n: int):
    return page.locator("#blocks > li.designer-block").nth(n)


def test_the_marketer_designs_an_email_and_reads_her_test_in_the_sandbox(
    designer_page, live_server
):
    ChannelConfig.objects.create(channel="email", transport="sandbox", active=True)
    template = Template.objects.create(
        slug="spring", name="Весенняя подборка", channel="email", subject="", body_text="Старый"
    )
    page = designer_page
    page.goto(f"{live_server.url}/templates/{template.pk}/")
    page.get_by_role("link", name="Собрать письмо из блоков").click()
    expect(
        page.get_by_role("heading", name="Конструктор письма: Весенняя подборка")
    ).to_be_visible()
    # A template written by hand starts from its own words: heading, its text, footer.
    expect(page.locator("#blocks > li.designer-block")).to_have_count(3)
    _block(page, 1).get_by_role("button", name="Удалить").click()
    expect(page.locator("#blocks > li.designer-block")).to_have_count(2)

    page.get_by_label("Тема").fill("Весна в «Пране», {{ customer.first_name }}")
    page.get_by_label("Прехедер").fill("Новые коврики и ваш прошлый заказ")
    _block(page, 0).locator("[data-field=text]").fill("Весна пришла, {{ customer.first_name }}!")
    page.get_by_role("button", name="+ Текст").click()
    _block(page, 2).locator("[data-field=text]").fill(
        "Мы привезли новые коврики.\n\nЗагляните — вам понравится <честно>."
    )
    page.get_by_role("button", name="+ Кнопка").click()
    _block(page, 3).locator("[data-field=label]").fill("Смотреть коврики")
    _block(page, 3).locator("[data-field=url]").fill("https://prana.example/mats")
    page.get_by_role("button", name="+ Список товаров").click()
    expect(_block(page, 4).locator("[data-field=source]")).to_have_value("last_order")
    # The footer goes to the end: moved down past the text, the button and the list.
    for n in (1, 2, 3):
        _block(page, n).get_by_role("button", name="Ниже").click()
    expect(_block(page, 4)).to_have_attribute("data-type", "footer")
    _block(page, 4).locator("[data-field=text]").fill("«Прана», Казань, ул. Баумана, 1")

    preview = page.frame_locator("#design-preview")
    expect(preview.get_by_text("Весна пришла, Алексей!")).to_be_visible()
    expect(preview.get_by_role("link", name="Смотреть коврики")).to_be_visible()
    expect(preview.get_by_text("Коврик для йоги")).to_be_visible()  # the sample's last order
    expect(preview.get_by_role("link", name="Отписаться от этих писем")).to_be_visible()
    # On a phone the column narrows to the screen: the button still fits inside it.
    page.get_by_role("button", name="Телефон").click()
    expect(page.locator("#design-preview")).to_have_class("designer-frame phone")
    phone = page.locator("#design-preview").bounding_box()
    button = preview.get_by_role("link", name="Смотреть коврики").bounding_box()
    assert phone and button and button["width"] < phone["width"] == 375
    page.get_by_role("button", name="Компьютер").click()
    expect(page.get_by_role("button", name="Телефон")).to_have_attribute("aria-pressed", "false")
    expect(page.locator("#design-preview")).to_have_class("designer-frame")
    shots = os.environ.get("LIFELONG_SCREENSHOTS")
    if shots:
        page.locator("h1").evaluate("title => window.scrollTo(0, title.offsetTop - 8)")
        page.mouse.move(0, 0)  # no hover on whatever the scroll brought under the pointer
        page.wait_for_timeout(500)  # and the buttons' colour transitions over
        page.screenshot(path=str(Path(shots) / "email-designer.png"))

    page.get_by_role("button", name="Сохранить и прислать мне проверку").click()
    expect(page.get_by_text("Макет сохранён.")).to_be_visible()
    expect(page.get_by_text("Проверка отправлена на marina@prana.example.")).to_be_visible()
    template.refresh_from_db()
    assert [b["type"] for b in template.design["blocks"]] == [
        "heading",
        "text",
        "button",
        "products",
        "footer",
    ]
    assert template.subject == "Весна в «Пране», {{ customer.first_name }}"

    assert dispatch_due() == 1
    message = Message.objects.get()
    assert (message.status, message.to) == (Status.SENT, "marina@prana.example")
    assert email_html_problems(message.body_html) == []

    page.get_by_role("link", name="Песочница").click()
    page.get_by_role("link", name="[Проверка] Весна в «Пране», Алексей").click()
    expect(page.get_by_role("heading", name="[Проверка] Весна в «Пране», Алексей")).to_be_visible()
    mail = page.frame_locator("iframe.mail-html")
    expect(mail.get_by_text("Весна пришла, Алексей!")).to_be_visible()
    expect(mail.get_by_text("Загляните — вам понравится <честно>.")).to_be_visible()
    expect(mail.get_by_role("link", name="Смотреть коврики")).to_have_attribute(
        "href", "https://prana.example/mats"
    )
    expect(page.locator("pre.mail-text")).to_contain_text(
        "Смотреть коврики: https://prana.example/mats"
    )
    expect(page.locator("pre.mail-text")).to_contain_text("• Коврик для йоги — 1 990 ₽")


def test_a_design_with_a_mistake_is_refused_with_its_block_named(designer_page, live_server):
    template = Template.objects.create(
        slug="oops", name="С ошибкой", channel="email", subject="Тема", body_text="Текст"
    )
    page = designer_page
    page.goto(f"{live_server.url}/templates/{template.pk}/design/")
    _block(page, 1).locator("[data-field=text]").fill("Здравствуйте, {{ customer.frist_name }}")
    expect(page.frame_locator("#design-preview").get_by_text("Блок 2 (Текст)")).to_be_visible()

    page.get_by_role("button", name="Сохранить", exact=True).click()

    expect(page.get_by_role("alert")).to_contain_text("Блок 2 (Текст)")
    # What was typed is still there to fix.
    expect(_block(page, 1).locator("[data-field=text]")).to_have_value(
        "Здравствуйте, {{ customer.frist_name }}"
    )
    template.refresh_from_db()
    assert (template.design, template.body_text) == ({}, "Текст")


def test_the_brand_look_recolours_the_designed_emails(designer_page, live_server):
    template = Template.objects.create(
        slug="look", name="Оформление", channel="email", subject="Тема", body_text="Текст"
    )
    page = designer_page
    page.goto(f"{live_server.url}/templates/{template.pk}/design/")
    page.get_by_role("button", name="+ Кнопка").click()
    _block(page, 3).locator("[data-field=label]").fill("В магазин")
    _block(page, 3).locator("[data-field=url]").fill("https://prana.example/")
    page.get_by_role("button", name="Сохранить", exact=True).click()
    expect(page.get_by_text("Макет сохранён.")).to_be_visible()

    page.get_by_text("Оформление: цвета и логотип").click()
    page.get_by_label("Акцент (кнопки)").fill("#aa3300")
    page.get_by_label("Адрес логотипа").fill("https://prana.example/logo.png")
    page.get_by_role("button", name="Сохранить оформление").click()

    expect(page.get_by_text("Оформление сохранено; пересобран 1 шаблон")).to_be_visible()
    template.refresh_from_db()
    assert 'bgcolor="#aa3300"' in template.body_html
    assert 'src="https://prana.example/logo.png"' in template.body_html
    # The preview shows the new colour on the button.
    button = page.frame_locator("#design-preview").get_by_role("link", name="В магазин")
    expect(button.locator("xpath=..")).to_have_attribute("bgcolor", "#aa3300")
