"""Writes to the outbox: enqueue, cancel, provider status, inbound replies.

Delivery itself is `messaging.dispatch.dispatch_due`; nothing here talks to a network.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q

from lifelong import clock
from lifelong.customers.models import Channel, Customer, Purpose
from lifelong.events.models import Event
from lifelong.events.services import event_record, events_record
from lifelong.messaging.models import (
    DUE_STATUSES,
    Message,
    SendingPolicy,
    Status,
    Suppression,
    Template,
)
from lifelong.messaging.outbox import (
    Content,
    Outgoing,
    message_build,
    message_check,
    messages_build,
    messages_insert,
)
from lifelong.messaging.outbox import MessagingError as MessagingError
from lifelong.messaging.reach import ADDRESS_FIELDS, channels_choose
from lifelong.messaging.reach import FALLBACK_ORDER as FALLBACK_ORDER
from lifelong.messaging.reach import address_of as address_of

log = logging.getLogger(__name__)


def channel_choose(
    *, customer: Customer, purpose: str, template: Template | None = None
) -> str | None:
    """`reach.channels_choose` for one customer: the channel that reaches them, or None."""
    return channels_choose([customer], purpose=purpose, template=template)[customer.pk]


def message_enqueue(
    *,
    customer: Customer | None,
    dedupe_key: str,
    channel: str,
    purpose: str = Purpose.MARKETING,
    template: Template | None = None,
    subject: str = "",
    text: str = "",
    html: str = "",
    payload: Mapping[str, Any] | None = None,
    topic: str = "",
    context: Mapping[str, Any] | None = None,
    not_before: dt.datetime | None = None,
    journey_id: int | None = None,
    enrollment_id: int | None = None,
    node_id: str = "",
    to: str = "",
) -> tuple[Message, bool]:
    """Put one message in the outbox. A second call with the same dedupe key changes nothing.

    `to` is the address of a message with no customer (a post to a club's group chat); a
    customer's message goes to their address as it is when sent.

    With a template, subject and bodies are rendered now for this customer (so what is
    sent is what was decided, even if the template changes later). Returns (message, created).
    """
    existing = Message.objects.filter(dedupe_key=dedupe_key).first()
    if existing is not None:
        return existing, False
    message_check(channel=channel, purpose=purpose)
    policy = SendingPolicy.current()
    if template is not None:
        if customer is None:
            raise MessagingError("a template needs a customer to render for", field="customer")
        # A group of one: the same rendering as a journey's grouped send.
        (message,) = messages_build(
            [Outgoing(customer, dedupe_key, channel, context or {}, enrollment_id)],
            template=template,
            purpose=purpose,
            policy=policy,
            journey_id=journey_id,
            node_id=node_id,
            payload=payload,
            topic=topic,
            not_before=not_before,
        )
    else:
        message = message_build(
            customer=customer,
            dedupe_key=dedupe_key,
            channel=channel,
            purpose=purpose,
            template=None,
            content=Content(
                subject=subject, text=text, html=html, payload=payload or {}, topic=topic
            ),
            to=to,
            not_before=not_before,
            now=clock.now(),
            policy=policy,
            journey_id=journey_id,
            enrollment_id=enrollment_id,
            node_id=node_id,
        )
    try:
        with transaction.atomic():
            messages_insert([message], policy=policy)
    except IntegrityError:
        # A concurrent producer with the same key won.
        return Message.objects.get(dedupe_key=dedupe_key), False
    return message, True


def messages_cancel_marketing(
    *, customer: Customer, channels: Iterable[str] | None = None, reason: str
) -> int:
    """Cancel queued marketing messages at once (consent withdrawn, unsubscribed, opted out)."""
    query = Message.objects.filter(
        customer=customer, purpose=Purpose.MARKETING, status__in=DUE_STATUSES
    )
    if channels is not None:
        query = query.filter(channel__in=list(channels))
    return query.update(status=Status.CANCELLED, last_error=reason[:500])


# Provider words for delivery states, mapped to ours; unknown words are ignored.
_PROVIDER_STATUS = {
    "delivered": Status.DELIVERED,
    "read": Status.DELIVERED,
    "failed": Status.FAILED,
    "undelivered": Status.FAILED,
    "rejected": Status.FAILED,
    "bounced": Status.FAILED,
}


@transaction.atomic
def message_status_update(
    *,
    channel: str,
    provider_id: str,
    status: str,
    error: str = "",
    bounce: bool = False,
    at: dt.datetime | None = None,
) -> Message | None:
    """Apply a provider's delivery callback. A late or repeated callback changes nothing."""
    message = (
        Message.objects.select_for_update()
        .filter(channel=channel, provider_id=provider_id)
        .exclude(provider_id="")
        .first()
    )
    new = _PROVIDER_STATUS.get(status.lower())
    if message is None or new is None:
        return message
    at = at or clock.now()
    if new == Status.DELIVERED and message.status in (Status.SENT, Status.UNKNOWN):
        message.status, message.delivered_at = Status.DELIVERED, at
        message.save(update_fields=["status", "delivered_at"])
        message_event(message, "message_delivered", at)
    elif new == Status.FAILED and message.status in (Status.SENT, Status.UNKNOWN, Status.DELIVERED):
        message.status, message.last_error = Status.FAILED, (error or status)[:500]
        message.save(update_fields=["status", "last_error"])
        message_event(message, "message_failed", at, {"error": message.last_error})
        if bounce:
            suppression_add(channel=channel, address=message.to, reason=message.last_error)
    return message


def suppression_add(*, channel: str, address: str, reason: str) -> None:
    if address:
        Suppression.objects.get_or_create(
            channel=channel, address=address.lower(), defaults={"reason": reason[:200]}
        )


def message_engagement_record(*, message: Message, kind: str) -> bool:
    """Record an open or a click once per message; returns True the first time."""
    field = {"opened": "opened_at", "clicked": "clicked_at"}[kind]
    now = clock.now()
    updated = Message.objects.filter(pk=message.pk, **{f"{field}__isnull": True}).update(
        **{field: now}
    )
    # A click proves an open even when the pixel was blocked.
    if kind == "clicked" and Message.objects.filter(pk=message.pk, opened_at__isnull=True).update(
        opened_at=now
    ):
        message_event(message, "message_opened", now)
    if updated:
        message_event(message, f"message_{kind}", now)
    return bool(updated)


def inbound_record(*, channel: str, address: str, text: str, provider_id: str = "") -> bool:
    """A customer's reply: it lands on their timeline. Returns False if nobody matches."""
    return (
        inbound_event_record(channel=channel, address=address, text=text, provider_id=provider_id)
        is not None
    )


def customer_by_address(*, channel: str, address: str) -> Customer | None:
    """The live customer (not a merged duplicate) with this address on the channel."""
    field = ADDRESS_FIELDS.get(Channel(channel))
    if field is None or not address:
        return None
    if channel == Channel.EMAIL:
        field += "__iexact"  # mail clients change the case of addresses
    return Customer.objects.live().filter(Q(**{field: address})).first()


def inbound_event_record(
    *, channel: str, address: str, text: str, provider_id: str = ""
) -> Event | None:
    """inbound_record's `message_replied` event (the first one on a replay), or None when
    nobody matches; the feedback inbox makes an item of it."""
    customer = customer_by_address(channel=channel, address=address)
    if customer is None:
        log.info("inbound_unmatched", extra={"channel": channel})
        return None
    last = (
        Message.objects.filter(customer=customer, channel=channel, sent_at__isnull=False)
        # A MAX callback answer is a notice over the chat, not a message anyone replies to.
        .exclude(payload__has_key="callback_id")
        # Two sent in the same instant: the one queued later is the one answered.
        .order_by("-sent_at", "-pk")
        .values("pk", "journey_id", "enrollment_id", "node_id")
        .first()
    )
    event, _created = event_record(
        customer=customer,
        type="message_replied",
        properties={"channel": channel, "text": text[:4000], **_origin(last)},
        source=channel,
        idempotency_key=f"inbound:{channel}:{provider_id}" if provider_id else None,
    )
    return event


def _origin(values: Mapping[str, Any] | None) -> dict[str, Any]:
    if not values:
        return {}
    return {
        "message_id": values["pk"],
        "journey_id": values["journey_id"],
        "enrollment_id": values["enrollment_id"],
        "node_id": values["node_id"],
    }


def message_event(
    message: Message, type: str, at: dt.datetime, extra: Mapping[str, Any] | None = None
) -> None:
    """Put a message's progress on the customer's timeline (sent, opened, clicked, ...)."""
    event = message_event_build(message, type, at, extra)
    if event is not None:
        events_record([event])


def message_event_build(
    message: Message, type: str, at: dt.datetime, extra: Mapping[str, Any] | None = None
) -> Event | None:
    """The unsaved timeline event of `message_event` (None without a customer), for callers
    that record many at once."""
    if message.customer_id is None:
        return None
    return Event(
        customer_id=message.customer_id,
        type=type,
        properties={
            "channel": message.channel,
            "message_id": message.pk,
            "journey_id": message.journey_id,
            "enrollment_id": message.enrollment_id,
            "node_id": message.node_id,
            "subject": message.subject[:200],
            **(extra or {}),
        },
        occurred_at=at,
        received_at=clock.now(),
        source="messaging",
    )
