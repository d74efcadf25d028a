"""Many messages of one template into the outbox at once (a journey's send node for a group)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lifelong.customers.models import Customer
from lifelong.messaging.models import Template
from lifelong.messaging.services import message_enqueue


@dataclass(frozen=True)
class Outgoing:
    """One customer's message of a grouped send: who, under which dedupe key, by which channel."""

    customer: Customer
    dedupe_key: str
    channel: str
    context: Mapping[str, Any] = field(default_factory=dict)
    enrollment_id: int | None = None


def messages_enqueue_many(
    items: Sequence[Outgoing],
    *,
    template: Template,
    journey_id: int | None = None,
    node_id: str = "",
) -> list[bool]:
    """What `message_enqueue` does for each item with `template`; per item, in order, whether
    its message was created (False: its dedupe key was already in the outbox).

    Raises what the single call raises (TemplateRenderError, MessagingError); the caller isolates
    a failing item itself (one bad item may fail the whole call).
    """
    return [
        message_enqueue(
            customer=item.customer,
            dedupe_key=item.dedupe_key,
            channel=item.channel,
            purpose=template.purpose,
            template=template,
            context=item.context,
            journey_id=journey_id,
            enrollment_id=item.enrollment_id,
            node_id=node_id,
        )[1]
        for item in items
    ]
