"""A campaign is 'sent' only when its messages have left the outbox, and can be cancelled
until then; a cancel leaves those who got nothing out of the results' treated arm.

The clock is 10:00 UTC (13:00 in Moscow): daytime for marketing messages.
"""

from __future__ import annotations

import datetime as dt

import pytest

from lifelong import clock
from lifelong.campaigns.engine import campaigns_due
from lifelong.campaigns.models import (
    AbMetric,
    Arm,
    CampaignRecipient,
    CampaignRun,
    CampaignStatus,
    RecipientStatus,
    Recurrence,
    RunStatus,
    SkipReason,
)
from lifelong.campaigns.results import campaigns_results
from lifelong.campaigns.services import CampaignError, campaign_cancel, campaign_schedule
from lifelong.campaigns.tests.conftest import (
    campaign_make,
    channels_set_up,
    customers_make,
    policy_set,
    segment_of,
    template_make,
)
from lifelong.messaging.dispatch import dispatch_due
from lifelong.messaging.models import Message, Status

pytestmark = pytest.mark.django_db


def _throttled(n: int = 4, **values):
    channels_set_up("email")
    policy_set(cap_count=0)
    campaign = campaign_make(segment_of(customers_make(n)), template_make(), per_minute=1, **values)
    return campaign_schedule(campaign=campaign, actor=None)


def test_a_campaign_is_sending_while_its_throttled_messages_wait_and_sent_after(frozen_time):
    campaign = _throttled(4)
    campaigns_due()
    dispatch_due()  # the first goes now; the throttle holds the other three for 1, 2, 3 minutes
    campaigns_due()
    campaign.refresh_from_db()
    assert CampaignRun.objects.get().status == RunStatus.DONE
    assert campaign.status == CampaignStatus.SENDING
    assert Message.objects.filter(status=Status.QUEUED).count() == 3

    frozen_time.shift(dt.timedelta(minutes=3))
    dispatch_due()
    campaigns_due()
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENT
    with pytest.raises(CampaignError):
        campaign_cancel(campaign=campaign, actor=None)


def test_cancelling_a_queued_run_cancels_what_has_not_gone_and_leaves_it_out_of_treated(
    frozen_time,
):
    campaign = _throttled(4)
    campaigns_due()
    dispatch_due()
    campaigns_due()
    campaign_cancel(campaign=campaign, actor=None)

    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.CANCELLED
    statuses = sorted(Message.objects.values_list("status", flat=True))
    assert statuses == [Status.CANCELLED] * 3 + [Status.SENT]
    recipients = CampaignRecipient.objects.all()
    assert sorted(recipients.values_list("status", "reason")) == [
        (RecipientStatus.QUEUED, ""),
        *[(RecipientStatus.SKIPPED, SkipReason.CANCELLED)] * 3,
    ]
    frozen_time.shift(dt.timedelta(days=8))
    results = campaigns_results([campaign.pk], clock.now())[campaign.pk]
    assert (results.treated.recipients, results.treated.closed, results.treated.sent) == (1, 1, 1)


def test_cancelling_a_recurring_campaign_cancels_its_finished_runs_due_messages(frozen_time):
    campaign = _throttled(3, recurrence=Recurrence.DAILY, send_time=dt.time(13, 30))  # Moscow
    assert campaign.next_run_at == clock.now() + dt.timedelta(minutes=30)
    frozen_time.shift(dt.timedelta(minutes=30))
    campaigns_due()
    dispatch_due()
    campaigns_due()
    campaign.refresh_from_db()
    # The run has queued everyone; two messages wait for the throttle; the next run is planned.
    assert CampaignRun.objects.get().status == RunStatus.DONE
    assert campaign.status == CampaignStatus.SCHEDULED
    campaign_cancel(campaign=campaign, actor=None)
    assert Message.objects.filter(status=Status.CANCELLED).count() == 2
    assert not Message.objects.filter(status__in=[Status.QUEUED, Status.DEFERRED]).exists()


def test_cancelling_an_ab_test_while_it_waits_skips_the_rest_as_cancelled(frozen_time):
    channels_set_up("email")
    policy_set(cap_count=0)
    a, b = template_make("spring-a"), template_make("spring-b", subject="Скидка на коврики")
    campaign = campaign_make(
        segment_of(customers_make(40)),
        a,
        template_b=b,
        ab_sample_percent=50,
        ab_metric=AbMetric.CLICKED,
        ab_wait_hours=4,
        holdout_percent=10,
    )
    campaign_schedule(campaign=campaign, actor=None)
    campaigns_due()
    dispatch_due()
    run = CampaignRun.objects.get()
    assert run.status == RunStatus.TESTING
    rest = CampaignRecipient.objects.filter(arm=Arm.REST)
    assert rest.exists() and set(rest.values_list("status", flat=True)) == {RecipientStatus.WAITING}
    sample = CampaignRecipient.objects.filter(arm__in=[Arm.A, Arm.B]).count()

    campaign_cancel(campaign=campaign, actor=None)

    assert set(rest.values_list("status", "reason")) == {
        (RecipientStatus.SKIPPED, SkipReason.CANCELLED)
    }
    frozen_time.shift(dt.timedelta(days=8))
    campaigns_due()
    assert not rest.filter(message_id__isnull=False).exists()
    results = campaigns_results([campaign.pk], clock.now())[campaign.pk]
    # Treated is the sample that got a message, not the rest that never will.
    assert results.treated.recipients == results.treated.closed == sample
    assert Arm.REST not in results.arms or results.arms[Arm.REST].recipients == 0
