"""Two sweeps at once (two workers) queue and send each campaign message exactly once."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from lifelong.campaigns.engine import campaigns_due
from lifelong.campaigns.models import CampaignRecipient, CampaignRun, RunStatus
from lifelong.campaigns.services import campaign_schedule
from lifelong.campaigns.tests.conftest import (
    SENT,
    campaign_make,
    channels_set_up,
    customers_make,
    policy_set,
    segment_of,
    template_make,
)
from lifelong.messaging.dispatch import dispatch_due
from lifelong.messaging.models import Message


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_sweeps_queue_and_send_each_message_once(frozen_time):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers; SKIP LOCKED needs PostgreSQL")
    channels_set_up("email")
    policy_set(cap_count=0)
    customers = customers_make(30)
    campaign = campaign_make(segment_of(customers), template_make(), holdout_percent=20)
    campaign_schedule(campaign=campaign, actor=None)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            for _round in range(3):
                campaigns_due(batch_size=4)
                dispatch_due(batch_size=5)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    run = CampaignRun.objects.get()
    assert (run.status, run.number, run.processed) == (RunStatus.DONE, 1, 30)
    assert CampaignRecipient.objects.count() == 30
    messages = Message.objects.filter(dedupe_key__startswith="campaign:")
    assert messages.count() == run.queued
    assert sorted(SENT) == sorted(messages.values_list("pk", flat=True))
    assert len(set(SENT)) == len(SENT)
