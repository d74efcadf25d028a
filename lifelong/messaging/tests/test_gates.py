"""Gate verdicts that do not depend on transports: what happens before any channel is set up."""

from __future__ import annotations

import pytest

from lifelong import clock
from lifelong.customers.models import Purpose
from lifelong.customers.services import consent_record
from lifelong.factories import CustomerFactory
from lifelong.messaging.dispatch import dispatch_due
from lifelong.messaging.gates import gates_apply
from lifelong.messaging.models import ChannelConfig, Message, SendingPolicy, Status
from lifelong.messaging.services import message_enqueue

pytestmark = pytest.mark.django_db


def test_messages_queued_before_any_channel_is_set_up_fail_with_the_reason(frozen_time):
    assert not ChannelConfig.objects.exists()
    message, _created = message_enqueue(
        customer=CustomerFactory(),
        dedupe_key="welcome",
        channel="email",
        purpose=Purpose.TRANSACTIONAL,
        subject="Добро пожаловать",
        text="Здравствуйте!",
    )

    assert dispatch_due() == 0

    message = Message.objects.get(pk=message.pk)
    assert (message.status, message.last_error) == (Status.FAILED, "channel email is not set up")


def test_a_policy_made_on_first_use_checks_quiet_hours(frozen_time):
    ChannelConfig.objects.create(channel="email", transport="sandbox", active=True)
    customer = CustomerFactory()
    consent_record(
        customer=customer, channel="email", purpose=Purpose.MARKETING, granted=True, source="t"
    )
    marketing = Message(
        pk=1, customer=customer, channel="email", purpose=Purpose.MARKETING, to=customer.email
    )

    verdicts = gates_apply(
        [marketing],
        now=clock.now(),
        policy=SendingPolicy.current(),
        customers={customer.pk: customer},
        configs={"email": ChannelConfig.objects.get(channel="email")},
    )

    assert verdicts[1].status == Status.SENDING  # 13:00 in Moscow: outside quiet hours
