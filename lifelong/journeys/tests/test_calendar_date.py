"""A calendar-date trigger: one day a year (Customer Day, 19 March), on each customer's clock."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pydantic
import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from lifelong.customers.models import Customer
from lifelong.factories import CustomerFactory
from lifelong.journeys.dates import LOOKBACK_DAYS, journeys_enroll_by_date
from lifelong.journeys.definition import Trigger
from lifelong.journeys.models import Enrollment, Journey, JourneyStatus
from lifelong.journeys.services import journey_create, journey_status_set
from lifelong.lib.zones import zone_of

HONOLULU = "Pacific/Honolulu"  # UTC-10
KIRITIMATI = "Pacific/Kiritimati"  # UTC+14: the first to see a new day
ZONES = [HONOLULU, "Europe/Moscow", "Asia/Kamchatka", "America/New_York", KIRITIMATI]


def _journey(day: int = 19, month: int = 3, slug: str = "customer-day", **extra: Any) -> Journey:
    definition = {
        "trigger": {"kind": "calendar_date", "day": day, "month": month, **extra},
        "start": "tag",
        "nodes": [{"id": "tag", "type": "tag", "tag": "celebrated"}],
    }
    journey = journey_create(name="День клиента", slug=slug, definition=definition)
    journey_status_set(journey=journey, status=JourneyStatus.ACTIVE)
    return journey


def _sweep_at(time_machine: Any, when: dt.datetime) -> set[int]:
    time_machine.move_to(when, tick=False)
    journeys_enroll_by_date()
    return set(Enrollment.objects.values_list("customer_id", flat=True))


def _utc(year: int, month: int, day: int, hour: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("day", "month", "problem"),
    [
        (0, 3, "needs a day and a month"),
        (19, 0, "needs a day and a month"),
        (30, 2, "no day 30 in month 2"),
        (31, 4, "no day 31 in month 4"),
    ],
)
def test_a_date_that_does_not_exist_is_refused(day, month, problem):
    with pytest.raises(pydantic.ValidationError, match=problem):
        Trigger(kind="calendar_date", day=day, month=month)


def test_29_february_is_a_date_like_any_other():
    trigger = Trigger(kind="calendar_date", day=29, month=2, leap_day="mar1")
    assert (trigger.day, trigger.month, trigger.leap_day) == (29, 2, "mar1")


@pytest.mark.django_db
def test_the_day_comes_first_in_kiritimati_and_last_in_honolulu(time_machine):
    _journey()
    east = CustomerFactory.create(time_zone=KIRITIMATI)
    moscow = CustomerFactory.create(time_zone="Europe/Moscow")
    west = CustomerFactory.create(time_zone=HONOLULU)
    # 18 March 09:00 UTC: already 19 March 00:00 on Kiritimati, the 18th everywhere else.
    assert _sweep_at(time_machine, _utc(2027, 3, 18, 9)) - {east.pk} == set()
    assert _sweep_at(time_machine, _utc(2027, 3, 18, 10)) == {east.pk}
    assert _sweep_at(time_machine, _utc(2027, 3, 18, 20)) == {east.pk}  # 23:00 in Moscow
    assert _sweep_at(time_machine, _utc(2027, 3, 18, 21)) == {east.pk, moscow.pk}
    assert _sweep_at(time_machine, _utc(2027, 3, 19, 9)) == {east.pk, moscow.pk}  # 23:00 there
    assert _sweep_at(time_machine, _utc(2027, 3, 19, 10)) == {east.pk, moscow.pk, west.pk}
    assert set(Enrollment.objects.values_list("key", flat=True)) == {"yearly:2027"}
    assert Enrollment.objects.get(customer=west).context == {"date": "2027-03-19"}


@pytest.mark.django_db
def test_once_a_year_and_again_next_year(time_machine):
    _journey()
    anna = CustomerFactory.create(time_zone="Europe/Moscow")
    for hour in range(0, 24 * (LOOKBACK_DAYS + 2), 5):
        _sweep_at(time_machine, _utc(2027, 3, 18) + dt.timedelta(hours=hour))
    assert Enrollment.objects.filter(customer=anna).count() == 1
    _sweep_at(time_machine, _utc(2028, 3, 19, 12))
    assert sorted(Enrollment.objects.values_list("key", flat=True)) == [
        "yearly:2027",
        "yearly:2028",
    ]


@pytest.mark.django_db
def test_a_missed_day_is_caught_up_within_the_look_back_only(time_machine):
    _journey()
    anna = CustomerFactory.create(time_zone="Europe/Moscow")
    late = _utc(2027, 3, 19, 12) + dt.timedelta(days=LOOKBACK_DAYS)
    assert _sweep_at(time_machine, late) == set()
    assert _sweep_at(time_machine, late - dt.timedelta(days=1)) == {anna.pk}


@pytest.mark.django_db
def test_29_february_comes_on_the_28th_or_1_march_in_other_years(time_machine):
    _journey(day=29, month=2, slug="leap-28")
    _journey(day=29, month=2, slug="leap-1", leap_day="mar1")
    anna = CustomerFactory.create(time_zone="Europe/Moscow")
    _sweep_at(time_machine, _utc(2027, 2, 28, 12))
    assert list(Enrollment.objects.values_list("journey__slug", flat=True)) == ["leap-28"]
    _sweep_at(time_machine, _utc(2027, 3, 1, 12))
    assert Enrollment.objects.filter(customer=anna).count() == 2
    # A leap year has the day itself.
    _sweep_at(time_machine, _utc(2028, 2, 28, 12))
    assert Enrollment.objects.filter(key="yearly:2028").count() == 0
    _sweep_at(time_machine, _utc(2028, 2, 29, 12))
    assert Enrollment.objects.filter(key="yearly:2028").count() == 2


@pytest.mark.django_db
def test_an_unknown_zone_lives_by_the_shops_clock(time_machine, settings):
    _journey()
    lost = CustomerFactory.create(time_zone="Mars/Olympus")
    blank = CustomerFactory.create(time_zone="")
    # 18 March 21:00 UTC is midnight of the 19th in Moscow, the shop's zone.
    assert _sweep_at(time_machine, _utc(2027, 3, 18, 20)) == set()
    assert _sweep_at(time_machine, _utc(2027, 3, 18, 21)) == {lost.pk, blank.pk}


@pytest.mark.django_db
def test_merged_customers_and_other_days_stay_out(time_machine):
    _journey()
    survivor = CustomerFactory.create(time_zone="Europe/Moscow")
    CustomerFactory.create(time_zone="Europe/Moscow", merged_into=survivor)
    assert _sweep_at(time_machine, _utc(2027, 3, 10, 12)) == set()
    assert _sweep_at(time_machine, _utc(2027, 3, 19, 12)) == {survivor.pk}


@pytest.mark.django_db
def test_the_sweep_reads_no_customer_away_from_the_date_and_none_twice(time_machine):
    _journey()
    CustomerFactory.create_batch(30, time_zone="Europe/Moscow")
    time_machine.move_to(_utc(2027, 6, 1, 12), tick=False)
    with CaptureQueriesContext(connection) as away:
        assert journeys_enroll_by_date() == 0
    assert not [q for q in away.captured_queries if "customers_customer" in q["sql"]]
    time_machine.move_to(_utc(2027, 3, 19, 12), tick=False)
    assert journeys_enroll_by_date() == 30
    # Everyone enrolled is left out by the query itself: the next sweep of the day reads one
    # journey and one customer query, whatever the number of customers.
    with CaptureQueriesContext(connection) as again:
        assert journeys_enroll_by_date() == 0
    assert len(again.captured_queries) <= 3


class TestOnceOnTheLocalDay(TestCase):
    """Swept every few hours around the date: one enrollment, never before the local day."""

    @settings(max_examples=15)
    @given(
        date=st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2000, 12, 31)),
        zone=st.sampled_from(ZONES),
        step_hours=st.integers(1, 7),
        leap_day=st.sampled_from(["feb28", "mar1"]),
    )
    def test_one_enrollment_on_or_after_the_local_day(self, date, zone, step_hours, leap_day):
        _journey(day=date.day, month=date.month, slug=f"d-{leap_day}", leap_day=leap_day)
        customer: Customer = CustomerFactory.create(time_zone=zone)
        if (date.month, date.day) == (2, 29):
            day = dt.date(2027, 3, 1) if leap_day == "mar1" else dt.date(2027, 2, 28)
        else:
            day = date.replace(year=2027)
        start = dt.datetime.combine(day, dt.time(0), tzinfo=zone_of(zone)) - dt.timedelta(days=2)
        enrolled_at = None
        for hour in range(0, 24 * (LOOKBACK_DAYS + 3), step_hours):
            when = start + dt.timedelta(hours=hour)
            with time_machine.travel(when, tick=False):
                journeys_enroll_by_date()
            if enrolled_at is None and Enrollment.objects.filter(customer=customer).exists():
                enrolled_at = when
        assert Enrollment.objects.filter(customer=customer).count() == 1
        assert enrolled_at is not None
        local = enrolled_at.astimezone(zone_of(zone)).date()
        assert day <= local < day + dt.timedelta(days=LOOKBACK_DAYS)
