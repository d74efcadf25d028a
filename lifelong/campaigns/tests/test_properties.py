"""Laws of a run, whatever the audience, holdout, A/B split, batch size and throttle:
every audience customer has exactly one recipient row, the arms partition the audience, and
messages are exactly the recipients that are neither held out nor skipped."""

from __future__ import annotations

import contextlib
import datetime as dt

import pytest
import time_machine
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifelong.campaigns.engine import campaigns_due
from lifelong.campaigns.models import (
    Arm,
    CampaignRecipient,
    CampaignRun,
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
from lifelong.messaging.models import Message


@pytest.mark.django_db
@settings(
    max_examples=20,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    consents=st.lists(st.booleans(), min_size=1, max_size=18),
    holdout=st.integers(0, 50),
    ab=st.one_of(st.none(), st.integers(2, 100)),
    batch_size=st.integers(1, 7),
    per_minute=st.integers(0, 3),
)
def test_a_run_gives_everyone_one_row_and_messages_only_to_the_sendable(
    consents, holdout, ab, batch_size, per_minute
):
    with (
        time_machine.travel(dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC), tick=False) as clock,
        transaction.atomic(),
    ):
        channels_set_up("email")
        policy_set(cap_count=0)
        customers = [
            customers_make(1, consent=("email",) if said_yes else ())[0] for said_yes in consents
        ]
        a = template_make("law-a")
        extra = {"template_b": template_make("law-b"), "ab_sample_percent": ab} if ab else {}
        campaign = campaign_make(
            segment_of(customers),
            a,
            holdout_percent=holdout,
            per_minute=per_minute,
            ab_wait_hours=1,
            **extra,
        )
        campaign_schedule(campaign=campaign, actor=None)
        for _round in range(30):
            campaigns_due(batch_size=batch_size)
            clock.shift(dt.timedelta(hours=1))
        run = CampaignRun.objects.get(campaign=campaign)
        recipients = list(CampaignRecipient.objects.filter(run=run))

        assert run.status == RunStatus.DONE
        assert sorted(r.customer_id for r in recipients) == sorted(c.pk for c in customers)
        assert {r.arm for r in recipients} <= set(Arm.values)
        if not ab:
            assert Arm.REST not in {r.arm for r in recipients}
        sendable = [
            r
            for r in recipients
            if r.status not in (RecipientStatus.SKIPPED, RecipientStatus.HOLDOUT)
        ]
        assert all(r.status == RecipientStatus.QUEUED for r in sendable)
        assert all(r.arm != Arm.HOLDOUT for r in sendable)
        messages = Message.objects.filter(dedupe_key__startswith=f"campaign:{campaign.pk}:")
        assert messages.count() == len(sendable)
        assert dict(messages.values_list("pk", "customer_id")) == {
            r.message_id: r.customer_id for r in sendable
        }
        assert all(r.message_id is None for r in recipients if r not in sendable)
        assert (run.processed, run.queued) == (len(customers), len(sendable))
        assert run.queued + run.skipped + run.held_out == len(customers)
        # Consent decides who is skipped, in every arm alike.
        yes = {c.pk for c, said_yes in zip(customers, consents, strict=True) if said_yes}
        assert {r.customer_id for r in recipients if r.status == RecipientStatus.SKIPPED} == (
            {c.pk for c in customers} - yes
        )
        transaction.set_rollback(True)


class Died(BaseException):
    """The process dying: not an Exception, so nothing on the way catches it."""


@pytest.mark.django_db
@settings(
    max_examples=15,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    n=st.integers(1, 15),
    batch_size=st.integers(1, 5),
    crash_at=st.integers(1, 6),
    ab=st.booleans(),
)
def test_a_run_that_dies_anywhere_and_resumes_queues_each_message_once(n, batch_size, crash_at, ab):
    writes = 0

    def dies_at_a_write(execute, sql, params, many, context):
        nonlocal writes
        if sql.startswith(("INSERT", "UPDATE")) and "campaigns_campaign" in sql:
            writes += 1
            if writes == crash_at:
                raise Died
        return execute(sql, params, many, context)

    with (
        time_machine.travel(dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC), tick=False) as clock,
        transaction.atomic(),
    ):
        channels_set_up("email")
        policy_set(cap_count=0)
        customers = customers_make(n)
        extra = {"template_b": template_make("die-b"), "ab_sample_percent": 50} if ab else {}
        campaign = campaign_make(
            segment_of(customers), template_make("die-a"), ab_wait_hours=1, **extra
        )
        campaign_schedule(campaign=campaign, actor=None)
        for _round in range(3):
            # The step in flight rolls back (its savepoint here, its transaction in
            # production); the steps before it stay done.
            with connection.execute_wrapper(dies_at_a_write), contextlib.suppress(Died):
                campaigns_due(batch_size=batch_size)
            clock.shift(dt.timedelta(hours=1))
        for _round in range(20):
            campaigns_due(batch_size=batch_size)
            clock.shift(dt.timedelta(hours=1))

        run = CampaignRun.objects.get(campaign=campaign)
        assert run.status == RunStatus.DONE
        recipients = CampaignRecipient.objects.filter(run=run)
        assert recipients.count() == n
        queued = recipients.filter(status=RecipientStatus.QUEUED)
        messages = Message.objects.filter(dedupe_key__startswith=f"campaign:{campaign.pk}:")
        assert messages.count() == queued.count() == run.queued
        assert set(messages.values_list("pk", flat=True)) == set(
            queued.values_list("message_id", flat=True)
        )
        transaction.set_rollback(True)
