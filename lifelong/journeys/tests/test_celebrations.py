"""The celebration journeys give what their letters promise: points through the ledger, once."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from lifelong.customers.models import Customer
from lifelong.customers.services import consent_record
from lifelong.factories import CustomerFactory
from lifelong.journeys.dates import journeys_enroll_by_date
from lifelong.journeys.engine import advance_due
from lifelong.journeys.library import DEFAULT_CATEGORIES, LIBRARY, library_install
from lifelong.journeys.library_texts import TEXTS
from lifelong.journeys.models import Enrollment, Journey, JourneyStatus
from lifelong.journeys.services import holdout_assign, journey_status_set
from lifelong.loyalty.models import Transaction, TxKind
from lifelong.loyalty.tests.helpers import assert_consistent, balances
from lifelong.messaging.models import ChannelConfig, Message

pytestmark = pytest.mark.django_db

_POINTS = re.compile(r"(\d[\d\s]*) (?:бонусных баллов|bonus points)")


@pytest.mark.parametrize("entry", LIBRARY, ids=lambda e: e.slug)
def test_every_ready_journey_awards_exactly_the_points_its_texts_promise(entry):
    graph = entry.build(DEFAULT_CATEGORIES)
    awarded = sum(n["points"] for n in graph["nodes"] if n["type"] == "award_points")
    for slug in entry.templates():
        text = TEXTS[slug]
        for body in (entry.description, entry.description_en, text.body, text.body_en):
            promised = {int(re.sub(r"\s", "", m)) for m in _POINTS.findall(body)}
            assert promised <= {awarded}, (slug, promised, awarded)
        if _POINTS.search(text.body):
            assert awarded and _POINTS.search(text.body_en)


def _hero(journey: Journey, **fields: Any) -> Customer:
    """A customer outside the journey's control group (the holdout gets nothing, by design)."""
    assert journey.current_version is not None
    percent = journey.current_version.parsed().holdout_percent
    hero = CustomerFactory.create(**fields)
    while holdout_assign(journey_id=journey.pk, customer_id=hero.pk, percent=percent):
        hero = CustomerFactory.create(**fields)
    consent_record(customer=hero, channel="email", purpose="marketing", granted=True, source="t")
    return hero


def _run(slug: str) -> Journey:
    ChannelConfig.objects.get_or_create(channel="email", defaults={"transport": "sandbox"})
    journey = library_install(slug)
    journey_status_set(journey=journey, status=JourneyStatus.ACTIVE)
    return journey


def _sweep_days(time_machine: Any, start: dt.datetime, days: int) -> None:
    for hour in range(0, 24 * days, 6):
        time_machine.move_to(start + dt.timedelta(hours=hour), tick=False)
        journeys_enroll_by_date()
        advance_due()


def test_the_birthday_journey_credits_its_100_points_exactly_once(time_machine):
    time_machine.move_to(dt.datetime(2026, 3, 1, tzinfo=dt.UTC), tick=False)
    journey = _run("birthday")
    hero = _hero(journey, birthday=dt.date(1990, 3, 2), time_zone="Asia/Kamchatka")
    # Swept every six hours for four days around the birthday, and the steps re-run.
    _sweep_days(time_machine, dt.datetime(2026, 3, 1, tzinfo=dt.UTC), 4)
    advance_due()
    assert balances(hero)[0] == 100
    award = Transaction.objects.get(kind=TxKind.AWARD)
    assert award.comment == "birthday" and award.node_id == "gift"
    assert Enrollment.objects.get(customer=hero).key == "birthday:2026"
    assert Message.objects.filter(customer=hero, node_id="greeting").count() == 1
    assert_consistent()


def test_customer_day_credits_its_100_points_once_a_year_to_those_who_bought(time_machine):
    time_machine.move_to(dt.datetime(2027, 3, 17, tzinfo=dt.UTC), tick=False)
    journey = _run("customer-day")
    hero = _hero(journey, time_zone="Europe/Moscow", orders_count=1)
    lead = _hero(journey, time_zone="Europe/Moscow")  # subscribed, never bought
    _sweep_days(time_machine, dt.datetime(2027, 3, 17, tzinfo=dt.UTC), 6)
    assert balances(hero)[0] == 100
    assert balances(lead)[0] == 0 and not Message.objects.filter(customer=lead).exists()
    message = Message.objects.get(customer=hero, node_id="thanks")
    assert "100 бонусных баллов" in message.body_text
    _sweep_days(time_machine, dt.datetime(2028, 3, 18, tzinfo=dt.UTC), 3)
    assert balances(hero)[0] == 200
    assert Transaction.objects.filter(kind=TxKind.AWARD).count() == 2
    assert_consistent()


def test_the_anniversary_journey_credits_its_100_points_once_a_year(time_machine):
    time_machine.move_to(dt.datetime(2026, 3, 1, tzinfo=dt.UTC), tick=False)
    journey = _run("first-order-anniversary")
    hero = _hero(
        journey,
        time_zone="Europe/Moscow",
        orders_count=1,
        first_order_at=dt.datetime(2025, 3, 2, 10, tzinfo=dt.UTC),
    )
    _sweep_days(time_machine, dt.datetime(2026, 3, 1, tzinfo=dt.UTC), 4)
    advance_due()
    assert balances(hero)[0] == 100
    award = Transaction.objects.get(kind=TxKind.AWARD)
    assert award.comment == "anniversary" and award.node_id == "gift"
    message = Message.objects.get(customer=hero, node_id="thanks")
    assert "100 бонусных баллов" in message.body_text
    assert "/c/l/" in message.body_text  # the status page, where the points are
    assert_consistent()
