"""The journey editor in a real browser (Debian's Chromium), in Russian: a marketer makes a
birthday journey celebrate 29 February on 1 March in other years and saves a new version."""

from __future__ import annotations

import pytest
from django.test import Client
from playwright.sync_api import expect

from lifelong.accounts.models import Role
from lifelong.factories import UserFactory
from lifelong.journeys.models import Journey
from lifelong.journeys.services import journey_create

pytestmark = pytest.mark.browser

BIRTHDAY = {
    "trigger": {"kind": "birthday"},
    "start": "bye",
    "nodes": [{"id": "bye", "type": "exit"}],
}


def test_a_marketer_saves_where_a_leap_day_birthday_falls(browser, live_server, transactional_db):
    marketer = UserFactory.create(username="masha", role=Role.MARKETER, password=None)
    journey = journey_create(name="День рождения", slug="birthday", definition=BIRTHDAY)
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
    page.set_default_navigation_timeout(60_000)  # a fresh live server under load is slow
    page.goto(f"{live_server.url}/journeys/{journey.pk}/edit/")
    page.locator("select[name=trigger_leap_day]").select_option("mar1")
    page.locator(".save-bar button[type=submit]").click()
    expect(page.locator("body")).to_contain_text("Сохранено как версия 2.")
    saved = Journey.objects.get(pk=journey.pk).current_version
    assert saved is not None
    assert saved.parsed().trigger.leap_day == "mar1"
    context.close()
