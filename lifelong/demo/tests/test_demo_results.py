"""On the demo after `simulate`: every journey's figures agree on the three pages.

The review found a young demo journey at «100,0 % (9 из 9)» and a significant uplift on
the list while the dashboard said «0,0 п. п.». Here the demo runs a few simulated days,
then the pages are read as built and after the clock has moved past every goal window.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from lifelong import clock
from lifelong.accounts.models import Role
from lifelong.demo.generator import demo_build
from lifelong.demo.reactions import demo_simulate
from lifelong.journeys.models import Enrollment, Journey
from lifelong.web.tests.conftest import logged_in, staff
from lifelong.web.tests.test_journey_results_pages import BROKEN, figures

pytestmark = pytest.mark.django_db
DAY = dt.timedelta(days=1)


@pytest.fixture
def demo(frozen_time, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    demo_build(customers=150, seed=21)
    demo_simulate(days=4, seed=3)
    yield
    clock.reset()


def test_every_demo_journey_shows_one_figure_on_the_three_pages(demo):
    assert Enrollment.objects.exists()
    journeys = list(Journey.objects.order_by("pk"))
    analyst = staff(Role.ANALYST)
    young = None
    for moment in range(2):  # as simulated, then with every goal window closed
        client = logged_in(analyst)
        listed = figures(client.get(reverse("web:journeys")).content.decode())
        dashboard = figures(client.get(reverse("web:dashboard")).content.decode())
        for journey in journeys:
            url = reverse("web:journey", kwargs={"pk": journey.pk})
            own = figures(client.get(url).content.decode()).get(journey.pk, {})
            if journey.pk in dashboard:
                assert own == dashboard[journey.pk], (moment, journey.slug)
            else:  # no goal, or nobody entered it: the dashboard leaves it out
                assert own.get("in_progress") is None and own.get("uplift", "—") == "—"
            held_out = journey.enrollments.filter(holdout=True).exists()
            expected = {k: v for k, v in own.items() if k != "holdout" or held_out}
            assert listed.get(journey.pk, {}) == expected, (moment, journey.slug)
            for text in own.values():
                assert not BROKEN.search(text), text
        if moment == 0:
            # Four days in, nothing is mature: no figure yet, only journeys in progress.
            young = {pk: f for pk, f in dashboard.items()}
            assert young and all(f["uplift"] == "—" and f["in_progress"] for f in young.values())
        clock.advance(DAY * 400)
    assert young is not None
