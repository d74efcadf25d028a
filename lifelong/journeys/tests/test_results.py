"""`journeys_results`: only closed goal windows count, in both arms alike."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifelong import clock
from lifelong.customers.models import Customer
from lifelong.factories import CustomerFactory
from lifelong.journeys.models import (
    Enrollment,
    EnrollmentStatus,
    Journey,
    JourneyStatus,
    JourneyVersion,
)
from lifelong.journeys.results import journeys_results
from lifelong.journeys.services import journey_create, journey_status_set, journey_version_save
from lifelong.journeys.uplift import Arm, Results, uplift_interval

DAY = dt.timedelta(days=1)
NOW = dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC)
KEYS = itertools.count()


def definition(days: int | None = 10) -> dict:
    goal = {"goal": {"event": "order_placed", "within_days": days}} if days else {}
    return {"trigger": {"kind": "manual"}, "start": None, "holdout_percent": 50, **goal}


def make_journey(slug: str = "welcome", days: int | None = 10) -> Journey:
    journey = journey_create(name=slug, slug=slug, definition=definition(days))
    journey_status_set(journey=journey, status=JourneyStatus.ACTIVE)
    return journey


def enroll(
    journey: Journey,
    customer: Customer,
    *,
    age_days: float,
    holdout: bool = False,
    converted_after_days: float | None = None,
    version: JourneyVersion | None = None,
    status: str | None = None,
    ended_after_days: float | None = None,
) -> Enrollment:
    entered = clock.now() - DAY * age_days
    goal = None if converted_after_days is None else entered + DAY * converted_after_days
    version = version or journey.current_version
    assert version is not None
    return Enrollment.objects.create(
        journey=journey,
        version=version,
        customer=customer,
        key=f"k{next(KEYS)}",
        holdout=holdout,
        status=status or (EnrollmentStatus.CONVERTED if goal else EnrollmentStatus.COMPLETED),
        entered_at=entered,
        goal_met_at=goal,
        ended_at=None if ended_after_days is None else entered + DAY * ended_after_days,
    )


def results_of(journey: Journey) -> Results:
    return journeys_results([journey.pk], clock.now())[journey.pk]


@pytest.fixture
def customer(db) -> Customer:
    return CustomerFactory.create()


def test_an_early_converter_waits_for_its_window_like_everybody_else(customer, frozen_time):
    journey = make_journey()
    # A young journey: nine treated converted in their first days, nobody's window closed.
    for _ in range(9):
        enroll(journey, customer, age_days=3, converted_after_days=1)
    for _ in range(5):
        enroll(journey, customer, age_days=3, holdout=True)
    young = results_of(journey)
    assert (young.treated, young.holdout, young.uplift) == (Arm(), Arm(), None)
    assert (young.treated_open, young.holdout_open, young.in_progress) == (9, 5, 14)
    # A week later every window has closed: the holdout's non-converters count now too.
    frozen_time.shift(DAY * 8)
    grown = results_of(journey)
    assert (grown.treated, grown.holdout) == (Arm(n=9, converted=9), Arm(n=5, converted=0))
    assert grown.in_progress == 0
    assert grown.uplift is not None
    assert (grown.uplift.diff, grown.uplift.low, grown.uplift.high) == uplift_interval(9, 9, 0, 5)


def test_the_window_is_the_versions_own_and_a_late_goal_does_not_count(customer, frozen_time):
    journey = make_journey(days=10)
    first = journey.current_version
    journey_version_save(journey=journey, definition=definition(days=30))
    journey.refresh_from_db()
    second = journey.current_version
    assert first is not None and second is not None and first != second
    enroll(journey, customer, age_days=11, version=first)  # closed (10 days)
    enroll(journey, customer, age_days=11, version=second)  # open (30 days)
    enroll(journey, customer, age_days=40, version=second, converted_after_days=29)
    # Marked by hand after the window: outside the rule, so not a conversion.
    enroll(journey, customer, age_days=40, version=second, converted_after_days=31)
    results = results_of(journey)
    assert results.treated == Arm(n=3, converted=1)
    assert results.treated_open == 1


def test_an_enrollment_cancelled_before_its_window_closed_is_not_counted(customer, frozen_time):
    journey = make_journey()
    cancelled = EnrollmentStatus.CANCELLED
    enroll(journey, customer, age_days=20, status=cancelled, ended_after_days=2)  # merged away
    enroll(journey, customer, age_days=20, status=cancelled, ended_after_days=15)  # after it
    enroll(journey, customer, age_days=2, status=cancelled, ended_after_days=1)
    results = results_of(journey)
    assert results.treated == Arm(n=1, converted=0)
    assert results.in_progress == 0


def test_an_archived_journey_counts_the_windows_closed_when_it_stopped_watching(
    customer, frozen_time
):
    journey = make_journey()
    enroll(journey, customer, age_days=15, converted_after_days=2)
    enroll(journey, customer, age_days=12, holdout=True)
    enroll(journey, customer, age_days=4)  # walked to the end already: stays completed
    young = enroll(journey, customer, age_days=4, status=EnrollmentStatus.ACTIVE)
    enroll(journey, customer, age_days=4, holdout=True, status=EnrollmentStatus.ACTIVE)
    journey_status_set(journey=journey, status=JourneyStatus.ARCHIVED)
    young.refresh_from_db()
    assert young.status == EnrollmentStatus.CANCELLED
    frozen_time.shift(DAY * 30)
    results = results_of(journey)
    # The goal is no longer watched: the young ones' windows never close (a completed one
    # included, though archiving left it alone), and they are not "in progress" for ever.
    assert (results.treated, results.holdout) == (Arm(n=1, converted=1), Arm(n=1, converted=0))
    assert results.in_progress == 0


def test_two_queries_for_any_number_of_journeys(customer, frozen_time, django_assert_num_queries):
    journeys = [make_journey(f"j{n}", days=5 + n) for n in range(4)]
    plain = make_journey("no-goal", days=None)
    for n, journey in enumerate(journeys):
        enroll(journey, customer, age_days=3 + 2 * n, converted_after_days=1)
        enroll(journey, customer, age_days=30, holdout=True)
    with django_assert_num_queries(2):
        results = journeys_results([j.pk for j in [*journeys, plain]], clock.now())
    assert not results[plain.pk].has_goal and results[plain.pk].uplift is None
    assert [results[j.pk].treated_open for j in journeys] == [1, 1, 0, 0]
    assert [results[j.pk].holdout.n for j in journeys] == [1, 1, 1, 1]


# --- the property: maturity ------------------------------------------------------------------

closed = st.tuples(
    st.booleans(),  # holdout
    st.integers(0, 1),  # version: goal within 10 or 30 days
    st.floats(0, 60),  # days past the end of the window
    st.one_of(st.none(), st.floats(0, 1)),  # converted at this share of the window
)
still_open = st.tuples(
    st.booleans(),
    st.integers(0, 1),
    st.floats(0, 0.99),  # share of the window already gone
    st.one_of(st.none(), st.floats(0, 1)),  # converted at this share of the time so far
)


@pytest.mark.django_db
@settings(
    max_examples=40,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(base=st.lists(closed, max_size=25), young=st.lists(still_open, min_size=1, max_size=25))
def test_enrollments_whose_window_is_open_never_change_conversion_or_uplift(base, young):
    with time_machine.travel(NOW, tick=False):
        Enrollment.objects.all().delete()
        Journey.objects.all().delete()
        journey = make_journey(days=10)
        first = journey.current_version
        journey_version_save(journey=journey, definition=definition(days=30))
        journey.refresh_from_db()
        versions = [(first, 10), (journey.current_version, 30)]
        customer = CustomerFactory.create()
        for holdout, which, past_end, converted in base:
            version, days = versions[which]
            enroll(
                journey,
                customer,
                age_days=days + past_end,
                holdout=holdout,
                version=version,
                converted_after_days=None if converted is None else days * converted,
            )
        before = results_of(journey)
        for holdout, which, gone, converted in young:
            version, days = versions[which]
            enroll(
                journey,
                customer,
                age_days=days * gone,
                holdout=holdout,
                version=version,
                converted_after_days=None if converted is None else days * gone * converted,
            )
        after = results_of(journey)
    assert (after.treated, after.holdout, after.uplift) == (
        before.treated,
        before.holdout,
        before.uplift,
    )
    assert after.in_progress == before.in_progress + len(young)
    assert after.treated_open - before.treated_open == sum(not h for h, *_rest in young)
