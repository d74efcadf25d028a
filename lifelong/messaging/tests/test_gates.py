"""Gate verdicts that do not depend on transports: what happens before any channel is set up."""

from __future__ import annotations

import pytest

from lifelong.customers.models import Purpose
from lifelong.factories import CustomerFactory
from lifelong.messaging.dispatch import dispatch_due
from lifelong.messaging.models import ChannelConfig, Message, Status
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
