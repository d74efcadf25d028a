"""Birthdays and anniversaries come on the customer's own day, 29 February included."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from lifelong.customers.models import Customer
from lifelong.factories import CustomerFactory
from lifelong.journeys.dates import LOOKBACK_DAYS, journeys_enroll_by_date
from lifelong.journeys.models import Enrollment, Journey, JourneyStatus
from lifelong.journeys.services import journey_create, journey_status_set
from lifelong.lib.zones import zone_of

HONOLULU = "Pacific/Honolulu"
ZONES = [HONOLULU, "Europe/Moscow", "Asia/Kamchatka", "America/New_York", "Pacific/Kiritimati"]


def _journey(kind: str, slug: str = "days", **trigger: Any) -> Journey:
    definition = {
        "trigger": {"kind": kind, **trigger},
        "start": "tag",
        "nodes": [{"id": "tag", "type": "tag", "tag": "celebrated"}],
    }
    journey = journey_create(name="Праздник", slug=slug, definition=definition)
    journey_status_set(journey=journey, status=JourneyStatus.ACTIVE)
    return journey


def _sweep_at(time_machine: Any, when: dt.datetime) -> set[int]:
    """Runs the sweep at `when` and returns who is enrolled so far."""
    time_machine.move_to(when, tick=False)
    journeys_enroll_by_date()
    return set(Enrollment.objects.values_list("customer_id", flat=True))


def _utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)


@pytest.mark.django_db
def test_a_leap_day_birthday_comes_on_28_february_in_other_years(time_machine):
    _journey("birthday")
    leapling = CustomerFactory.create(birthday=dt.date(2000, 2, 29), time_zone="Europe/Moscow")
    assert _sweep_at(time_machine, _utc(2027, 2, 27, 12)) == set()
    assert _sweep_at(time_machine, _utc(2027, 2, 28, 12)) == {leapling.pk}
    _sweep_at(time_machine, _utc(2027, 3, 1, 12))
    assert Enrollment.objects.get().key == "birthday:2027"
    # In a leap year the day itself, and only once.
    assert _sweep_at(time_machine, _utc(2028, 2, 28, 12)) == {leapling.pk}
    _sweep_at(time_machine, _utc(2028, 2, 29, 12))
    assert sorted(Enrollment.objects.values_list("key", flat=True)) == [
        "birthday:2027",
        "birthday:2028",
    ]


@pytest.mark.django_db
def test_a_leap_day_birthday_can_come_on_1_march_instead(time_machine):
    _journey("birthday", leap_day="mar1")
    leapling = CustomerFactory.create(birthday=dt.date(2000, 2, 29), time_zone="Europe/Moscow")
    assert _sweep_at(time_machine, _utc(2027, 2, 28, 12)) == set()
    assert _sweep_at(time_machine, _utc(2027, 3, 1, 12)) == {leapling.pk}


@pytest.mark.django_db
def test_a_birthday_in_honolulu_waits_for_the_day_in_honolulu(time_machine):
    _journey("birthday")
    islander = CustomerFactory.create(birthday=dt.date(1990, 3, 2), time_zone=HONOLULU)
    muscovite = CustomerFactory.create(birthday=dt.date(1990, 3, 2), time_zone="Europe/Moscow")
    # 2 March 00:30 in Moscow is still 1 March, 11:30 in Honolulu.
    assert _sweep_at(time_machine, _utc(2026, 3, 1, 21, 30)) == {muscovite.pk}
    # Midnight of 2 March in Honolulu (UTC-10).
    assert _sweep_at(time_machine, _utc(2026, 3, 2, 10, 0)) == {muscovite.pk, islander.pk}


@pytest.mark.django_db
def test_the_first_order_anniversary_uses_the_customers_calendar(time_machine):
    _journey("first_order_anniversary")
    # 2 March 05:00 UTC was the evening of 1 March in Honolulu: that is the day they bought.
    islander = CustomerFactory.create(
        first_order_at=_utc(2025, 3, 2, 5), last_order_at=_utc(2025, 3, 2, 5), time_zone=HONOLULU
    )
    assert _sweep_at(time_machine, _utc(2026, 3, 1, 9)) == set()  # 28 February there
    assert _sweep_at(time_machine, _utc(2026, 3, 1, 11)) == {islander.pk}
    assert Enrollment.objects.get().context == {"years": "1"}


class TestEachBirthdayOnce(TestCase):
    """Swept every few hours around the day: one enrollment, never before the customer's day."""

    @settings(max_examples=15)
    @given(
        birthday=st.dates(min_value=dt.date(1950, 1, 1), max_value=dt.date(2008, 12, 31)),
        zone=st.sampled_from(ZONES),
        step_hours=st.integers(1, 7),
        leap_day=st.sampled_from(["feb28", "mar1"]),
    )
    def test_one_enrollment_on_or_after_the_local_day(self, birthday, zone, step_hours, leap_day):
        _journey("birthday", slug=f"b-{leap_day}", leap_day=leap_day)
        customer: Customer = CustomerFactory.create(birthday=birthday, time_zone=zone)
        if (birthday.month, birthday.day) == (2, 29):
            day = dt.date(2027, 3, 1) if leap_day == "mar1" else dt.date(2027, 2, 28)
        else:
            day = birthday.replace(year=2027)
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
