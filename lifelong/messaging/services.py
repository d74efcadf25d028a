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
from lifelong.customers.selectors import consent_current
from lifelong.events.models import Event
from lifelong.events.services import event_record, events_record
from lifelong.lib.errors import DomainError
from lifelong.messaging import tracking
from lifelong.messaging.models import (
    DUE_STATUSES,
    WEBHOOK,
    ChannelConfig,
    Message,
    SendingPolicy,
    Status,
    Suppression,
    Template,
)
from lifelong.messaging.variants import buttons_delivery, variant_for

log = logging.getLogger(__name__)

# When a customer has no usable preferred channel, try these in order.
FALLBACK_ORDER = (
    Channel.EMAIL,
    Channel.TELEGRAM,
    Channel.MAX,
    Channel.VK,
    Channel.WHATSAPP,
    Channel.SMS,
    Channel.PUSH,
)


class MessagingError(DomainError):
    """A message that cannot be queued as asked."""


# The customer field holding the address on each channel (push lives in PushSubscription).
ADDRESS_FIELDS = {
    Channel.EMAIL: "email",
    Channel.SMS: "phone",
    Channel.WHATSAPP: "phone",
    Channel.TELEGRAM: "telegram_chat_id",
    Channel.VK: "vk_id",
    Channel.MAX: "max_chat_id",
}


def address_of(customer: Customer, channel: str) -> str:
    """The customer's address on a channel, or "" when we have none."""
    if channel == Channel.PUSH:
        subscription = customer.push_subscriptions.order_by("-created_at").first()
        return str(subscription.pk) if subscription else ""
    field = ADDRESS_FIELDS.get(Channel(channel))
    return str(getattr(customer, field, "") or "") if field else ""


def channel_choose(
    *, customer: Customer, purpose: str, template: Template | None = None
) -> str | None:
    """The preferred channel if it can reach the customer, else the first fallback that can.

    "Can reach" means: the channel is set up, we have an address, and for marketing a
    stored consent exists; with a template, also that the template has something to say
    there (its own variant or its short text: an email-only template does not go by SMS).
    Returns None when no channel qualifies.
    """
    configured = set(ChannelConfig.objects.filter(active=True).values_list("channel", flat=True))
    consents = consent_current(customer) if purpose == Purpose.MARKETING else {}
    order = [customer.preferred_channel] if customer.preferred_channel else []
    order += [c for c in FALLBACK_ORDER if c != customer.preferred_channel]
    for channel in order:
        if channel not in configured or not address_of(customer, channel):
            continue
        if (
            template is not None
            and variant_for(template, channel, language=customer.language) is None
        ):
            continue
        if purpose == Purpose.MARKETING:
            consent = consents.get((channel, Purpose.MARKETING))
            if consent is None or not consent.granted:
                continue
        return channel
    return None


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
    if channel != WEBHOOK and channel not in Channel.values:
        raise MessagingError(f"unknown channel {channel!r}", field="channel")
    if purpose not in Purpose.values:
        raise MessagingError(f"unknown purpose {purpose!r}", field="purpose")
    if template is not None:
        from lifelong.messaging.templating import message_render
        from lifelong.messaging.templating.context import manager_context

        if customer is None:
            raise MessagingError("a template needs a customer to render for", field="customer")
        rendered = message_render(
            template=template, customer=customer, channel=channel, extra=context or {}
        )
        subject, text, html = rendered.subject, rendered.text, rendered.html
        text, keyboard = buttons_delivery(channel, text, rendered.buttons)
        if keyboard:
            payload = {**keyboard, **(payload or {})}
        topic = topic or template.topic
        if template.sender_manager and channel == Channel.EMAIL:
            # Decided now, like the text: the transport puts it in From (see email/transport.py).
            manager_name = manager_context(customer)["name"]
            if manager_name:
                payload = {**(payload or {}), "from_name": manager_name}
    now = clock.now()
    policy = SendingPolicy.current()
    marketing = purpose == Purpose.MARKETING
    try:
        with transaction.atomic():
            message = Message.objects.create(
                customer=customer,
                dedupe_key=dedupe_key,
                channel=channel,
                purpose=purpose,
                topic=topic,
                template=template,
                subject=subject,
                body_text=text,
                body_html=html,
                payload=dict(payload or {}),
                to="" if customer is not None else to,
                next_attempt_at=max(not_before or now, now),
                expires_at=(
                    max(not_before or now, now) + dt.timedelta(hours=policy.expire_hours)
                    if marketing
                    else None
                ),
                created_at=now,
                journey_id=journey_id,
                enrollment_id=enrollment_id,
                node_id=node_id,
            )
            tracking.links_track(message, open_pixel=policy.open_pixel)
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
