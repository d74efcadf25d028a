"""A campaign to a segment goes out through the real dispatcher, once, within its gates."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from lifelong import clock
from lifelong.campaigns.engine import campaigns_due, dedupe_key, run_step
from lifelong.campaigns.models import (
    Arm,
    CampaignRecipient,
    CampaignRun,
    CampaignStatus,
    RecipientStatus,
    RunStatus,
    SkipReason,
)
from lifelong.campaigns.selectors import campaign_progress
from lifelong.campaigns.services import campaign_create, campaign_schedule
from lifelong.campaigns.tests.conftest import (
    SENT,
    campaign_make,
    channels_set_up,
    customers_make,
    policy_set,
    segment_of,
    template_make,
)
from lifelong.customers.models import Purpose
from lifelong.customers.services import consent_record
from lifelong.jobs.backlog import campaign_customers_waiting
from lifelong.messaging.dispatch import dispatch_due
from lifelong.messaging.models import Message, Status

pytestmark = pytest.mark.django_db


def test_a_segment_campaign_is_sent_through_dispatch_respecting_consent_and_caps(frozen_time):
    # 10:00 UTC is 13:00 in Moscow: daytime, outside quiet hours.
    channels_set_up("email")
    policy_set(cap_count=1, cap_hours=24)
    willing = customers_make(4)
    unwilling = customers_make(2, consent=())
    withdrawn = customers_make(1)
    consent_record(
        customer=withdrawn[0],
        channel="email",
        purpose=Purpose.MARKETING,
        granted=False,
        source="test",
    )
    # One customer already had a marketing message today: the cap of one per day is full.
    capped = willing[0]
    Message.objects.create(
        customer=capped,
        dedupe_key="earlier",
        channel="email",
        purpose=Purpose.MARKETING,
        status=Status.SENT,
        sent_at=clock.now() - dt.timedelta(hours=2),
    )
    campaign = campaign_make(segment_of([*willing, *unwilling, *withdrawn]), template_make())
    campaign_schedule(campaign=campaign, actor=None)

    assert campaigns_due() == 4
    dispatch_due()

    recipients = {r.customer_id: r for r in CampaignRecipient.objects.all()}
    assert len(recipients) == 7
    assert {recipients[c.pk].reason for c in [*unwilling, *withdrawn]} == {SkipReason.NO_CONSENT}
    sent = Message.objects.filter(pk__in=SENT)
    assert {m.customer_id for m in sent} == {c.pk for c in willing[1:]}
    held = Message.objects.get(dedupe_key=dedupe_key(campaign.pk, 1, capped.pk))
    assert held.status == Status.DEFERRED
    assert held.last_error == "frequency cap"
    run = CampaignRun.objects.get(campaign=campaign)
    assert (run.status, run.processed, run.queued, run.skipped) == (RunStatus.DONE, 7, 4, 3)
    campaigns_due()
    campaign.refresh_from_db()
    # The capped message is still due: the campaign is sending (and can be cancelled) until then.
    assert campaign.status == CampaignStatus.SENDING


def test_a_crash_mid_run_and_a_rerun_send_nothing_twice(frozen_time):
    channels_set_up("email")
    customers = customers_make(7)
    campaign = campaign_make(segment_of(customers), template_make())
    campaign_schedule(campaign=campaign, actor=None)
    campaigns_due(batch_size=3, budget_seconds=0)  # starts the run, queues nothing yet
    assert campaign_customers_waiting() == 7  # the Jobs page's backlog of the sweep
    run = CampaignRun.objects.get()
    assert campaign_progress(run) == 0
    assert run_step(run.pk, batch_size=3) == (3, True)
    run.refresh_from_db()
    assert campaign_progress(run) == 42  # 3 of 7

    # The process dies inside the second batch, after its messages were queued and as its
    # recipient rows are written: the batch's transaction rolls back, messages and all.
    class Died(BaseException):
        pass

    def dies_writing_recipients(execute, sql, params, many, context):
        if sql.startswith("INSERT") and "campaigns_campaignrecipient" in sql:
            raise Died
        return execute(sql, params, many, context)

    with connection.execute_wrapper(dies_writing_recipients), pytest.raises(Died):
        run_step(run.pk, batch_size=3)
    assert Message.objects.count() == 3

    campaigns_due(batch_size=3)
    campaigns_due(batch_size=3)  # nothing left: a second sweep changes nothing
    dispatch_due()
    dispatch_due()
    assert sorted(SENT) == sorted(Message.objects.values_list("pk", flat=True))
    assert len(SENT) == 7
    assert CampaignRecipient.objects.count() == 7
    run.refresh_from_db()
    assert (run.processed, run.queued, run.status) == (7, 7, RunStatus.DONE)
    assert campaign_progress(run) == 100
    assert campaign_customers_waiting() == 0


def test_throttling_spaces_the_messages_of_a_run_across_batches(frozen_time):
    channels_set_up("email")
    customers = customers_make(5)
    campaign = campaign_make(segment_of(customers), template_make(), per_minute=2)
    campaign_schedule(campaign=campaign, actor=None)
    campaigns_due(batch_size=2)
    due = sorted(Message.objects.values_list("next_attempt_at", flat=True))
    start = clock.now()
    assert due == [start + dt.timedelta(seconds=30 * n) for n in range(5)]


def test_the_send_window_waits_for_the_customers_own_morning(frozen_time):
    # 10:00 UTC: 13:00 in Moscow, 20:00 in Vladivostok, 02:00 in New York.
    frozen_time.move_to("2026-03-02 10:00:00+00:00")
    channels_set_up("email")
    moscow, vladivostok, new_york = (
        customers_make(1)
        + customers_make(1, time_zone="Asia/Vladivostok")
        + customers_make(1, time_zone="America/New_York")
    )
    campaign = campaign_make(
        segment_of([moscow, vladivostok, new_york]),
        template_make(),
        window_start=dt.time(10),
        window_end=dt.time(19),
    )
    campaign_schedule(campaign=campaign, actor=None)
    campaigns_due()
    due = dict(Message.objects.values_list("customer_id", "next_attempt_at"))
    assert due[moscow.pk] == clock.now()
    # Vladivostok is UTC+10: tomorrow 10:00 there is 00:00 UTC on 3 March.
    assert due[vladivostok.pk] == dt.datetime(2026, 3, 3, 0, 0, tzinfo=dt.UTC)
    # New York is UTC-5 in early March (summer time starts on the 8th): 10:00 is 15:00 UTC.
    assert due[new_york.pk] == dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)


def test_a_scheduled_campaign_waits_for_its_time(frozen_time):
    channels_set_up("email")
    customers = customers_make(2)
    campaign = campaign_make(
        segment_of(customers), template_make(), send_at=clock.now() + dt.timedelta(hours=3)
    )
    campaign_schedule(campaign=campaign, actor=None)
    assert campaigns_due() == 0
    assert not CampaignRun.objects.exists()
    frozen_time.shift(dt.timedelta(hours=3))
    assert campaigns_due() == 2
    assert set(CampaignRecipient.objects.values_list("arm", "status")) == {
        (Arm.A, RecipientStatus.QUEUED)
    }


def test_a_filter_campaign_reaches_the_customers_its_rules_match(frozen_time):
    channels_set_up("email")
    regulars = customers_make(2, orders_count=3)
    customers_make(2, orders_count=0)
    campaign = campaign_create(
        values={
            "name": "Постоянным",
            "template": template_make(),
            "holdout_percent": 0,
            "rules": {
                "kind": "group",
                "op": "and",
                "rules": [{"kind": "summary", "field": "orders_count", "op": "gte", "value": 2}],
            },
        },
        actor=None,
    )
    campaign_schedule(campaign=campaign, actor=None)
    assert campaigns_due() == 2
    assert set(CampaignRecipient.objects.values_list("customer_id", flat=True)) == {
        c.pk for c in regulars
    }


def test_a_customer_waiting_for_their_window_does_not_hold_back_those_whose_window_is_open(
    frozen_time,
):
    # 10:00 UTC: 13:00 in Moscow (window open), 05:00 in New York (opens at 15:00 UTC).
    channels_set_up("email")
    policy_set(cap_count=0)
    first, new_york, second, new_york_2, third = (
        customers_make(1)
        + customers_make(1, time_zone="America/New_York")
        + customers_make(1)
        + customers_make(1, time_zone="America/New_York")
        + customers_make(1, time_zone="Europe/Samara")
    )
    campaign = campaign_make(
        segment_of([first, new_york, second, new_york_2, third]),
        template_make(),
        window_start=dt.time(10),
        window_end=dt.time(19),
        per_minute=1,
    )
    campaign_schedule(campaign=campaign, actor=None)
    campaigns_due(batch_size=2)  # the pace holds across batches
    due = dict(Message.objects.values_list("customer_id", "next_attempt_at"))
    now, minute = clock.now(), dt.timedelta(minutes=1)
    assert [due[c.pk] for c in (first, second, third)] == [now, now + minute, now + 2 * minute]
    opens = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)
    assert [due[c.pk] for c in (new_york, new_york_2)] == [opens, opens + minute]


def test_a_throttle_that_fills_the_window_goes_on_at_the_next_opening(frozen_time):
    # 18:58 in Moscow: two slots left in the window (10:00-19:00), the third goes tomorrow.
    frozen_time.move_to("2026-03-02 15:58:00+00:00")
    channels_set_up("email")
    customers = customers_make(4)
    campaign = campaign_make(
        segment_of(customers),
        template_make(),
        window_start=dt.time(10),
        window_end=dt.time(19),
        per_minute=1,
    )
    campaign_schedule(campaign=campaign, actor=None)
    campaigns_due()
    due = sorted(Message.objects.values_list("next_attempt_at", flat=True))
    now, minute = clock.now(), dt.timedelta(minutes=1)
    tomorrow = dt.datetime(2026, 3, 3, 7, 0, tzinfo=dt.UTC)
    assert due == [now, now + minute, tomorrow, tomorrow + minute]


def _queries_to_queue(size: int) -> int:
    """Queries of the run step that queues a batch of `size` recipients (one batch)."""
    campaign = campaign_make(segment_of(customers_make(size)), template_make(f"t{size}"))
    campaign_schedule(campaign=campaign, actor=None)
    campaigns_due(batch_size=size, budget_seconds=0)  # starts the run, queues nothing yet
    run = CampaignRun.objects.get(campaign=campaign)
    with CaptureQueriesContext(connection) as queries:
        queued, _more = run_step(run.pk, batch_size=size)
    assert queued == size
    assert Message.objects.filter(dedupe_key__startswith=f"campaign:{campaign.pk}:").count() == size
    return len(queries)


def test_a_batch_is_queued_in_the_same_number_of_queries_whatever_its_size(frozen_time):
    channels_set_up("email")
    _queries_to_queue(2)  # settles what is read once (policy, content types)
    # 30 messages still fit one INSERT on SQLite (at most 999 parameters, 25 a message).
    assert _queries_to_queue(10) == _queries_to_queue(30)
