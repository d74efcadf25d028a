"""Journey problems on the pages: a launch refused with its list, a save that warns, and a
send step whose template vanished counted on the node and flagged on the journeys list."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from playwright.sync_api import expect

from lifelong.accounts.models import Role
from lifelong.customers.models import Purpose
from lifelong.customers.services import consent_record
from lifelong.factories import CustomerFactory
from lifelong.journeys.engine import advance_due
from lifelong.journeys.models import Journey, JourneyStatus
from lifelong.journeys.services import enrollment_start, journey_create, journey_launch
from lifelong.messaging.models import ChannelConfig, Template
from lifelong.web.tests.conftest import staff
from lifelong.web.tests.test_surveys_browser import marketer_page  # noqa: F401

HELLO = {"id": "hello", "type": "send", "template": "thanks", "channel": "email", "next": "pause"}
PAUSE = {"id": "pause", "type": "wait", "days": 1}
FLOW: dict[str, Any] = {"trigger": {"kind": "manual"}, "start": "hello", "nodes": [HELLO, PAUSE]}
MISSING = {**FLOW, "nodes": [{**HELLO, "template": "gone", "label": "Welcome letter"}, PAUSE]}


def marketer() -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(staff(Role.MARKETER))
    return client


@pytest.fixture
def shop(db) -> None:
    ChannelConfig.objects.create(channel="email", transport="sandbox")
    Template.objects.create(
        slug="thanks", name="Thank you", channel="email", subject="Thanks", body_text="Thanks!"
    )


def test_starting_a_journey_with_a_missing_template_is_refused_with_the_list(shop):
    journey = journey_create(name="Welcome", slug="welcome", definition=MISSING)
    client = marketer()
    url = reverse("web:journey_status", kwargs={"pk": journey.pk})
    response = client.post(url, {"action": "activate"}, follow=True)
    html = response.content.decode()
    assert "The journey cannot start: 1 problem, listed below." in html
    assert "Welcome letter</a>: There is no template with the code &quot;gone&quot;." in html
    assert Journey.objects.get(pk=journey.pk).status == JourneyStatus.DRAFT


def test_a_journey_without_steps_cannot_start(shop):
    journey = journey_create(
        name="Empty", slug="empty", definition={"trigger": {"kind": "manual"}, "start": None}
    )
    url = reverse("web:journey_status", kwargs={"pk": journey.pk})
    html = marketer().post(url, {"action": "activate"}, follow=True).content.decode()
    assert "Add at least one step before starting the journey." in html
    assert Journey.objects.get(pk=journey.pk).status == JourneyStatus.DRAFT


def test_saving_a_journey_with_problems_saves_it_and_lists_them(shop):
    journey = journey_create(name="Welcome", slug="welcome", definition=FLOW)
    form = {"trigger_kind": "manual", "reentry_policy": "once", "holdout_percent": "0"}
    response = marketer().post(
        reverse("web:journey_edit", kwargs={"pk": journey.pk}),
        {**form, "nodes": json.dumps(MISSING["nodes"])},
        follow=True,
    )
    html = response.content.decode()
    assert journey.versions.count() == 2
    assert "Saved as version 2. It has 1 problem to fix before it can start; see below." in html
    assert 'id="problems"' in html
    assert "There is no template with the code &quot;gone&quot;." in html
    assert "The journey cannot start until these are fixed." in html


def test_saving_a_running_journey_with_problems_says_new_entrants_get_them(shop):
    journey = journey_create(name="Welcome", slug="welcome", definition=FLOW)
    journey_launch(journey=journey)
    form = {"trigger_kind": "manual", "reentry_policy": "once", "holdout_percent": "0"}
    response = marketer().post(
        reverse("web:journey_edit", kwargs={"pk": journey.pk}),
        {**form, "nodes": json.dumps(MISSING["nodes"])},
        follow=True,
    )
    html = response.content.decode()
    assert "Saved as version 2. New entrants get it with 1 problem; see below." in html
    assert "New entrants meet these as they reach the step" in html


def test_a_vanished_template_shows_on_the_node_and_on_the_list(shop, frozen_time):
    journey = journey_create(name="Welcome", slug="welcome", definition=FLOW)
    journey_launch(journey=journey)
    journey.refresh_from_db()
    for _ in range(2):
        customer = CustomerFactory.create(email="c@example.com")
        consent_record(
            customer=customer, channel="email", purpose=Purpose.MARKETING, granted=True, source="t"
        )
        enrollment_start(journey=journey, customer=customer)
    Template.objects.filter(slug="thanks").delete()
    advance_due()
    client = marketer()

    listing = client.get(reverse("web:journeys")).content.decode()
    assert "2 problems</a>" in listing
    assert "to fix: 1</a>" in listing  # the template is still gone
    assert f'href="/journeys/{journey.pk}/#problems"' in listing

    page = client.get(reverse("web:journey", kwargs={"pk": journey.pk})).content.decode()
    # Listed with the step's name, and drawn on the node (the list under the canvas).
    assert "2 times this step could not send: its template or channel was missing." in page
    assert "<strong>2</strong> not sent: a problem" in page
    # The template is still gone, so the definition's problem shows too.
    assert "There is no template with the code &quot;thanks&quot;." in page
    assert "New entrants meet these as they reach the step" in page


def test_the_list_flags_journeys_that_name_what_does_not_work_in_fixed_queries(shop):
    client = marketer()
    journey_create(name="One", slug="one", definition=MISSING)
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("web:journeys"))
    for n in range(4):
        nodes = [{**HELLO, "template": f"gone{n}"}, PAUSE]
        journey_create(name=f"J{n}", slug=f"j{n}", definition={**FLOW, "nodes": nodes})
    journey_create(name="Fine", slug="fine", definition=FLOW)
    with CaptureQueriesContext(connection) as many:
        listing = client.get(reverse("web:journeys")).content.decode()
    assert len(many) == len(few)
    assert listing.count("to fix: 1</a>") == 5


def test_a_journey_that_sends_shows_no_problems(shop, frozen_time):
    journey = journey_create(name="Welcome", slug="welcome", definition=FLOW)
    journey_launch(journey=journey)
    journey.refresh_from_db()
    enrollment_start(journey=journey, customer=CustomerFactory.create(email="c@example.com"))
    advance_due()
    client = marketer()
    assert "problem" not in client.get(reverse("web:journeys")).content.decode()
    page = client.get(reverse("web:journey", kwargs={"pk": journey.pk})).content.decode()
    assert 'id="problems"' not in page


@pytest.mark.browser
def test_the_marketer_tries_to_start_a_journey_with_a_missing_template(
    marketer_page,  # noqa: F811
    live_server,
):
    ChannelConfig.objects.create(channel="email", transport="sandbox")
    journey = journey_create(name="Добро пожаловать", slug="welcome", definition=MISSING)
    page = marketer_page
    page.goto(f"{live_server.url}/journeys/")
    page.get_by_role("link", name="Добро пожаловать").click()
    page.get_by_role("button", name="Запустить").click()
    expect(page.get_by_text("Сценарий не запущен: 1 проблема, она ниже.")).to_be_visible()
    problems = page.locator("#problems")
    expect(problems).to_contain_text("Welcome letter: Шаблона с кодом «gone» нет.")
    expect(problems).to_contain_text("Сценарий не запустится, пока это не исправлено.")
    assert Journey.objects.get(pk=journey.pk).status == JourneyStatus.DRAFT
