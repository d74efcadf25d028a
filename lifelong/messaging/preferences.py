"""What a customer chooses to receive: marketing per channel, topics, preferred channel, push.

These are the writes behind the customer portal's preferences page. Consent itself is
`customers.services.consent_record` (append-only evidence); topics are opt-out rows.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from django.db import transaction

from lifelong.customers.models import Channel, Customer, Purpose
from lifelong.customers.selectors import consent_current
from lifelong.customers.services import consent_record
from lifelong.events.services import event_record
from lifelong.messaging.models import (
    DUE_STATUSES,
    WEBHOOK,
    ChannelConfig,
    Message,
    PushSubscription,
    Status,
    Topic,
)
from lifelong.messaging.services import address_of, messages_cancel_marketing

PREFERENCES_SOURCE = "preferences_page"


def channels_offered() -> list[str]:
    """Customer channels the business has set up, in the order `Channel` lists them."""
    active = set(ChannelConfig.objects.filter(active=True).values_list("channel", flat=True))
    return [c for c in Channel.values if c in active and c != WEBHOOK]


def marketing_state(customer: Customer, channels: Collection[str]) -> dict[str, bool]:
    """Whether marketing is on per channel, from the newest consent row (none = off)."""
    current = consent_current(customer)
    states = {}
    for channel in channels:
        consent = current.get((channel, Purpose.MARKETING))
        states[channel] = bool(consent and consent.granted)
    return states


def reachable_channels(customer: Customer, channels: Collection[str]) -> list[str]:
    """The channels among `channels` where we have an address for the customer."""
    return [c for c in channels if address_of(customer, c)]


@transaction.atomic
def topic_opt_out(*, customer: Customer, topic: Topic) -> bool:
    """Stop one topic for the customer and cancel its queued marketing at once.

    Returns False when the customer had already opted out (nothing changes).
    """
    _row, created = customer.topic_opt_outs.get_or_create(topic=topic)
    if not created:
        return False
    Message.objects.filter(
        customer=customer, purpose=Purpose.MARKETING, status__in=DUE_STATUSES, topic=topic.slug
    ).update(status=Status.CANCELLED, last_error=f"topic opted out ({topic.slug})")
    event_record(
        customer=customer,
        type="topic_opted_out",
        properties={"topic": topic.slug},
        source=PREFERENCES_SOURCE,
    )
    return True


@transaction.atomic
def topic_opt_in(*, customer: Customer, topic: Topic) -> bool:
    """Receive the topic again. Returns False when it was not opted out."""
    deleted, _by_model = customer.topic_opt_outs.filter(topic=topic).delete()
    if not deleted:
        return False
    event_record(
        customer=customer,
        type="topic_opted_in",
        properties={"topic": topic.slug},
        source=PREFERENCES_SOURCE,
    )
    return True


@transaction.atomic
def preferences_save(
    *,
    customer: Customer,
    marketing: Mapping[str, bool],
    topics: Mapping[str, bool],
    preferred_channel: str,
    ip: str | None = None,
) -> list[str]:
    """Apply what the customer chose on the preferences page; returns what changed.

    `marketing` maps each channel shown on the page to the ticked state; only channels
    whose state differs from the current consent get a new consent row, so the evidence
    trail records decisions, not page saves. `topics` maps topic slugs shown on the page
    to whether the customer wants them; topics not in it (added since the page was
    opened) stay as they are.
    """
    changed: list[str] = []
    current = marketing_state(customer, marketing.keys())
    for channel, granted in marketing.items():
        if current[channel] == granted:
            continue
        consent_record(
            customer=customer,
            channel=channel,
            purpose=Purpose.MARKETING,
            granted=granted,
            source=PREFERENCES_SOURCE,
            ip=ip,
            form="preferences",
        )
        changed.append(f"marketing:{channel}")
    for topic in Topic.objects.filter(slug__in=list(topics)).order_by("pk"):
        if topics[topic.slug]:
            if topic_opt_in(customer=customer, topic=topic):
                changed.append(f"topic:{topic.slug}")
        elif topic_opt_out(customer=customer, topic=topic):
            changed.append(f"topic:{topic.slug}")
    if preferred_channel != customer.preferred_channel:
        customer.preferred_channel = preferred_channel
        customer.save(update_fields=["preferred_channel"])
        changed.append("preferred_channel")
    return changed


@transaction.atomic
def marketing_withdraw_all(*, customer: Customer, ip: str | None = None) -> int:
    """ "Unsubscribe from everything": withdraw marketing on every channel it is on.

    Channels without a granted consent already receive no marketing, so they get no new
    row; queued marketing is cancelled on every channel regardless. Returns the number of
    withdrawals recorded.
    """
    withdrawn = 0
    for channel, granted in marketing_state(customer, Channel.values).items():
        if granted:
            consent_record(
                customer=customer,
                channel=channel,
                purpose=Purpose.MARKETING,
                granted=False,
                source=PREFERENCES_SOURCE,
                ip=ip,
                form="preferences: unsubscribe from everything",
            )
            withdrawn += 1
    messages_cancel_marketing(customer=customer, reason="unsubscribed from everything")
    return withdrawn


@transaction.atomic
def push_subscription_save(
    *, customer: Customer, endpoint: str, p256dh: str, auth: str
) -> tuple[PushSubscription, bool]:
    """Store a browser's push subscription; returns (subscription, created).

    The endpoint names one browser. The same customer subscribing again only refreshes
    the keys. If another customer had it, that browser now belongs to whoever subscribed
    last: the old row goes, so messages queued to it fail as "subscription gone" instead
    of reaching the new person.
    """
    existing = PushSubscription.objects.select_for_update().filter(endpoint=endpoint).first()
    if existing is not None and existing.customer_id == customer.pk:
        existing.p256dh, existing.auth = p256dh, auth
        existing.save(update_fields=["p256dh", "auth"])
        return existing, False
    if existing is not None:
        existing.delete()
    subscription = PushSubscription.objects.create(
        customer=customer, endpoint=endpoint, p256dh=p256dh, auth=auth
    )
    return subscription, True
