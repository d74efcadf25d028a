"""Recurring campaigns: the next date of each kind of repetition, and a run per occurrence."""

from __future__ import annotations

import datetime as dt

import pytest

from lifelong.campaigns.engine import campaigns_due, dedupe_key
from lifelong.campaigns.models import Campaign, CampaignRecipient, CampaignRun, CampaignStatus
from lifelong.campaigns.schedule import next_occurrence
from lifelong.campaigns.services import CampaignError, campaign_schedule
from lifelong.campaigns.tests.conftest import (
    campaign_make,
    channels_set_up,
    customers_make,
    policy_set,
    segment_of,
    template_make,
)
from lifelong.messaging.models import Message

MSK = dt.timezone(dt.timedelta(hours=3))


def _at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=MSK)


def _next(after: str, **values) -> dt.datetime | None:
    campaign = Campaign(send_time=dt.time(10), **values)
    found = next_occurrence(campaign, _at(after))
    return found.astimezone(MSK) if found else None


def test_the_first_monday_of_each_month():
    monthly = {"recurrence": "monthly", "weekday": 0, "nth": 1}
    assert _next("2026-03-02 09:00", **monthly) == _at("2026-03-02 10:00")
    assert _next("2026-03-02 10:00", **monthly) == _at("2026-04-06 10:00")
    assert _next("2026-04-06 10:30", **monthly) == _at("2026-05-04 10:00")


def test_the_last_friday_and_a_weekly_day():
    assert _next("2026-03-01 00:00", recurrence="monthly", weekday=4, nth=-1) == _at(
        "2026-03-27 10:00"
    )
    assert _next("2026-03-02 11:00", recurrence="weekly", weekday=2) == _at("2026-03-04 10:00")
    assert _next("2026-03-02 11:00", recurrence="daily") == _at("2026-03-03 10:00")


def test_calendar_dates_come_every_year_and_29_february_on_the_28th():
    dates = {"recurrence": "dates", "recur_dates": ["03-08", "12-31"]}
    assert _next("2026-03-02 11:00", **dates) == _at("2026-03-08 10:00")
    assert _next("2026-03-08 10:00", **dates) == _at("2026-12-31 10:00")
    assert _next("2027-01-01 00:00", **dates) == _at("2027-03-08 10:00")
    leap = {"recurrence": "dates", "recur_dates": ["02-29"]}
    assert _next("2026-03-01 00:00", **leap) == _at("2027-02-28 10:00")
    assert _next("2027-03-01 00:00", **leap) == _at("2028-02-29 10:00")


def test_a_repetition_ends_at_its_last_day():
    daily = {"recurrence": "daily", "recur_until": dt.date(2026, 3, 3)}
    assert _next("2026-03-02 11:00", **daily) == _at("2026-03-03 10:00")
    assert _next("2026-03-03 11:00", **daily) is None


@pytest.mark.django_db
def test_a_monthly_digest_runs_once_per_occurrence_with_its_own_recipients(frozen_time):
    # Frozen at Monday 2 March 2026, 13:00 in Moscow: this month's 10:00 has passed.
    channels_set_up("email")
    policy_set(cap_count=0)
    customers = customers_make(3)
    campaign = campaign_make(
        segment_of(customers),
        template_make(),
        recurrence="monthly",
        weekday=0,
        nth=1,
        send_time=dt.time(10),
    )
    campaign = campaign_schedule(campaign=campaign, actor=None)
    assert campaign.next_run_at == _at("2026-04-06 10:00")
    assert campaigns_due() == 0

    frozen_time.move_to(_at("2026-04-06 10:00"))
    assert campaigns_due() == 3
    campaigns_due()  # the same occurrence never runs twice
    campaign.refresh_from_db()
    assert (campaign.runs_count, campaign.status) == (1, CampaignStatus.SCHEDULED)
    assert campaign.next_run_at == _at("2026-05-04 10:00")

    frozen_time.move_to(_at("2026-05-04 10:05"))
    assert campaigns_due() == 3
    assert list(CampaignRun.objects.order_by("number").values_list("number", flat=True)) == [1, 2]
    assert CampaignRecipient.objects.filter(run__number=2).count() == 3
    keys = set(Message.objects.values_list("dedupe_key", flat=True))
    assert {dedupe_key(campaign.pk, run, c.pk) for run in (1, 2) for c in customers} == keys


@pytest.mark.django_db
def test_a_repetition_with_no_date_ahead_cannot_be_scheduled(frozen_time):
    campaign = campaign_make(
        segment_of(customers_make(1)),
        template_make(),
        recurrence="daily",
        recur_until=dt.date(2026, 3, 1),
    )
    with pytest.raises(CampaignError) as refused:
        campaign_schedule(campaign=campaign, actor=None)
    assert refused.value.field == "recur_until"
