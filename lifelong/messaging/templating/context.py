"""The plain-data context of one message: what a template may know about a customer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db.models import Prefetch
from django.utils.translation import gettext as _

from lifelong.commerce.models import Order, OrderLine, OrderStatus
from lifelong.customers.models import Channel, Customer
from lifelong.lib import russian
from lifelong.messaging.links import preferences_url, unsubscribe_url
from lifelong.messaging.models import BrandVoice, Template
from lifelong.messaging.templating.cart import cart_context
from lifelong.messaging.templating.limits import TemplateRenderError
from lifelong.messaging.templating.loyalty import loyalty_context
from lifelong.messaging.templating.sandbox import Rendered, field_render, variant_render
from lifelong.messaging.templating.words import context_as_words
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
    segment facts. Six queries: facts, tags, last order with its lines, state, brand voice;
    eight for the points and tier (see templating/loyalty.py); one more for the personal manager of
    a customer who has one; one for `cart` when a journey was started by a cart (see cart.py).
    """
    from lifelong.segments.models import CustomerState

    gender = customer.gender or russian.name_gender(f"{customer.first_name} {customer.patronymic}")
    attributes = dict(customer.attributes or {})
    context: dict[str, Any] = {
        "customer": {
            "id": customer.pk,
            "external_id": customer.external_id or "",
            "first_name": customer.first_name,
            "last_name": customer.last_name,
            "patronymic": customer.patronymic,
            "display_name": customer.display_name,
            "full_name": customer.full_name,
            "gender": gender,
            "email": customer.email,
            "phone": customer.phone,
            "city": str(attributes.get("city") or ""),
            "attributes": attributes,
            "birthday": customer.birthday,
            "language": customer.language,
            "time_zone": customer.time_zone,
            "orders_count": customer.orders_count,
            "total_spent": customer.total_spent,
            "average_order": customer.average_order,
            "first_order_at": customer.first_order_at,
            "last_order_at": customer.last_order_at,
        },
        "facts": [fact.text for fact in customer.facts.all()],
        "tags": sorted(tag.name for tag in customer.tags.all()),
        "last_order": _last_order(customer),
        "loyalty": loyalty_context(
            customer_id=customer.pk,
            language=customer.language,
            segments=_segment_facts(CustomerState.objects.filter(customer=customer).first()),
        ),
        "links": {
            "preferences": preferences_url(customer_id=customer.pk),
            "unsubscribe": unsubscribe_url(customer_id=customer.pk, channel=channel),
        },
        "channel": channel,
        "manager": manager_context(customer),
    }
    # The brand's greeting may print `{{ customer }}`: words first, then the brand's own.
    context_as_words(context)
    context["brand"] = brand_context(channel, context)
    context_as_words(context)
    # `cart` is a producer's name (EXTRA_NAMES); a journey started by a cart has its SKUs.
    cart = cart_context(extra) if "cart" not in (extra or {}) else None
    if cart is not None:
        context["cart"] = cart
    context.update(extra or {})
    return context


def _last_order(customer: Customer) -> dict[str, Any] | None:
    order = (
        Order.objects.filter(customer=customer)
        .exclude(status=OrderStatus.CANCELLED)
        .order_by("-placed_at", "-pk")
        .prefetch_related(
            Prefetch("lines", queryset=OrderLine.objects.select_related("product").order_by("pk"))
        )
        .first()
    )
    if order is None:
        return None
    return {
        "external_id": order.external_id,
        "status": order.status,
        "total": order.total,
        "currency": order.currency,
        "discount": order.discount,
        "coupon": order.coupon,
        "placed_at": order.placed_at,
        "products": [
            {
                "name": line.name or (line.product.name if line.product else ""),
                "sku": line.sku or (line.product.sku if line.product else ""),
                "category": line.product.category if line.product else "",
                "quantity": line.quantity,
                "price": line.price,
                "total": line.total,
            }
            for line in order.lines.all()
        ],
    }


def _segment_facts(state: Any) -> dict[str, Any]:
    if state is None:
        return {
            "stage": "",
            "stage_name": "",
            "rfm_segment": "",
            "loyal_type": "",
            "loyalty_value": None,
        }
    return {
        "stage": state.stage,
        "stage_name": str(state.get_stage_display()) if state.stage else "",
        "rfm_segment": state.rfm_segment,
        "loyal_type": state.loyal_type,
        "loyalty_value": state.loyalty_value,
    }


def manager_context(customer: Customer) -> dict[str, str]:
    """The customer's personal manager as a template sees them (empty strings when none):
    one query, and only for a customer who has one."""
    manager = customer.personal_manager if customer.personal_manager_id else None
    if manager is None:
        return {"name": "", "first_name": "", "last_name": "", "email": ""}
    return {
        "name": " ".join(manager.get_full_name().split()),
        "first_name": manager.first_name.strip(),
        "last_name": manager.last_name.strip(),
        "email": manager.email,
    }


def brand_context(channel: str, context: Mapping[str, Any]) -> dict[str, str]:
    """The brand voice of a channel, its greeting and signature rendered on `context`."""
    voice = BrandVoice.objects.filter(channel=channel).first()
    if voice is None:
        return {"sender_name": "", "greeting": "", "signature": ""}
    return {
        "sender_name": voice.sender_name,
        "greeting": field_render(
            voice.greeting, context, field="greeting", autoescape=False, strict=False
        ).strip(),
        "signature": field_render(
            voice.signature, context, field="signature", autoescape=False, strict=False
        ).strip(),
    }
