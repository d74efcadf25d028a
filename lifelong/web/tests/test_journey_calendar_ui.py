"""The journey editor's calendar-date trigger: a day and a month, checked before it is saved."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from playwright.sync_api import expect

from lifelong.accounts.models import Role
from lifelong.journeys.models import Journey
from lifelong.journeys.services import journey_create
from lifelong.web.forms_journeys import DefinitionForm
from lifelong.web.tests.conftest import staff

FLOW = {"trigger": {"kind": "manual"}, "start": "bye", "nodes": [{"id": "bye", "type": "exit"}]}


def _post(journey: Journey, **fields: str) -> dict[str, str]:
    data = {
        **{k: str(v) for k, v in DefinitionForm.initial_from(FLOW).items() if v is not None},
        "goal_enabled": "",
        **fields,
    }
    return {k: v for k, v in data.items() if v != "False"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("day", "month", "saved"),
    [
        ("19", "3", True),
        ("29", "2", True),
        ("30", "2", False),
        ("31", "4", False),
        ("", "3", False),
    ],
)
def test_the_editor_saves_only_a_date_that_exists(day, month, saved):
    client = Client()
    client.force_login(staff(Role.MARKETER))
    journey = journey_create(name="Праздник", slug="holiday", definition=FLOW)
    response = client.post(
        reverse("web:journey_edit", args=[journey.pk]),
        _post(journey, trigger_kind="calendar_date", trigger_day=day, trigger_month=month),
    )
    journey.refresh_from_db()
    assert journey.current_version is not None
    if saved:
        assert response.status_code == 302
        trigger = journey.current_version.parsed().trigger
        assert (trigger.kind, trigger.day, trigger.month) == ("calendar_date", int(day), int(month))
        page = client.get(reverse("web:journey", args=[journey.pk])).content.decode()
        assert "Каждый год" in page and "по часам клиента" in page
    else:
        assert response.status_code == 400
        assert journey.current_version.number == 1


@pytest.mark.browser
def test_a_marketer_sets_customer_day_in_the_browser(browser, live_server, transactional_db):
    marketer = staff(Role.MARKETER, "masha")
    journey = journey_create(name="День клиента", slug="customer-day", definition=FLOW)
    client = Client()
    client.force_login(marketer)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ru-RU")
    cookies = [("sessionid", client.cookies["sessionid"].value), ("django_language", "ru")]
    context.add_cookies([{"name": n, "value": v, "url": live_server.url} for n, v in cookies])
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.set_default_navigation_timeout(60_000)  # a fresh live server under load is slow
    page.goto(f"{live_server.url}/journeys/{journey.pk}/edit/")
    page.locator("select[name=trigger_kind]").select_option("calendar_date")
    page.locator("input[name=trigger_day]").fill("30")
    page.locator("select[name=trigger_month]").select_option("2")
    page.locator(".save-bar button[type=submit]").click()
    expect(page.locator(".problems")).to_contain_text("no day 30 in month 2")
    page.locator("input[name=trigger_day]").fill("19")
    page.locator("select[name=trigger_month]").select_option("3")
    page.locator(".save-bar button[type=submit]").click()
    expect(page.locator("body")).to_contain_text("Сохранено как версия 2.")
    expect(page.locator("body")).to_contain_text("Каждый год 19 марта, по часам клиента")
    saved = Journey.objects.get(pk=journey.pk).current_version
    assert saved is not None
    trigger = saved.parsed().trigger
    assert (trigger.kind, trigger.day, trigger.month) == ("calendar_date", 19, 3)
    context.close()
