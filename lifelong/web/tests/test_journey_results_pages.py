"""The journey list, the journey's page and the dashboard show one figure per journey.

Every figure is printed in an element marked `data-figure="<what>-<journey id>"`; the
three pages must print the same text in each, for journeys young and old, with and
without a holdout, and nothing may be flagged significant before goal windows close.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from lifelong import clock
from lifelong.accounts.models import Role
from lifelong.analytics.rollups import analytics_rollup
from lifelong.customers.models import Customer
from lifelong.factories import CustomerFactory
from lifelong.journeys.models import Enrollment, EnrollmentStatus, Journey, JourneyStatus
from lifelong.journeys.services import journey_create, journey_status_set
from lifelong.web.tests.conftest import logged_in, staff

pytestmark = pytest.mark.django_db
DAY = dt.timedelta(days=1)
FIGURE = re.compile(r'data-figure="([a-z_]+)-(\d+)"[^>]*>([^<]*)<')
# What a figure with a hole in it looks like: a unit or a word after nothing.
BROKEN = re.compile(r"(^|(?<!\d) )(%|п\. п\.)|из 0\b|против\s*%")


def figures(html: str) -> dict[int, dict[str, str]]:
    found: dict[int, dict[str, str]] = {}
    for what, pk, text in FIGURE.findall(html):
        found.setdefault(int(pk), {})[what] = text.strip()
    return found


def make_journey(slug: str, *, holdout: int = 50, goal: bool = True) -> Journey:
    definition: dict[str, Any] = {
        "trigger": {"kind": "manual"},
        "start": None,
        "holdout_percent": holdout,
    }
    if goal:
        definition["goal"] = {"event": "order_placed", "within_days": 10}
    journey = journey_create(name=slug.title(), slug=slug, definition=definition)
    journey_status_set(journey=journey, status=JourneyStatus.ACTIVE)
    return journey


def enroll(
    journey: Journey,
    customer: Customer,
    count: int,
    *,
    age_days: float,
    holdout: bool = False,
    converted: int = 0,
) -> None:
    """`count` enrollments `age_days` old, the first `converted` of them converted on day 1."""
    entered = clock.now() - DAY * age_days
    start = Enrollment.objects.filter(journey=journey).count()
    Enrollment.objects.bulk_create(
        Enrollment(
            journey=journey,
            version=journey.current_version,
            customer=customer,
            key=f"k{start + n}",
            holdout=holdout,
            status=EnrollmentStatus.CONVERTED if n < converted else EnrollmentStatus.COMPLETED,
            entered_at=entered,
            goal_met_at=entered + DAY if n < converted else None,
        )
        for n in range(count)
    )


@pytest.fixture
def journeys(db, frozen_time) -> dict[str, Journey]:
    customer = CustomerFactory.create()
    options: list[tuple[str, dict[str, Any]]] = [
        ("young", {}),
        ("works", {}),
        ("mixed", {}),
        ("no-holdout", {"holdout": 0}),
        ("no-goal", {"goal": False}),
    ]
    made = {slug: make_journey(slug, **option) for slug, option in options}
    # Nine early converters of thirteen, three days in: the review's «100,0 % (9 из 9)».
    enroll(made["young"], customer, 13, age_days=3, converted=9)
    enroll(made["young"], customer, 5, age_days=3, holdout=True)
    enroll(made["works"], customer, 200, age_days=20, converted=60)
    enroll(made["works"], customer, 100, age_days=20, holdout=True, converted=10)
    enroll(made["mixed"], customer, 40, age_days=12, converted=8)
    enroll(made["mixed"], customer, 20, age_days=12, holdout=True, converted=3)
    enroll(made["mixed"], customer, 10, age_days=2, converted=10)
    enroll(made["mixed"], customer, 5, age_days=2, holdout=True)
    enroll(made["no-holdout"], customer, 30, age_days=15, converted=6)
    enroll(made["no-goal"], customer, 5, age_days=15)
    analytics_rollup()  # the dashboard shows its sections once a rollup has run
    return made


def pages(client: Client, journeys: dict[str, Journey]) -> dict[str, str]:
    bodies = {
        "list": client.get(reverse("web:journeys")).content.decode(),
        "dashboard": client.get(reverse("web:dashboard")).content.decode(),
    }
    for slug, journey in journeys.items():
        url = reverse("web:journey", kwargs={"pk": journey.pk})
        bodies[f"page:{slug}"] = client.get(url).content.decode()
    return bodies


def test_the_three_pages_show_the_same_figures(journeys, frozen_time):
    analyst = staff(Role.ANALYST)
    for moment in range(3):  # as built, a week later (young closes), a month later
        bodies = pages(logged_in(analyst), journeys)  # a new session: the old one expires
        listed, dashboard = figures(bodies["list"]), figures(bodies["dashboard"])
        for slug, journey in journeys.items():
            own = figures(bodies[f"page:{slug}"]).get(journey.pk, {})
            if slug == "no-goal":
                assert journey.pk not in dashboard and not own
                continue
            assert own == dashboard[journey.pk], (moment, slug)
            # The list has no holdout figure for a journey without anyone held out.
            expected = {k: v for k, v in own.items() if k != "holdout" or slug != "no-holdout"}
            assert listed[journey.pk] == expected, (moment, slug)
            for text in own.values():
                assert not BROKEN.search(text), text
        frozen_time.shift(DAY * (7 if moment == 0 else 30))


def test_nothing_young_is_shown_as_significant(journeys):
    client = logged_in(staff(Role.ANALYST))
    bodies = pages(client, journeys)
    young, works = journeys["young"].pk, journeys["works"].pk
    assert figures(bodies["page:young"])[young] == {
        "treated": "—",
        "holdout": "—",
        "uplift": "—",
        "in_progress": "в процессе: 18",
    }
    assert figures(bodies["page:works"])[works] == {
        "treated": "30,0 %",
        "holdout": "10,0 %",
        "uplift": "+20,0 п. п.",
        "interval": "10,5 … 28,0 п. п.",
    }
    # The mixed journey counts its closed windows only: 8 of 40 against 3 of 20.
    mixed = figures(bodies["page:mixed"])[journeys["mixed"].pk]
    assert (mixed["treated"], mixed["holdout"]) == ("20,0 %", "15,0 %")
    assert mixed["in_progress"] == "в процессе: 15"
    # Significance is marked on the figure of the journey that works, and only there.
    for body in (bodies["list"], bodies["page:works"]):
        marked = re.findall(
            r'class="[^"]*uplift-(?:good|bad)[^"]*" data-figure="uplift-(\d+)"', body
        )
        assert marked == [str(works)]
    marked = re.findall(
        r'class="forest-figure (?:good|bad)"><span data-figure="uplift-(\d+)"', bodies["dashboard"]
    )
    assert marked == [str(works)]
    # Nothing of a young journey is drawn on the forest plot, and the text says why.
    assert "Рано судить: окно цели ещё не закрылось в обеих группах." in bodies["dashboard"]
    for body in bodies.values():
        assert "из 0" not in body and "против %" not in body
    # Only a journey without a holdout is told it needs one.
    needs = [slug for slug in journeys if "нужна контрольная группа" in bodies[f"page:{slug}"]]
    assert needs == ["no-holdout"]
