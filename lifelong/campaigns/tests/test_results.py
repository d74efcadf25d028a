"""Results: per-arm figures, and goal conversion against the holdout on closed windows only."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from lifelong import clock
from lifelong.campaigns.engine import campaigns_due
from lifelong.campaigns.models import Arm, CampaignRecipient, RecipientStatus
from lifelong.campaigns.results import campaigns_results, runs_results
from lifelong.campaigns.services import campaign_schedule
from lifelong.campaigns.tests.conftest import (
    campaign_make,
    channels_set_up,
    customers_make,
    policy_set,
    segment_of,
    template_make,
)
from lifelong.customers.models import Purpose
from lifelong.customers.services import consent_record
from lifelong.events.services import event_record
from lifelong.factories import OrderFactory
from lifelong.journeys.uplift import Arm as UpliftArm
from lifelong.journeys.uplift import results_compute
from lifelong.messaging.dispatch import dispatch_due
from lifelong.messaging.models import Message, Topic
from lifelong.messaging.preferences import topic_opt_out
from lifelong.messaging.services import message_engagement_record

pytestmark = pytest.mark.django_db


def _launch(n: int = 40, name: str = "Весна", **values):
    customers = customers_make(n)
    campaign = campaign_make(
        segment_of(customers, name=name),
        template_make(f"t-{name}"),
        holdout_percent=50,
        goal_days=7,
        name=name,
        **values,
    )
    campaign_schedule(campaign=campaign, actor=None)
    campaigns_due()
    dispatch_due()
    return campaign


def _buy(customer, *, total: str = "1000.00") -> None:
    OrderFactory.create(customer=customer, total=Decimal(total), placed_at=clock.now())
    event_record(customer=customer, type="order_placed", properties={}, source="shop")


def _recipients(campaign, arm_in):
    return list(
        CampaignRecipient.objects.filter(campaign=campaign, arm__in=arm_in)
        .exclude(status=RecipientStatus.SKIPPED)
        .select_related("customer")
        .order_by("pk")
    )


def test_conversion_counts_closed_windows_only_in_both_arms(frozen_time):
    channels_set_up("email")
    policy_set(cap_count=0)
    campaign = _launch()
    treated, holdout = _recipients(campaign, [Arm.A]), _recipients(campaign, [Arm.HOLDOUT])
    assert treated and holdout

    frozen_time.shift(dt.timedelta(days=1))
    for r in treated[:4]:
        _buy(r.customer)
    _buy(holdout[0].customer, total="500.00")

    # Day 1: everyone is still inside the window. Nothing is counted, nothing is significant.
    young = campaigns_results([campaign.pk], clock.now())[campaign.pk]
    assert young.conversion.uplift is None
    assert (young.conversion.treated.n, young.conversion.holdout.n) == (0, 0)
    assert young.conversion.in_progress == len(treated) + len(holdout)

    # A purchase after the window closed does not count.
    frozen_time.shift(dt.timedelta(days=8))
    _buy(treated[5].customer)
    done = campaigns_results([campaign.pk], clock.now())[campaign.pk]
    assert done.conversion.in_progress == 0
    assert done.treated.closed == len(treated)
    assert (done.treated.converted, done.holdout.converted) == (4, 1)
    expected = results_compute(
        UpliftArm(n=len(treated), converted=4), UpliftArm(n=len(holdout), converted=1)
    )
    assert done.conversion == expected
    assert done.treated.revenue == Decimal("4000.00")
    assert done.holdout.revenue == Decimal("500.00")
    assert done.revenue_per_recipient_treated == (Decimal(4000) / len(treated)).quantize(
        Decimal("0.01")
    )


def test_engagement_figures_per_arm(frozen_time):
    channels_set_up("email")
    policy_set(cap_count=0)
    campaign = _launch(n=20)
    treated = _recipients(campaign, [Arm.A])
    messages = {m.pk: m for m in Message.objects.filter(pk__in=[r.message_id for r in treated])}
    first, second, third = (messages[r.message_id] for r in treated[:3])
    message_engagement_record(message=first, kind="opened")
    message_engagement_record(message=second, kind="clicked")  # a click proves an open
    event_record(
        customer=third.customer,
        type="message_replied",
        properties={"channel": "email", "text": "Спасибо", "message_id": third.pk},
        source="email",
    )
    frozen_time.shift(dt.timedelta(hours=2))
    consent_record(
        customer=third.customer,
        channel="email",
        purpose=Purpose.MARKETING,
        granted=False,
        source="unsubscribe",
    )
    figures = campaigns_results([campaign.pk], clock.now())[campaign.pk].arms[Arm.A]
    assert figures.recipients == figures.queued == figures.sent == len(treated)
    assert (figures.opened, figures.clicked, figures.replied, figures.unsubscribed) == (2, 1, 1, 1)
    holdout = campaigns_results([campaign.pk], clock.now())[campaign.pk].holdout
    assert (holdout.queued, holdout.sent, holdout.opened) == (0, 0, 0)


def test_results_cost_the_same_queries_for_one_campaign_or_many(
    frozen_time, django_assert_num_queries
):
    channels_set_up("email")
    policy_set(cap_count=0)
    campaigns = [_launch(n=6, name=f"c{n}") for n in range(3)]
    with django_assert_num_queries(1):
        campaigns_results([campaigns[0].pk], clock.now())
    with django_assert_num_queries(1):
        many = campaigns_results([c.pk for c in campaigns], clock.now())
    assert set(many) == {c.pk for c in campaigns}
    runs = [c.runs.get().pk for c in campaigns]
    with django_assert_num_queries(1):
        by_run = runs_results(runs, clock.now())
    assert [by_run[r].treated.recipients for r in runs] == [
        many[c.pk].treated.recipients for c in campaigns
    ]


def test_an_opt_out_of_the_templates_topic_counts_when_the_campaign_names_none(frozen_time):
    channels_set_up("email")
    policy_set(cap_count=0)
    topic = Topic.objects.create(slug="news", name="Новости")
    customers = customers_make(3)
    campaign = campaign_make(segment_of(customers), template_make("t-news", topic="news"))
    assert campaign.topic == ""
    campaign_schedule(campaign=campaign, actor=None)
    campaigns_due()
    dispatch_due()
    frozen_time.shift(dt.timedelta(hours=2))
    topic_opt_out(customer=customers[0], topic=topic)
    figures = campaigns_results([campaign.pk], clock.now())[campaign.pk].treated
    assert (figures.sent, figures.unsubscribed) == (3, 1)
