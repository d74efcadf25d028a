"""The public review ask in Chromium: the marketer switches it on with a Yandex Maps page;
switched on without any page it is refused."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from lifelong.accounts.models import AuditLog
from lifelong.feedback.models import ReviewAsk
from lifelong.web.tests.test_surveys_browser import marketer_page  # noqa: F401

pytestmark = pytest.mark.browser

YANDEX = "https://yandex.ru/maps/org/lavka_ayurvedy/1234567890/reviews/"


def test_the_marketer_switches_the_review_ask_on(marketer_page, live_server):  # noqa: F811
    page = marketer_page
    page.goto(f"{live_server.url}/feedback/surveys/")
    page.locator("#review-ask-link").click()
    expect(page.get_by_role("heading", name="Отзывы на площадках")).to_be_visible()
    assert not ReviewAsk.current().enabled  # off until the owner switches it on

    page.locator("input[name=enabled]").check()
    page.get_by_role("button", name="Сохранить").click()
    expect(page.locator("#review-ask")).to_contain_text("Укажите хотя бы одну страницу")
    assert not ReviewAsk.current().enabled

    page.locator("input[name=enabled]").check()
    page.get_by_label("Страница на Яндекс Картах").fill(YANDEX)
    page.get_by_role("button", name="Сохранить").click()
    expect(page.get_by_text("Просьба об отзыве сохранена.")).to_be_visible()
    row = ReviewAsk.current()
    assert row.enabled and row.places() == [("Яндекс Карты", YANDEX)]
    assert AuditLog.objects.filter(action="feedback.review_ask.update").count() == 1
