"""The template editor in Chromium, in Russian: the marketer writes the SMS variant, watches
the segment counter switch to the Cyrillic rules as they type, and saves. The page's counter
agrees with the server's on texts a reference would find hard."""

from __future__ import annotations

import random

import pytest
from playwright.sync_api import Page, expect

from lifelong.accounts.models import Role
from lifelong.factories import CustomerFactory, UserFactory
from lifelong.messaging.models import ChannelConfig, Message, Template
from lifelong.messaging.sms_segments import GSM_BASIC, GSM_EXTENSION, sms_count

pytestmark = pytest.mark.browser


@pytest.fixture
def marketer_page(staff_page) -> Page:
    marketer = UserFactory.create(
        username="mila", role=Role.MARKETER, email="mila@shop.example", password=None
    )
    return staff_page(marketer, viewport=(1366, 900))


def counter(page: Page) -> tuple[str, str, str]:
    box = page.locator('[data-sms-count-for="id_sms_text"]')
    return (
        box.locator('[data-sms="length"]').inner_text(),
        box.locator('[data-sms="segments"]').inner_text(),
        box.locator('[data-sms="left"]').inner_text(),
    )


def test_the_marketer_writes_an_sms_and_sees_its_parts(marketer_page, live_server):
    page = marketer_page
    CustomerFactory.create(first_name="Ирина")
    template = Template.objects.create(
        slug="cart",
        name="Корзина",
        channel="email",
        subject="Вы кое-что оставили",
        body_text="Длинное письмо о корзине. Просто ответьте, если есть вопросы.",
    )
    page.goto(f"{live_server.url}/")
    page.get_by_role("link", name="Шаблоны").first.click()
    page.get_by_role("link", name="Корзина").click()

    sms = page.locator("#id_sms_text")
    assert counter(page) == ("0", "0", "160")
    sms.fill("Your cart is waiting")
    assert counter(page) == ("20", "1", "140")
    expect(page.locator('#variant-sms [data-sms-encoding="gsm7"]')).to_be_visible()
    # One Cyrillic letter: the whole text is UCS-2, 70 to an SMS.
    text = "{{ customer.first_name }}, товары ждут в корзине. Заказ соберём сегодня же!"
    sms.fill(text)
    assert len(text) == 75
    assert counter(page) == ("75", "2", "59")
    expect(page.locator('#variant-sms [data-sms-encoding="ucs2"]')).to_be_visible()
    expect(page.locator('#variant-sms [data-sms-encoding="gsm7"]')).to_be_hidden()
    # Its variables print something else than their tags: the page says where to count that.
    expect(page.locator("#variant-sms [data-sms-variables]")).to_be_visible()

    # The preview on SMS renders it for a customer and counts that.
    page.locator("#preview-controls select[name=preview_channel]").select_option("sms")
    # (htmx renders after a pause; a loaded machine may take a while.)
    expect(page.locator("#preview")).to_contain_text(
        "Ирина, товары ждут в корзине.", timeout=20_000
    )
    expect(page.locator("#preview")).not_to_contain_text("Длинное письмо")

    page.get_by_role("button", name="Сохранить").click()
    expect(page.locator("body")).to_contain_text("Шаблон «Корзина» сохранён.")
    template.refresh_from_db()
    assert template.sms_text.startswith("{{ customer.first_name }}, товары ждут")
    assert template.body_text.startswith("Длинное письмо")
    # Saved and shown again: the same count.
    assert counter(page) == ("75", "2", "59")

    # A test of the SMS to the marketer: SMS is not set up, so the page says so.
    form = page.locator("form.test-send")
    form.locator("select[name=test_channel]").select_option("sms")
    form.get_by_role("button", name="Отправить тест себе").click()
    expect(page.locator("body")).to_contain_text("SMS ещё не настроен")
    assert not Message.objects.exists()
    # By email (the sandbox) it goes to the marketer's own address.
    ChannelConfig.objects.create(channel="email", transport="sandbox", active=True)
    page.locator("form.test-send select[name=test_channel]").select_option("email")
    page.locator("form.test-send").get_by_role("button", name="Отправить тест себе").click()
    expect(page.locator("body")).to_contain_text("Тест поставлен в очередь: mila@shop.example")
    assert Message.objects.get().to == "mila@shop.example"


def test_the_page_counts_like_the_server(marketer_page, live_server):
    page = marketer_page
    Template.objects.create(slug="t", name="T", channel="sms", sms_text="x")
    page.goto(f"{live_server.url}/templates/")
    page.get_by_role("link", name="T", exact=True).click()
    alphabet = sorted(GSM_BASIC - {"\r"}) + sorted(GSM_EXTENSION) + list("ёЖя«»—🙂👍")
    dice = random.Random(13)
    texts = ["", "€" * 80, "{" * 81, "я" * 66 + "🙂" + "я" * 3, "a\r\nb"]
    texts += [
        "".join(dice.choice(alphabet) for _ in range(dice.randint(100, 400))) for _ in range(40)
    ]
    texts += [
        "".join(
            dice.choice(sorted(GSM_BASIC | GSM_EXTENSION)) for _ in range(dice.randint(150, 320))
        )
        for _ in range(40)
    ]
    counted = page.evaluate("texts => texts.map(t => window.lifelongSmsCount(t))", texts)
    for text, browser_count in zip(texts, counted, strict=True):
        server = sms_count(text)
        assert browser_count == {
            "encoding": server.encoding,
            "length": server.length,
            "segments": server.segments,
            "left": server.left,
        }, text
