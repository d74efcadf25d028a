"""The demo's transport: nothing leaves the machine; the sandbox inbox reads the outbox rows."""

from __future__ import annotations

from typing import ClassVar

from lifelong.customers.models import Channel
from lifelong.messaging.channels.base import Outgoing, SendResult, Transport, register
from lifelong.messaging.models import WEBHOOK


@register
class SandboxTransport(Transport):
    name = "sandbox"
    channels: ClassVar[tuple[str, ...]] = (*Channel.values, WEBHOOK)

    def send(self, message: Outgoing) -> SendResult:
        return SendResult(provider_id=f"sandbox-{message.message_id}")
