"""Quiet hours end at a real future instant in the customer's zone, across DST changes."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lifelong.customers.models import Purpose
from lifelong.customers.services import consent_record
from lifelong.factories import CustomerFactory
from lifelong.messaging.dispatch import dispatch_due
from lifelong.messaging.gates import quiet_until
from lifelong.messaging.models import ChannelConfig, Message, SendingPolicy, Status
from lifelong.messaging.services import message_enqueue

NEW_YORK = "America/New_York"
# 2027-11-07 01:10 EST: the second pass through 01:00-02:00 after the fall-back.
REPEATED_HOUR = dt.datetime(2027, 11, 7, 6, 10, tzinfo=dt.UTC)

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
ZONES = [NEW_YORK, "Europe/London", "Australia/Lord_Howe", "Asia/Vladivostok", "Europe/Moscow"]


def test_a_window_ending_in_the_repeated_hour_wakes_at_its_second_end():
    wake = quiet_until(now=REPEATED_HOUR, time_zone=NEW_YORK, start=dt.time(21), end=dt.time(1, 30))
    # 01:30 EST, not the 01:30 EDT an hour before "now".
    assert wake == dt.datetime(2027, 11, 7, 6, 30, tzinfo=dt.UTC)


def test_a_window_ending_in_the_spring_forward_gap_wakes_after_it():
    # 2027-03-14 in New York jumps from 02:00 EST to 03:00 EDT: 02:30 never happens.
    now = dt.datetime(2027, 3, 14, 6, 50, tzinfo=dt.UTC)  # 01:50 EST
    wake = quiet_until(now=now, time_zone=NEW_YORK, start=dt.time(21), end=dt.time(2, 30))
    assert wake is not None
    assert wake > now
    assert wake.astimezone(zoneinfo.ZoneInfo(NEW_YORK)).time() >= dt.time(3)


@settings(max_examples=400)
@given(
    now=st.integers(0, 3 * 366 * 24 * 60).map(lambda m: START + dt.timedelta(minutes=m)),
    zone=st.sampled_from(ZONES),
    start=st.times().map(lambda t: t.replace(second=0, microsecond=0)),
    end=st.times().map(lambda t: t.replace(second=0, microsecond=0)),
)
def test_the_wake_is_ahead_outside_the_window_and_within_a_day(now, zone, start, end):
    wake = quiet_until(now=now, time_zone=zone, start=start, end=end)
    if wake is None:
        return
    assert now < wake <= now + dt.timedelta(hours=25)
    # Asked again at the wake, the window is over: dispatch never re-defers in a loop.
    assert quiet_until(now=wake, time_zone=zone, start=start, end=end) is None


@pytest.mark.django_db
def test_dispatch_defers_once_in_the_repeated_hour(time_machine):
    time_machine.move_to(REPEATED_HOUR, tick=False)
    ChannelConfig.objects.update_or_create(
        channel="email", defaults={"transport": "sandbox", "config": {}, "active": True}
    )
    SendingPolicy.objects.update_or_create(
        pk=1, defaults={"quiet_start": dt.time(21), "quiet_end": dt.time(1, 30)}
    )
    customer = CustomerFactory.create(time_zone=NEW_YORK)
    consent_record(
        customer=customer, channel="email", purpose=Purpose.MARKETING, granted=True, source="test"
    )
    message_enqueue(
        customer=customer,
        dedupe_key="dst",
        channel="email",
        purpose=Purpose.MARKETING,
        subject="Письмо",
        text="Здравствуйте!",
    )
    assert dispatch_due() == 0
    message = Message.objects.get()
    assert message.status == Status.DEFERRED
    assert message.next_attempt_at == dt.datetime(2027, 11, 7, 6, 30, tzinfo=dt.UTC)
    # Still inside the window: nothing is due, so the same message is not claimed again.
    assert dispatch_due() == 0
    assert Message.objects.get().attempts == message.attempts
