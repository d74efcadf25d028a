"""Ready journeys install from the journeys page, for any shop: owner and marketer, audited."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from playwright.sync_api import expect

from lifelong.accounts.models import AuditLog, Role
from lifelong.journeys.library import LIBRARY, library_install
from lifelong.journeys.models import Journey, JourneyStatus
from lifelong.web.tests.conftest import staff


def _client(role: str) -> Client:
    client = Client()
    client.force_login(staff(role))
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Role.OWNER, Role.MARKETER])
def test_owner_and_marketer_install_a_ready_journey_as_an_audited_draft(role):
    client = _client(role)
    page = client.get(reverse("web:journeys"))
    assert "День клиента" in page.content.decode()
    response = client.post(reverse("web:journey_library_install", args=["customer-day"]))
    journey = Journey.objects.get(slug="customer-day")
    assert response.status_code == 302 and response["Location"] == f"/journeys/{journey.pk}/"
    assert journey.status == JourneyStatus.DRAFT
    actions = set(AuditLog.objects.values_list("action", flat=True))
    assert {"journey.create", "journey.library_install"} <= actions
    # Installed once: the page no longer offers it, a second post changes nothing.
    assert "customer-day/install" not in client.get(reverse("web:journeys")).content.decode()
    client.post(reverse("web:journey_library_install", args=["customer-day"]))
    assert Journey.objects.filter(slug="customer-day").count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Role.SUPPORT, Role.ANALYST])
def test_other_roles_see_no_offer_and_cannot_install(role):
    client = _client(role)
    assert "/install/" not in client.get(reverse("web:journeys")).content.decode()
    response = client.post(reverse("web:journey_library_install", args=["birthday"]))
    assert response.status_code == 403
    assert not Journey.objects.exists()


@pytest.mark.django_db
def test_an_unknown_ready_journey_is_not_found_and_get_is_refused():
    client = _client(Role.OWNER)
    assert client.post(reverse("web:journey_library_install", args=["nope"])).status_code == 404
    assert client.get(reverse("web:journey_library_install", args=["birthday"])).status_code == 405


@pytest.mark.django_db
def test_a_journey_of_the_shops_own_with_the_same_code_is_left_alone():
    client = _client(Role.OWNER)
    library_install("birthday")
    Journey.objects.filter(slug="birthday").update(name="Свой день рождения")
    client.post(reverse("web:journey_library_install", args=["birthday"]))
    assert list(Journey.objects.values_list("name", flat=True)) == ["Свой день рождения"]


@pytest.mark.django_db
def test_the_offer_costs_one_query_however_many_are_installed():
    client = _client(Role.OWNER)
    library_install(LIBRARY[0].slug)
    with CaptureQueriesContext(connection) as one_installed:
        client.get(reverse("web:journeys"))
    for entry in LIBRARY[1:5]:
        library_install(entry.slug)
    with CaptureQueriesContext(connection) as five_installed:
        client.get(reverse("web:journeys"))
    assert len(five_installed) == len(one_installed)


@pytest.mark.browser
def test_a_marketer_installs_customer_day_in_the_browser(browser, live_server, transactional_db):
    marketer = staff(Role.MARKETER, "masha")
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
    page.goto(f"{live_server.url}/journeys/")
    page.locator("button[name=install][value=customer-day]").click()
    expect(page.locator("h1")).to_contain_text("День клиента")
    expect(page.locator("body")).to_contain_text("19 марта")
    journey = Journey.objects.get(slug="customer-day")
    assert AuditLog.objects.filter(action="journey.library_install", actor=marketer).exists()
    assert journey.status == JourneyStatus.DRAFT
    context.close()
