"""The preview counts the audience and who will be skipped and why, as a run would decide."""

from __future__ import annotations

import datetime as dt

import pytest

from lifelong import clock
from lifelong.campaigns.engine import campaigns_due
from lifelong.campaigns.models import Campaign, CampaignRecipient, SkipReason
from lifelong.campaigns.selectors import CAPPED, HOLDOUT, campaign_preview
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
from lifelong.factories import CustomerFactory
from lifelong.messaging.models import Message, Status, Suppression, Topic, TopicOptOut

pytestmark = pytest.mark.django_db


def _world():
    channels_set_up("email", "sms")
    policy_set(cap_count=1, cap_hours=24)
    ready = customers_make(3)
    no_consent = customers_make(2, consent=())
    no_address = customers_make(1, email="", phone="")
    suppressed = customers_make(1)
    Suppression.objects.create(
        channel="email", address=suppressed[0].email.lower(), reason="bounce"
    )
    opted_out = customers_make(1)
    topic = Topic.objects.create(slug="news", name="Новости")
    TopicOptOut.objects.create(customer=opted_out[0], topic=topic)
    capped = customers_make(1)
    Message.objects.create(
        customer=capped[0],
        dedupe_key="earlier",
        channel="email",
        purpose=Purpose.MARKETING,
        status=Status.SENT,
        sent_at=clock.now() - dt.timedelta(hours=1),
    )
    by_sms = customers_make(1, consent=("sms",), preferred_channel="sms")
    everyone = [*ready, *no_consent, *no_address, *suppressed, *opted_out, *capped, *by_sms]
    campaign = campaign_make(segment_of(everyone), template_make(topic="news"))
    return campaign, locals()


def test_preview_counts_each_reason_with_samples(frozen_time):
    campaign, world = _world()
    preview = campaign_preview(campaign=campaign)
    assert preview.audience == 10
    assert preview.skipped == {
        SkipReason.NO_CHANNEL: 1,
        SkipReason.NO_CONSENT: 2,
        SkipReason.SUPPRESSED: 1,
        SkipReason.OPTED_OUT: 1,
    }
    assert (preview.sendable, preview.held_out, preview.capped) == (5, 0, 1)
    assert [s.id for s in preview.samples[CAPPED]] == [world["capped"][0].pk]
    assert {s.id for s in preview.samples[SkipReason.NO_CONSENT]} == {
        c.pk for c in world["no_consent"]
    }
    suppressed = world["suppressed"][0]
    assert preview.samples[SkipReason.SUPPRESSED][0].name == (
        f"{suppressed.first_name} {suppressed.last_name}"
    )


def test_preview_agrees_with_what_the_run_decides(frozen_time):
    campaign = _world()[0]
    Campaign.objects.filter(pk=campaign.pk).update(holdout_percent=30)
    campaign.refresh_from_db()
    preview = campaign_preview(campaign=campaign)
    campaign_schedule(campaign=campaign, actor=None)
    campaigns_due()
    decided = {(r.customer_id): (r.status, r.reason) for r in CampaignRecipient.objects.all()}
    skipped = {c: r for c, (s, r) in decided.items() if s == "skipped"}
    assert preview.skipped_total == len(skipped)
    assert preview.held_out == sum(s == "holdout" for s, _r in decided.values())
    assert preview.sendable == Message.objects.filter(dedupe_key__startswith="campaign:").count()


def test_the_preferred_channel_is_used_when_it_reaches_the_customer(frozen_time):
    campaign, world = _world()
    campaign_schedule(campaign=campaign, actor=None)
    campaigns_due()
    sms = world["by_sms"][0]
    assert Message.objects.get(customer=sms, dedupe_key__startswith="campaign:").channel == "sms"
    ready = world["ready"][0]
    assert (
        Message.objects.get(customer=ready, dedupe_key__startswith="campaign:").channel == "email"
    )


def test_a_fixed_channel_skips_customers_without_it(frozen_time):
    channels_set_up("email", "sms")
    with_phone = customers_make(2, consent=("sms",))
    without_phone = customers_make(1, consent=("sms",), phone="")
    campaign = campaign_make(
        segment_of([*with_phone, *without_phone]), template_make(), channel="sms"
    )
    preview = campaign_preview(campaign=campaign)
    assert preview.sendable == 2
    assert preview.skipped[SkipReason.NO_CHANNEL] == 1


def test_preview_of_a_filter_campaign_reads_the_rules(frozen_time):
    channels_set_up("email")
    customers_make(2, orders_count=3)
    customers_make(3, orders_count=0)
    template = template_make()
    campaign = Campaign(
        name="Постоянным",
        template=template,
        holdout_percent=20,
        rules={
            "kind": "group",
            "op": "and",
            "rules": [{"kind": "summary", "field": "orders_count", "op": "gte", "value": 2}],
        },
    )
    preview = campaign_preview(campaign=campaign)  # unsaved, as the form has it
    assert preview.audience == 2
    assert preview.sendable + preview.held_out == 2
    assert len(preview.samples.get(HOLDOUT, [])) == preview.held_out


def test_preview_queries_do_not_grow_with_the_audience(frozen_time, django_assert_max_num_queries):
    channels_set_up("email")
    small = campaign_make(segment_of(customers_make(2), name="a"), template_make("a"))
    big_customers = customers_make(20)
    CustomerFactory.create_batch(20)
    big = campaign_make(segment_of(big_customers, name="b"), template_make("b"))
    with django_assert_max_num_queries(12) as small_run:
        campaign_preview(campaign=small)
    with django_assert_max_num_queries(len(small_run.captured_queries)):
        campaign_preview(campaign=big)
