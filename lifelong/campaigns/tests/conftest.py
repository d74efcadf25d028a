"""Shared set-up for the campaign tests: channels with a recording transport, a template,
customers who said yes to marketing, a segment of them."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any, ClassVar

import pytest

from lifelong.campaigns.models import Campaign
from lifelong.campaigns.services import campaign_create
from lifelong.community.tests.clubs_setup import (  # noqa: F401  (club fixtures: a Bot API fake)
    api,
    bot,
    club,
    ladder,
    loopback_allowed,
)
from lifelong.customers.models import Customer, Purpose
from lifelong.customers.services import consent_record
from lifelong.factories import CustomerFactory
from lifelong.messaging.channels.base import Outgoing, SendResult, Transport, register
from lifelong.messaging.models import ChannelConfig, SendingPolicy, Template
from lifelong.segments.models import Segment, SegmentMembership

SENT: list[int] = []
_LOCK = threading.Lock()


@register
class CampaignRecordingTransport(Transport):
    name = "test_campaign_recording"
    channels: ClassVar[tuple[str, ...]] = ("email", "sms", "telegram")

    def send(self, message: Outgoing) -> SendResult:
        with _LOCK:
            SENT.append(message.message_id)
        return SendResult(provider_id=f"camp-{message.message_id}")


@pytest.fixture(autouse=True)
def _reset_sent():
    SENT.clear()
    yield
    SENT.clear()


def channels_set_up(*channels: str) -> None:
    for channel in channels:
        ChannelConfig.objects.update_or_create(
            channel=channel, defaults={"transport": "test_campaign_recording", "active": True}
        )


def policy_set(**values: Any) -> None:
    SendingPolicy.objects.update_or_create(pk=1, defaults=values)


def template_make(slug: str = "spring", **values: Any) -> Template:
    defaults = {
        "name": "Весенняя рассылка",
        "channel": "email",
        "subject": "Весна пришла, {{ customer.first_name }}",
        "body_text": "Новые коврики уже на полках.",
        "body_html": "<p>Новые коврики уже на полках.</p>",
        "sms_text": "Новые коврики уже на полках.",
    }
    return Template.objects.create(slug=slug, **{**defaults, **values})


def customers_make(n: int, *, consent: Iterable[str] = ("email",), **values: Any) -> list[Customer]:
    customers = CustomerFactory.create_batch(n, **values)
    for customer in customers:
        for channel in consent:
            consent_record(
                customer=customer,
                channel=channel,
                purpose=Purpose.MARKETING,
                granted=True,
                source="test",
            )
    return customers


def segment_of(customers: Iterable[Customer], name: str = "Все покупатели") -> Segment:
    segment = Segment.objects.create(name=name, rules={"kind": "group", "op": "and", "rules": []})
    SegmentMembership.objects.bulk_create(
        [SegmentMembership(segment=segment, customer=c) for c in customers]
    )
    return segment


def campaign_make(segment: Segment, template: Template, **values: Any) -> Campaign:
    return campaign_create(
        values={
            "name": "Весна",
            "segment": segment,
            "template": template,
            "holdout_percent": 0,
            **values,
        },
        actor=None,
    )
