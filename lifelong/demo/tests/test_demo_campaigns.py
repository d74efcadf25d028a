"""The demo's campaigns: one sent to a segment through the dispatcher with a holdout, whose
page shows the uplift against it; an A/B test with its winner; a monthly digest scheduled."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from lifelong import clock
from lifelong.accounts.models import Role, User
from lifelong.campaigns.models import (
    Arm,
    Campaign,
    CampaignRecipient,
    CampaignStatus,
    RecipientStatus,
    Recurrence,
    SkipReason,
)
from lifelong.campaigns.results import campaigns_results
from lifelong.customers.models import Consent, Purpose
from lifelong.demo import campaigns as demo
from lifelong.demo.generator import demo_build
from lifelong.messaging.models import Message, SendingPolicy, Status
from lifelong.web.journey_results import result_texts
from lifelong.web.tests.conftest import logged_in, staff
from lifelong.web.tests.test_campaigns_ui import figures

pytestmark = pytest.mark.django_db


@pytest.fixture
def built(frozen_time, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    build()


def build() -> None:
    """What `lifelong demo` does: the shop, then its campaigns."""
    login = demo_build(customers=400, seed=7)
    demo.demo_campaigns_write(owner=User.objects.get(username=login.username), seed=7)


def test_the_demo_campaigns_are_sent_measured_decided_and_scheduled(built):
    campaign = Campaign.objects.get(name=demo.MAT_OFFER)
    assert campaign.status == CampaignStatus.SENT and campaign.holdout_percent == 20
    recipients = CampaignRecipient.objects.filter(campaign=campaign)
    assert recipients.filter(status=RecipientStatus.HOLDOUT).exists()
    sent = Message.objects.filter(
        pk__in=recipients.values("message_id"), status=Status.SENT, sent_at__isnull=False
    )
    assert sent.exists()
    _consent_and_caps_held(recipients, sent)
    # Sent on the campaign's morning, weeks ago: every goal window has closed.
    assert all(m.sent_at < campaign.created_at + dt.timedelta(days=2) for m in sent)
    results = campaigns_results([campaign.pk], campaign.created_at + dt.timedelta(days=60))
    conversion = results[campaign.pk].conversion
    assert conversion.uplift is not None and conversion.in_progress == 0

    page = logged_in(staff(Role.ANALYST)).get(reverse("web:campaign", args=[campaign.pk]))
    shown = figures(page.content.decode())
    texts = result_texts(campaigns_results([campaign.pk], clock.now())[campaign.pk].conversion)
    assert shown["uplift"] == texts.uplift != "—"
    assert shown["interval"] == texts.interval
    assert "in_progress" not in shown

    # The A/B test picked its winner and gave it to the rest.
    ab = Campaign.objects.get(name=demo.NEW_TEAS)
    run = ab.runs.get()
    assert run.winner in (Arm.A, Arm.B) and run.winner_figures["metric"] == "clicked"
    assert CampaignRecipient.objects.filter(campaign=ab, arm=Arm.REST).exists()
    assert not CampaignRecipient.objects.filter(
        campaign=ab, status=RecipientStatus.WAITING
    ).exists()
    page = logged_in(staff(Role.MARKETER)).get(reverse("web:campaign", args=[ab.pk]))
    # The A/B test's page names the winner and the figures it won on.
    assert figures(page.content.decode())["winner"].startswith("Победил вариант")

    digest = Campaign.objects.get(name=demo.DIGEST)
    assert digest.status == CampaignStatus.SCHEDULED
    assert (digest.recurrence, digest.weekday, digest.nth) == (Recurrence.MONTHLY, 0, 1)
    assert digest.next_run_at is not None and digest.next_run_at.day <= 7

    # A rebuild replaces them.
    build()
    assert Campaign.objects.filter(name__in=demo.NAMES).count() == 3


def _consent_and_caps_held(recipients, sent) -> None:
    """The campaign went through the gates: customers without marketing consent were skipped,
    and no message went to a customer without consent then or over the frequency cap."""
    assert recipients.filter(status=RecipientStatus.SKIPPED, reason=SkipReason.NO_CONSENT).exists()
    policy = SendingPolicy.current()
    window = dt.timedelta(hours=policy.cap_hours)
    for message in sent.select_related("customer"):
        # The demo's consents carry the build's dates, not the history's: the consent the
        # dispatcher read is the latest one, unless that is a withdrawal after the send.
        consents = Consent.objects.filter(
            customer_id=message.customer_id, channel=message.channel, purpose=Purpose.MARKETING
        ).order_by("-at", "-pk")
        read = consents.exclude(granted=False, at__gt=message.sent_at).first()
        assert read is not None and read.granted, message.pk
        earlier = Message.objects.filter(
            customer_id=message.customer_id,
            purpose=Purpose.MARKETING,
            sent_at__gt=message.sent_at - window,
            sent_at__lte=message.sent_at,
        )
        assert earlier.count() <= policy.cap_count, message.pk
