"""The journey's award_points node credits through the ledger, once per step."""

from __future__ import annotations

import datetime as dt

import pytest

from lifelong.customers.models import Customer
from lifelong.customers.services import consent_record
from lifelong.factories import CustomerFactory
from lifelong.journeys.dates import journeys_enroll_by_date
from lifelong.journeys.definition import AwardPoints
from lifelong.journeys.engine import advance_due
from lifelong.journeys.group_effects import points_award
from lifelong.journeys.library import library_install
from lifelong.journeys.library_texts import TEXTS
from lifelong.journeys.models import Enrollment, JourneyStatus
from lifelong.journeys.services import holdout_assign, journey_status_set
from lifelong.loyalty.models import Lot, Transaction, TxKind
from lifelong.loyalty.tests.helpers import assert_consistent, balances
from lifelong.messaging.models import ChannelConfig

pytestmark = pytest.mark.django_db


def test_the_same_step_credits_once_however_often_it_runs(frozen_time):
    anna = CustomerFactory.create()
    enrollment = Enrollment(pk=7, journey_id=1, customer=anna)
    node = AwardPoints(id="gift", type="award_points", points=100, reason="birthday")
    outcomes = [points_award(node, [enrollment], [1]) for _ in "ab"]
    assert outcomes == [["100 points"], ["points credited before"]]
    points_award(node, [enrollment], [2])
    assert balances(anna) == (200, 0, 0)
    award = Transaction.objects.filter(kind=TxKind.AWARD).first()
    assert award is not None
    assert (award.enrollment_id, award.node_id, award.comment) == (7, "gift", "birthday")
    # A gift is spendable at once and lives as long as any earn (12 months by default).
    lot = Lot.objects.get(source=award)
    assert lot.released and lot.expires_at == dt.datetime(2027, 3, 2, 10, tzinfo=dt.UTC)
    assert_consistent()


def test_the_birthday_journey_gives_the_100_points_its_letter_promises(frozen_time):
    assert "100 бонусных баллов" in str(TEXTS)
    ChannelConfig.objects.create(channel="email", transport="sandbox")
    journey = library_install("birthday")
    journey_status_set(journey=journey, status=JourneyStatus.ACTIVE)
    percent = journey.current_version.parsed().holdout_percent
    hero = CustomerFactory.create()
    while holdout_assign(journey_id=journey.pk, customer_id=hero.pk, percent=percent):
        hero = CustomerFactory.create()  # the control group gets nothing, by design
    Customer.objects.filter(pk=hero.pk).update(birthday=dt.date(1990, 3, 2))
    consent_record(customer=hero, channel="email", purpose="marketing", granted=True, source="t")
    assert journeys_enroll_by_date() == 1
    advance_due()
    assert balances(hero)[0] == 100
    assert_consistent()
