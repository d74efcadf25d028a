"""Creating, editing, scheduling and cancelling campaigns: what is refused and what it does."""

from __future__ import annotations

import datetime as dt

import pytest

from lifelong import clock
from lifelong.accounts.models import AuditLog
from lifelong.campaigns.engine import campaigns_due, run_step
from lifelong.campaigns.models import CampaignRun, CampaignStatus, RunStatus
from lifelong.campaigns.services import (
    CampaignError,
    campaign_cancel,
    campaign_create,
    campaign_schedule,
    campaign_unschedule,
    campaign_update,
)
from lifelong.campaigns.tests.conftest import (
    campaign_make,
    channels_set_up,
    customers_make,
    policy_set,
    segment_of,
    template_make,
)
from lifelong.messaging.models import Message, Status

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"name": " "}, "name"),
        ({"segment": None}, "segment"),
        ({"rules": {"kind": "group", "op": "and", "rules": []}}, "rules"),
        ({"channel": "pigeon"}, "channel"),
        ({"holdout_percent": 60}, "holdout_percent"),
        ({"window_start": dt.time(10)}, "window_end"),
        ({"recurrence": "weekly"}, "weekday"),
        ({"recurrence": "monthly", "weekday": 0, "nth": 5}, "nth"),
        ({"recurrence": "dates", "recur_dates": ["13-01"]}, "recur_dates"),
        ({"goal_days": 0}, "goal_days"),
    ],
)
def test_a_campaign_that_could_not_run_is_refused_with_its_field(values, field):
    base = {"name": "Весна", "segment": segment_of(customers_make(1)), "template": template_make()}
    with pytest.raises(CampaignError) as refused:
        campaign_create(values={**base, **values}, actor=None)
    assert refused.value.field == field


def test_a_fixed_channel_needs_a_template_that_says_something_there():
    template = template_make(sms_text="", short_text="")
    with pytest.raises(CampaignError) as refused:
        campaign_make(segment_of(customers_make(1)), template, channel="sms")
    assert refused.value.field == "template"


def test_a_filter_audience_instead_of_a_segment(frozen_time, owner):
    campaign = campaign_create(
        values={
            "name": "Все",
            "rules": {"kind": "group", "op": "and", "rules": []},
            "template": template_make(),
        },
        actor=owner,
    )
    assert campaign.segment_id is None
    assert AuditLog.objects.filter(action="campaign.create").count() == 1


def test_edit_schedule_unschedule_and_the_end_of_editing(frozen_time):
    channels_set_up("email")
    campaign = campaign_make(segment_of(customers_make(2)), template_make())
    campaign = campaign_update(campaign=campaign, values={"name": "Весна-2"}, actor=None)
    assert campaign.name == "Весна-2"
    later = clock.now() + dt.timedelta(days=1)
    campaign = campaign_schedule(campaign=campaign, actor=None)
    assert campaign.next_run_at == clock.now()
    campaign = campaign_update(campaign=campaign, values={"send_at": later}, actor=None)
    assert campaign.next_run_at == later  # a scheduled campaign moves with its send time
    campaign = campaign_unschedule(campaign=campaign, actor=None)
    assert (campaign.status, campaign.next_run_at) == (CampaignStatus.DRAFT, None)
    campaign = campaign_schedule(campaign=campaign, actor=None)
    frozen_time.shift(dt.timedelta(days=1))
    campaigns_due()
    with pytest.raises(CampaignError):
        campaign_update(campaign=campaign, values={"name": "Поздно"}, actor=None)


def test_cancelling_stops_the_run_and_its_unsent_messages(frozen_time):
    channels_set_up("email")
    policy_set(cap_count=0)
    campaign = campaign_make(segment_of(customers_make(5)), template_make(), per_minute=1)
    campaign_schedule(campaign=campaign, actor=None)
    campaigns_due(budget_seconds=0)  # starts the run
    run = CampaignRun.objects.get()
    run_step(run.pk, batch_size=2)  # one batch of two queued; three customers to go
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUEING
    queued = Message.objects.filter(dedupe_key__startswith="campaign:")
    assert queued.exists()
    campaign_cancel(campaign=campaign, actor=None)
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    assert set(queued.values_list("status", flat=True)) == {Status.CANCELLED}
    campaigns_due()
    assert queued.count() == run.queued  # nothing more is queued after a cancel


def test_an_ab_goal_window_shorter_than_the_wait_is_refused():
    # The rest's goal window starts at the run's decision, like every arm's: a wait of two
    # days with a one-day window would leave the rest no time after the winner reaches them.
    values = {"template_b": template_make("spring-b"), "ab_wait_hours": 48, "goal_days": 1}
    with pytest.raises(CampaignError) as refused:
        campaign_make(segment_of(customers_make(1)), template_make(), **values)
    assert refused.value.field == "goal_days"
    campaign_make(
        segment_of(customers_make(1)), template_make("spring-c"), **{**values, "goal_days": 2}
    )
