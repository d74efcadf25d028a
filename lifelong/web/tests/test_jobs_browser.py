"""The Jobs page in a real browser (Debian's Chromium), in Russian: the owner opens it from the
menu and retries an event the journeys set aside."""

from __future__ import annotations

import pytest
from django.test import Client
from playwright.sync_api import expect

from lifelong.accounts.models import Role
from lifelong.events.models import Event, SetAsideEvent
from lifelong.factories import CustomerFactory, UserFactory

pytestmark = pytest.mark.browser


def test_the_owner_retries_a_set_aside_event(browser, live_server, transactional_db):
    owner = UserFactory.create(username="olga", role=Role.OWNER, password=None)
    event = Event.objects.create(customer=CustomerFactory.create(), type="order_placed")
    aside = SetAsideEvent.objects.create(
        reactor="journeys", event=event, error="KeyError: 'order_id'"
    )
    client = Client()
    client.force_login(owner)
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
    page.goto(f"{live_server.url}/")
    page.get_by_role("link", name="Задачи фона").click()
    expect(page.get_by_role("heading", name="Задачи фона")).to_be_visible()
    expect(page.locator("#sweeps")).to_contain_text("messaging.dispatch_due")
    row = page.locator(f"#set-aside-{aside.pk}")
    expect(row).to_contain_text("KeyError")
    row.get_by_role("button", name="Повторить").click()
    expect(page.locator("body")).to_contain_text("Событие обработано и убрано из списка.")
    expect(page.locator(f"#set-aside-{aside.pk}")).to_have_count(0)
    assert not SetAsideEvent.objects.exists()
    context.close()
