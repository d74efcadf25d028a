"""An A/B campaign tests two variants on a sample, picks the winner by its metric, sends it on."""

from __future__ import annotations

import datetime as dt

import pytest

from lifelong import clock
from lifelong.campaigns.engine import campaigns_due, run_step
from lifelong.campaigns.models import (
    AbMetric,
    Arm,
    CampaignRecipient,
    CampaignRun,
    CampaignStatus,
    RecipientStatus,
    RunStatus,
)
from lifelong.campaigns.services import campaign_schedule
from lifelong.campaigns.tests.conftest import (
    campaign_make,
    channels_set_up,
    customers_make,
    policy_set,
    segment_of,
    template_make,
)
from lifelong.events.services import event_record
from lifelong.jobs.backlog import campaign_customers_waiting
from lifelong.messaging.dispatch import dispatch_due
from lifelong.messaging.models import Message
from lifelong.messaging.services import message_engagement_record

pytestmark = pytest.mark.django_db


def _ab(metric: str, n: int = 60):
    channels_set_up("email")
    policy_set(cap_count=0)
    a, b = template_make("spring-a"), template_make("spring-b", subject="Скидка на коврики")
    campaign = campaign_make(
        segment_of(customers_make(n)),
        a,
        template_b=b,
        ab_sample_percent=50,
        ab_metric=metric,
        ab_wait_hours=4,
        holdout_percent=10,
    )
    campaign_schedule(campaign=campaign, actor=None)
    campaigns_due()
    dispatch_due()
    return campaign, a, b


def _sample(arm: str) -> list[Message]:
    ids = CampaignRecipient.objects.filter(arm=arm, status=RecipientStatus.QUEUED).values(
        "message_id"
    )
    return list(Message.objects.filter(pk__in=ids).order_by("pk"))


def test_the_variant_with_more_clicks_goes_to_the_rest(frozen_time):
    campaign, _a, b = _ab(AbMetric.CLICKED)
    run = CampaignRun.objects.get()
    assert run.status == RunStatus.TESTING
    rest = CampaignRecipient.objects.filter(arm=Arm.REST)
    assert rest.exists()
    assert not rest.exclude(status=RecipientStatus.WAITING).exists()
    for message in _sample(Arm.A)[:1]:
        message_engagement_record(message=message, kind="clicked")
    for message in _sample(Arm.B)[:3]:
        message_engagement_record(message=message, kind="clicked")

    frozen_time.shift(dt.timedelta(hours=3))
    campaigns_due()
    assert CampaignRun.objects.get().status == RunStatus.TESTING  # not yet: four hours

    frozen_time.shift(dt.timedelta(hours=1))
    queued = campaigns_due()
    run.refresh_from_db()
    assert run.winner == Arm.B
    assert run.winner_decided_at == clock.now()
    assert run.winner_figures == {
        "metric": "clicked",
        "a": {"n": len(_sample(Arm.A)), "hits": 1},
        "b": {"n": len(_sample(Arm.B)), "hits": 3},
    }
    assert run.status == RunStatus.DONE
    assert queued == rest.count()
    rest_messages = Message.objects.filter(pk__in=rest.values("message_id"))
    assert rest_messages.count() == rest.count()
    assert set(rest_messages.values_list("template_id", flat=True)) == {b.pk}
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENDING  # the rest's messages are still due
    dispatch_due()
    campaigns_due()
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENT


def test_a_tie_goes_to_a(frozen_time):
    _campaign, a, _b = _ab(AbMetric.OPENED)
    frozen_time.shift(dt.timedelta(hours=4))
    run = CampaignRun.objects.get()
    assert run_step(run.pk) == (0, True)  # the winner is picked; the rest waits for its batches
    waiting = CampaignRecipient.objects.filter(status=RecipientStatus.WAITING).count()
    assert waiting > 0
    assert campaign_customers_waiting() == waiting  # the Jobs page's backlog
    campaigns_due()
    assert campaign_customers_waiting() == 0
    run.refresh_from_db()
    assert run.winner == Arm.A
    assert run.winner_figures["a"]["hits"] == run.winner_figures["b"]["hits"] == 0
    rest = CampaignRecipient.objects.filter(arm=Arm.REST).values("message_id")
    assert set(Message.objects.filter(pk__in=rest).values_list("template_id", flat=True)) == {a.pk}


def test_the_winner_by_replies_counts_replies_to_the_sample_message(frozen_time):
    _campaign, _a, _b = _ab(AbMetric.REPLIED)
    for message in _sample(Arm.A)[:2]:
        event_record(
            customer=message.customer,
            type="message_replied",
            properties={"channel": "email", "text": "Спасибо!", "message_id": message.pk},
            source="email",
        )
    frozen_time.shift(dt.timedelta(hours=4))
    campaigns_due()
    run = CampaignRun.objects.get()
    assert (run.winner, run.winner_figures["a"]["hits"], run.winner_figures["b"]["hits"]) == (
        Arm.A,
        2,
        0,
    )


def test_the_winner_by_rates_not_by_counts(frozen_time):
    _campaign, _a, _b = _ab(AbMetric.CONVERTED)
    sample_a, sample_b = _sample(Arm.A), _sample(Arm.B)
    # Two buyers in each arm: the arm with fewer recipients has the better rate.
    frozen_time.shift(dt.timedelta(hours=1))
    for message in sample_a[:2] + sample_b[:2]:
        event_record(customer=message.customer, type="order_placed", properties={}, source="shop")
    frozen_time.shift(dt.timedelta(hours=3))
    campaigns_due()
    run = CampaignRun.objects.get()
    n_a, n_b = len(sample_a), len(sample_b)
    expected = Arm.B if 2 * n_a > 2 * n_b else Arm.A
    assert run.winner == expected


def test_the_wait_runs_from_the_samples_last_slot(frozen_time):
    # 10:00 UTC: the Vladivostok sample's window (10:00-19:00 there) opens at 00:00 UTC tomorrow.
    channels_set_up("email")
    policy_set(cap_count=0)
    customers = customers_make(20, time_zone="Asia/Vladivostok")
    campaign = campaign_make(
        segment_of(customers),
        template_make("far-a"),
        template_b=template_make("far-b"),
        ab_sample_percent=100,
        ab_wait_hours=4,
        window_start=dt.time(10),
        window_end=dt.time(19),
    )
    campaign_schedule(campaign=campaign, actor=None)
    campaigns_due()
    run = CampaignRun.objects.get()
    assert run.decide_at == dt.datetime(2026, 3, 3, 4, 0, tzinfo=dt.UTC)
