"""Which channel reaches a customer: an address there, the channel set up, consent for marketing,
and (with a template) something to say there. A group is answered in a fixed number of queries;
`services.channel_choose` is the one-customer case."""

from __future__ import annotations

from collections.abc import Sequence

from lifelong.customers.models import Channel, Consent, Customer, Purpose
from lifelong.messaging.models import ChannelConfig, PushSubscription, Template
from lifelong.messaging.variants import variant_for

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

# The customer field holding the address on each channel (push lives in PushSubscription).
ADDRESS_FIELDS: dict[str, str] = {
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


def channels_choose(
    customers: Sequence[Customer], *, purpose: str, template: Template | None = None
) -> dict[int, str | None]:
    """Per customer id: the preferred channel if it can reach the customer, else the first
    fallback that can; None when no channel qualifies.

    "Can reach" means: the channel is set up, we have an address, and for marketing a
    stored consent exists; with a template, also that the template has something to say
    there (its own variant or its short text: an email-only template does not go by SMS).
    One query for the channels set up, one for the consents of marketing, one for push
    subscriptions when push is set up.
    """
    configured = set(ChannelConfig.objects.filter(active=True).values_list("channel", flat=True))
    ids = [customer.pk for customer in customers]
    # The current consent per (customer, channel) is the one recorded last.
    granted: dict[tuple[int, str], bool] = {}
    if purpose == Purpose.MARKETING and ids:
        for customer_id, channel, allowed in (
            Consent.objects.filter(customer_id__in=ids, purpose=Purpose.MARKETING)
            .newest_first()
            .values_list("customer_id", "channel", "granted")
        ):
            granted.setdefault((customer_id, channel), allowed)
    pushed: set[int] = set()
    if Channel.PUSH in configured and ids:
        pushed = set(
            PushSubscription.objects.filter(customer_id__in=ids).values_list(
                "customer_id", flat=True
            )
        )
    # The template's answer depends only on (channel, language): asked once per pair.
    speaks: dict[tuple[str, str], bool] = {}

    def says_something(channel: str, language: str) -> bool:
        if template is None:
            return True
        if (channel, language) not in speaks:
            variant = variant_for(template, channel, language=language)
            speaks[channel, language] = variant is not None
        return speaks[channel, language]

    chosen: dict[int, str | None] = {}
    for customer in customers:
        chosen[customer.pk] = None
        order = [customer.preferred_channel] if customer.preferred_channel else []
        order += [c for c in FALLBACK_ORDER if c != customer.preferred_channel]
        for channel in order:
            if channel not in configured:
                continue
            if channel == Channel.PUSH:
                reachable = customer.pk in pushed
            else:
                field = ADDRESS_FIELDS.get(channel)
                reachable = bool(field and getattr(customer, field, ""))
            if not reachable or not says_something(channel, customer.language):
                continue
            if purpose == Purpose.MARKETING and not granted.get((customer.pk, channel)):
                continue
            chosen[customer.pk] = channel
            break
    return chosen
