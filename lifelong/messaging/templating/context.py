"""The plain-data context of one message: what a template may know about a customer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext as _

from lifelong.customers.models import Channel, Customer
from lifelong.messaging.models import BrandVoice, Template
from lifelong.messaging.templating.context_bulk import (
    NO_MANAGER,
    brand_data,
    managers_of,
    message_contexts,
)
from lifelong.messaging.templating.limits import TemplateRenderError
from lifelong.messaging.templating.sandbox import Rendered, variant_render
from lifelong.messaging.variants import variant_for

FIELDS = ("subject", "body_text", "body_html")

# Top-level names of `message_context`.
CONTEXT_NAMES = frozenset(
    {"customer", "facts", "tags", "last_order", "loyalty", "links", "brand", "channel", "manager"}
)
# Names producers put in `extra` (journeys pass `journey`: the enrollment's context,
# e.g. the trigger event's properties; recommendations `products`; abandoned carts `cart`;
# the journey survey node `survey`: its `url` and `name`; a club invitation `club`: its `url`
# and `name`, and the same join address as `club_invite_url`; a club post `club` and
# `early_access`: the early-access windows open to a tier or ahead, see community/posts.py).
EXTRA_NAMES = frozenset(
    {"journey", "products", "cart", "survey", "club", "club_invite_url", "early_access"}
)


def template_fields(template: Template, language: str) -> dict[str, str]:
    """The email variant's subject and bodies in the customer's language, else the default
    (Russian) ones. What another channel sends is `variants.variant_for`'s answer."""
    fields = {
        "subject": template.subject,
        "body_text": template.body_text,
        "body_html": template.body_html,
    }
    translation = (template.translations or {}).get(language)
    if isinstance(translation, Mapping) and translation.get("body_text"):
        fields = {name: str(translation.get(name) or "") for name in FIELDS}
    return fields


def message_render(
    *, template: Template, customer: Customer, channel: str, extra: Mapping[str, Any] | None = None
) -> Rendered:
    """Subject, text and HTML of `template` for this customer on this channel.

    Raises `TemplateRenderError` (with field and line) when the template breaks a limit
    or fails; the caller decides whether that skips the message.
    """
    variant = variant_for(template, channel, language=customer.language)
    if variant is None:
        raise TemplateRenderError(no_variant_text(template, channel), field="channel")
    context = message_context(customer=customer, channel=channel, extra=extra)
    return variant_render(variant, context)


def no_variant_text(template: Template, channel: str) -> str:
    label = Channel(channel).label if channel in Channel.values else channel
    return _(
        "“%(template)s” has no text for %(channel)s: write its %(channel)s text or its short text."
    ) % {"template": template.name, "channel": label}


def message_context(
    *, customer: Customer, channel: str, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Everything a template may use about this customer, as plain data.

    `customer.gender` is the stored gender or, when none is stored, the one the first
    name and patronymic give (so `customer|verb("купил")` is right for most people).
    The brand's greeting and signature are templates too, rendered here for the customer.
    `extra` (journey data, recommended products, a cart) is merged on top.
    `loyalty` is the customer's points (`{{ loyalty }}` prints them as words) beside their
    segment facts. Seven queries: facts, tags, last order, its lines, state, brand voice;
    eight for the points and tier (see templating/loyalty.py); one more for the personal manager of
    a customer who has one; one for `cart` when a journey was started by a cart (see cart.py).
    It is `context_bulk.message_contexts` for one customer.
    """
    return message_contexts([customer], channel=channel, extras=[extra])[0]


def manager_context(customer: Customer) -> dict[str, str]:
    """The customer's personal manager as a template sees them (empty strings when none):
    one query, and only for a customer who has one."""
    return managers_of([customer]).get(customer.pk, dict(NO_MANAGER))


def brand_context(channel: str, context: Mapping[str, Any]) -> dict[str, str]:
    """The brand voice of a channel, its greeting and signature rendered on `context`."""
    return brand_data(BrandVoice.objects.filter(channel=channel).first(), context)
