"""The Insights page in Chromium: the NPS chart draws with its whiskers under the page policy."""

from __future__ import annotations

import datetime as dt

from django.test import Client
from django.urls import reverse

from lifelong.accounts.models import Role
from lifelong.factories import CustomerFactory, UserFactory
from lifelong.feedback import insights
from lifelong.feedback.models import Survey, SurveyKind
from lifelong.feedback.tests.test_insights import answers, at
from lifelong.web.tests.test_browser_csp import Watched, chart_size


def test_the_nps_chart_draws_with_its_intervals(browser, live_server, transactional_db):
    survey = Survey.objects.create(name="NPS", kind=SurveyKind.NPS)
    weeks = insights.periods_ended(period="week", count=3)
    scores_by_week = ([10] * 30 + [0] * 10, [9] * 5, [10] * 20 + [8] * 10 + [3] * 10)
    for week, scores in zip(weeks, scores_by_week, strict=True):
        answers(survey, CustomerFactory.create(), scores, at(week + dt.timedelta(days=2)))
    owner = UserFactory.create(username="olga", role=Role.OWNER, password=None)
    client = Client()
    client.force_login(owner)
    context = browser.new_context(locale="ru-RU")
    context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    watched = Watched(context.new_page())
    watched.open(f"{live_server.url}{reverse('web:feedback_insights')}")
    watched.page.wait_for_function("() => typeof Chart !== 'undefined'")
    size = chart_size(watched.page, "chart-nps")
    assert size is not None and size[0] > 0 and size[1] > 0
    drawn = watched.page.evaluate(
        """() => {
          const chart = Chart.getChart(document.getElementById("chart-nps"));
          return chart.data.datasets.map(d => d.data.slice(-3));
        }"""
    )
    # The line: 50, a gap below the base, 25; the whiskers around each figure.
    assert drawn[0] == [50, None, 25]
    assert drawn[1][1] is None and drawn[1][0][0] < 50 < drawn[1][0][1]
    watched.assert_clean()
    context.close()
