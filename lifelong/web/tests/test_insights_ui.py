"""The Insights page: roles, its figures, a fixed number of queries; the dashboard's digest."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from lifelong.conftest import client_for
from lifelong.factories import CustomerFactory
from lifelong.feedback.models import Survey, SurveyKind, Theme
from lifelong.feedback.tests.test_insights import MONDAY, answers, at

URL = reverse("web:feedback_insights")


@pytest.fixture
def feedback(db):
    Theme.objects.get_or_create(
        slug="delivery", defaults={"name_ru": "Доставка", "name_en": "Delivery"}
    )
    survey = Survey.objects.create(name="NPS", kind=SurveyKind.NPS)
    answers(
        survey,
        CustomerFactory.create(),
        [10] * 30 + [0] * 10,
        at(MONDAY - dt.timedelta(days=5)),
        themes=["delivery"],
        comment="Курьер опоздал, но вежливый",
    )
    return survey


def test_owner_marketer_and_analyst_see_it_support_does_not(owner, marketer, analyst, support):
    for user in (owner, marketer, analyst):
        assert client_for(user).get(URL).status_code == 200
    assert client_for(support).get(URL).status_code == 403


def test_the_page_shows_the_figures(owner, feedback, frozen_time):
    response = client_for(owner).get(URL)
    page = response.content.decode()
    assert response.status_code == 200
    assert 'id="insights-data"' in page and "web/insights.js" in page
    rows = response.context["rows"]
    assert rows[0].nps.n == 40 and rows[0].nps.value == pytest.approx(50.0)
    assert rows[1].nps.value is None  # the week before: nobody answered
    assert "Доставка" in page and "Курьер опоздал, но вежливый" in page
    chart = response.context["chart"]
    assert chart["nps"][-1] == 50.0 and chart["interval"][-1][0] < 50 < chart["interval"][-1][1]
    month = client_for(owner).get(URL, {"period": "month"})
    assert month.context["period"] == "month" and len(month.context["rows"]) == 12


def test_the_page_reads_in_a_fixed_number_of_queries(owner, feedback, frozen_time):
    client = client_for(owner)
    client.get(URL)
    with CaptureQueriesContext(connection) as few:
        client.get(URL)
    for week in range(2, 8):
        answers(
            feedback,
            CustomerFactory.create(),
            [9, 5, 7] * 12,
            at(MONDAY - dt.timedelta(days=7 * week)),
            themes=["delivery", "price"],
            comment="Дорого",
        )
    with CaptureQueriesContext(connection) as many:
        client.get(URL)
    assert len(many) == len(few)


def test_the_dashboard_shows_the_weekly_digest(owner, support, feedback, frozen_time):
    page = client_for(support).get(reverse("web:dashboard")).content.decode()
    assert 'id="feedback-digest"' in page and "Доставка" in page
    assert URL not in page  # support may not open the Insights page
    assert URL in client_for(owner).get(reverse("web:dashboard")).content.decode()
