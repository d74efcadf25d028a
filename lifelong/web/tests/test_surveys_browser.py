"""Surveys in a real browser (Debian's Chromium): the customer answers on a phone with
scripts off, from an email's score link; the marketer adds a survey and edits a question."""

from __future__ import annotations

import pytest
from django.test import Client
from playwright.sync_api import Page, expect

from lifelong.accounts.models import AuditLog, Role
from lifelong.factories import CustomerFactory, UserFactory, damaged
from lifelong.feedback.models import Invite, Response, Survey, SurveyKind
from lifelong.feedback.survey_editor import survey_save
from lifelong.feedback.surveys import invite_url, survey_invite_create
from lifelong.feedback.tests.test_surveys import delivery_theme

pytestmark = pytest.mark.browser

PHONE = {
    "viewport": {"width": 360, "height": 740},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}


@pytest.fixture
def invite(transactional_db, settings, live_server) -> Invite:
    settings.SITE_URL = live_server.url
    survey = survey_save(
        survey=None,
        values={"name": "Как мы вам?", "kind": SurveyKind.NPS, "language": "ru"},
        questions=[],
        actor=None,
    )
    made = survey_invite_create(
        survey=survey, customer=CustomerFactory.create(language="en"), key="email-1"
    )
    assert made is not None
    return made


def _phone(browser, *, scripts: bool) -> Page:
    context = browser.new_context(locale="ru-RU", java_script_enabled=scripts, **PHONE)
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page


def test_a_customer_answers_from_a_score_link_on_a_phone_without_scripts(browser, invite):
    delivery_theme()
    page = _phone(browser, scripts=False)
    page.goto(invite_url(invite, score=4))
    question = page.get_by_role("group", name="Насколько вероятно, что вы порекомендуете нас")
    expect(question.get_by_role("radio", name="4", exact=True)).to_be_checked()
    # The page shown in a browser: the score counts (test_survey_seen_browser.py).
    assert Response.objects.get().score == 4
    # The score from the link already asks its follow-up.
    page.get_by_label("Что пошло не так?").fill("Курьер опоздал, а заказ пришёл мятым")
    page.get_by_role("button", name="Отправить").click()

    expect(page.get_by_role("heading", name="Спасибо за ваш ответ")).to_be_visible()
    response = Response.objects.get()
    assert response.score == 4
    assert "delivery" in response.themes
    page.get_by_role("link", name="Изменить ответы").click()
    expect(page.get_by_label("Что пошло не так?")).to_have_value(
        "Курьер опоздал, а заказ пришёл мятым"
    )


def test_the_scale_fits_a_phone_and_answers_from_the_keyboard(browser, invite):
    page = _phone(browser, scripts=True)
    page.goto(invite_url(invite))
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    first = page.get_by_role("radio", name="0", exact=True)
    first.focus()
    for _ in range(9):
        page.keyboard.press("ArrowRight")
    expect(page.get_by_role("radio", name="9", exact=True)).to_be_checked()
    expect(page.get_by_role("radio", name="9", exact=True)).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Отправить")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Ещё пара вопросов")).to_be_visible()
    page.get_by_label("Что понравилось больше всего?").fill("Вежливый курьер")
    page.get_by_role("button", name="Отправить").click()
    expect(page.get_by_role("heading", name="Спасибо за ваш ответ")).to_be_visible()
    assert Response.objects.get().score == 9


def test_a_forged_link_gets_a_kind_page(browser, invite):
    page = _phone(browser, scripts=False)
    page.goto(damaged(invite_url(invite)))
    expect(page.get_by_role("heading", name="Ссылка не работает")).to_be_visible()


@pytest.fixture
def marketer_page(browser, live_server, transactional_db) -> Page:
    marketer = UserFactory.create(username="marina", role=Role.MARKETER, password=None)
    client = Client()
    client.force_login(marketer)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ru-RU")
    context.add_cookies(
        [
            {
                "name": "sessionid",
                "value": client.cookies["sessionid"].value,
                "url": live_server.url,
            },
            {"name": "django_language", "value": "ru", "url": live_server.url},
        ]
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page


def test_the_marketer_adds_a_survey_and_edits_a_follow_up(marketer_page, live_server):
    page = marketer_page
    page.goto(f"{live_server.url}/")
    page.get_by_role("link", name="Опросы").click()
    page.get_by_role("button", name="Добавить опрос").click()
    page.get_by_label("Название").fill("После доставки")
    page.locator("select[name=kind]").select_option("csat")
    page.get_by_role("button", name="Сохранить").click()

    expect(page.get_by_role("heading", name="После доставки")).to_be_visible()
    survey = Survey.objects.get()
    assert survey.questions.count() == 3
    third = page.locator("#question-3")
    expect(third.locator("input[name$=text]")).to_have_value("Что помешало поставить 5?")
    third.locator("input[name$=text]").fill("Чего не хватило до пятёрки?")
    page.get_by_role("button", name="Сохранить").click()

    expect(page.get_by_text("Опрос «После доставки» сохранён.")).to_be_visible()
    assert survey.questions.get(position=3).text == "Чего не хватило до пятёрки?"
    assert survey.questions.get(position=3).show_if_min == 4
    assert AuditLog.objects.filter(action__startswith="feedback.survey.").count() == 2
    page.get_by_role("link", name="Опросы").first.click()
    expect(page.locator("#surveys")).to_contain_text("После доставки")
