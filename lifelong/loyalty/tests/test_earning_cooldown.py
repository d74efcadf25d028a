"""Event rules with a cooldown and a cap: the invariant over random streams (out of order,
several customers, the sweep run at random points) and the rule form's checks."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import translation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifelong import clock
from lifelong.conftest import FROZEN_AT
from lifelong.events.models import Event
from lifelong.events.services import events_record
from lifelong.factories import CustomerFactory
from lifelong.loyalty.earning import loyalty_earn
from lifelong.loyalty.models import Cursor, EarningRule, Entry, RuleKind, Transaction, TxKind
from lifelong.loyalty.tests.helpers import assert_consistent, programme_start

pytestmark = pytest.mark.django_db

event = st.tuples(
    st.integers(0, 1),  # which customer
    st.integers(0, 4 * 24 * 60),  # minutes after the start, in any order
    st.booleans(),  # run the sweep after this event
)


def _reference(
    stream: list[tuple[int, dt.datetime]], cooldown: dt.timedelta, count: int, days: int
) -> dict[int, list[dt.datetime]]:
    """What a careful person would award, reading the stream in order: an event earns when no
    award is closer than the cooldown on either side and no cap period holding it is full."""
    awarded: dict[int, list[dt.datetime]] = {}
    period = dt.timedelta(days=days)
    for who, at in stream:
        times = awarded.setdefault(who, [])
        if cooldown and any(abs(t - at) < cooldown for t in times):
            continue
        if count:
            after = sorted([at, *times])
            if any(sum(1 for t in after if end - period < t <= end) > count for end in after):
                continue
        times.append(at)
    return awarded


def _invariant(times: list[dt.datetime], cooldown: dt.timedelta, count: int, days: int) -> None:
    times = sorted(times)
    assert all(b - a >= cooldown for a, b in itertools.pairwise(times))
    if count:
        period = dt.timedelta(days=days)
        assert all(sum(1 for t in times if end - period < t <= end) <= count for end in times)


@settings(
    max_examples=30,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    stream=st.lists(event, min_size=1, max_size=30),
    cooldown_minutes=st.sampled_from([0, 5, 90, 24 * 60]),
    cap=st.sampled_from([(0, 0), (1, 1), (3, 1), (4, 2)]),
)
def test_awards_keep_the_cooldown_and_the_cap_whatever_the_order(stream, cooldown_minutes, cap):
    count, days = cap
    with time_machine.travel(FROZEN_AT, tick=False), transaction.atomic():
        programme_start()
        rule = EarningRule.objects.create(
            kind=RuleKind.EVENT,
            name="сообщения в клубе",
            event_type="community_post",
            points=3,
            status_points=1,
            cap_count=count,
            cap_days=days,
            cooldown_minutes=cooldown_minutes,
        )
        customers = CustomerFactory.create_batch(2)
        start = clock.now() - dt.timedelta(days=5)
        for n, (who, minutes, sweep) in enumerate(stream):
            events_record(
                [
                    Event(
                        customer=customers[who],
                        type="community_post",
                        occurred_at=start + dt.timedelta(minutes=minutes),
                        idempotency_key=f"post:{n}",
                    )
                ]
            )
            if sweep:
                loyalty_earn()
        loyalty_earn()

        expected = _reference(
            [(who, start + dt.timedelta(minutes=m)) for who, m, _sweep in stream],
            dt.timedelta(minutes=cooldown_minutes),
            count,
            days,
        )
        for who, customer in enumerate(customers):
            times = list(
                Transaction.objects.filter(
                    rule=rule, customer=customer, kind=TxKind.AWARD
                ).values_list("occurred_at", flat=True)
            )
            _invariant(times, dt.timedelta(minutes=cooldown_minutes), count, days)
            assert sorted(times) == sorted(expected.get(who, []))
        # Reading the whole log again posts nothing new.
        entries = Entry.objects.count()
        Cursor.objects.filter(name="earning").update(last_event_id=0)
        loyalty_earn()
        assert Entry.objects.count() == entries
        assert_consistent()
        transaction.set_rollback(True)


def test_a_cooldown_is_at_most_thirty_days_and_optional():
    rule = EarningRule(
        kind=RuleKind.EVENT, name="x", event_type="community_post", points=1, cooldown_minutes=0
    )
    rule.full_clean()
    rule.cooldown_minutes = 30 * 24 * 60 + 1
    with pytest.raises(ValidationError) as caught:
        rule.full_clean()
    assert "cooldown_minutes" in caught.value.message_dict


def test_the_rule_form_saves_a_cooldown_and_the_rules_table_shows_it(owner):
    client = Client()
    client.force_login(owner)
    response = client.post(
        reverse("web:loyalty_rule_new"),
        {
            "kind": "event",
            "name": "Сообщения в клубе",
            "active": "on",
            "mode": "per_roubles",
            "rate": "1",
            "per_roubles": "100",
            "multiplier": "1",
            "event_type": "community_post",
            "points": "5",
            "status_points": "0",
            "cap_count": "3",
            "cap_days": "1",
            "cooldown_minutes": "30",
        },
    )
    assert response.status_code == 302
    assert EarningRule.objects.get(name="Сообщения в клубе").cooldown_minutes == 30
    with translation.override("ru"):
        page = client.get(reverse("web:loyalty_settings"), HTTP_ACCEPT_LANGUAGE="ru")
    assert "не чаще раза в 30 мин" in page.content.decode()
