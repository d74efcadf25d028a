"""The plain-data contexts of a group of messages, one query per kind of data for the group.

A journey's send node renders one template for thousands of customers; asking the database
about each of them in turn (facts, tags, last order, state, manager, ...) cost most of the
send. Here each kind is read once for the whole group, and only the kinds the template
names: `template_names` reads them off its syntax tree. `context.message_context` is the
one-customer case of `message_contexts`, so both build the same dicts.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.db.models import OuterRef, Prefetch, Subquery
from jinja2 import TemplateSyntaxError, meta, nodes

from lifelong.commerce.models import Order, OrderLine, OrderStatus, Product
from lifelong.customers.models import Customer, Fact
from lifelong.lib import russian
from lifelong.messaging.links import preferences_token, token_link, unsubscribe_token
from lifelong.messaging.models import BrandVoice
from lifelong.messaging.templating.cart import cart_build, cart_skus
from lifelong.messaging.templating.loyalty import LoyaltyData, loyalty_contexts
from lifelong.messaging.templating.sandbox import environment, field_render
from lifelong.messaging.templating.words import context_as_words
from lifelong.messaging.variants import Variant

# Nodes that reach other templates by name: what they use cannot be read off this one.
_OPAQUE = (nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)


@functools.lru_cache(maxsize=512)
def _source_names(source: str) -> frozenset[str] | None:
    try:
        tree = environment(autoescape=False, strict=False).parse(source)
    except TemplateSyntaxError:
        return None
    if any(True for _node in tree.find_all(_OPAQUE)):
        return None
    return frozenset(meta.find_undeclared_variables(tree))


def source_names(sources: Iterable[str]) -> frozenset[str] | None:
    """The top-level names these template sources read; None when that cannot be told from
    their syntax (a syntax error: the render will report it; an include): load everything."""
    found: set[str] = set()
    for source in sources:
        if source:
            names = _source_names(source)
            if names is None:
                return None
            found |= names
    return frozenset(found)


def template_names(variant: Variant) -> frozenset[str] | None:
    """The names a variant's subject, bodies and buttons read (see `source_names`)."""
    buttons = [part for button in variant.buttons for part in (button.label, button.url)]
    return source_names([variant.subject, variant.text, variant.html, *buttons])


def message_contexts(
    customers: Sequence[Customer],
    *,
    channel: str,
    extras: Sequence[Mapping[str, Any] | None] | None = None,
    names: frozenset[str] | None = None,
) -> list[dict[str, Any]]:
    """`context.message_context` of each customer (with the extra at the same position), in
    order; with `names`, only those top-level names are loaded (the others a template that
    reads only `names` never sees). A customer may appear more than once.

    One query per kind of data for the whole group: facts, tags, the last orders and their
    lines (two), states, managers (only for customers who have one), the brand voice, cart
    products (only when a journey was started by a cart); when `loyalty` is named, the states
    and seven per language (loyalty.loyalty_contexts).
    """
    extras_of: list[Mapping[str, Any]] = [dict(e or {}) for e in extras or [{}] * len(customers)]
    voice = BrandVoice.objects.filter(channel=channel).first() if _wants("brand", names) else None
    if names is not None and voice is not None:
        # The greeting and signature are templates on the same context.
        voice_names = source_names([voice.greeting, voice.signature])
        names = None if voice_names is None else names | voice_names
    ids = list(dict.fromkeys(customer.pk for customer in customers))
    loaders: dict[str, Callable[[list[int]], dict[int, Any]]] = {
        "facts": _facts,
        "tags": _tags,
        "last_order": _last_orders,
    }
    loaded = {name: load(ids) for name, load in loaders.items() if _wants(name, names)}
    wants_loyalty = _wants("loyalty", names)
    loyalties = _loyalties(customers, ids) if wants_loyalty else {}
    managers = managers_of(customers) if _wants("manager", names) else {}
    carts = _carts(extras_of) if _wants("cart", names) else [None] * len(customers)
    # Each route reversed once for the group.
    preferences_link = token_link("portal:preferences")
    unsubscribe_link = token_link("portal:unsubscribe")

    contexts = []
    for customer, extra, cart in zip(customers, extras_of, carts, strict=True):
        context: dict[str, Any] = {"customer": customer_data(customer)}
        for name, by_customer in loaded.items():
            context[name] = by_customer.get(customer.pk, _EMPTY[name])
        if wants_loyalty:
            context["loyalty"] = loyalties[customer.pk]
        if _wants("links", names):
            context["links"] = {
                "preferences": preferences_link(preferences_token(customer_id=customer.pk)),
                "unsubscribe": unsubscribe_link(
                    unsubscribe_token(customer_id=customer.pk, channel=channel)
                ),
            }
        context["channel"] = channel
        if _wants("manager", names):
            context["manager"] = managers.get(customer.pk, NO_MANAGER)
        # The brand's greeting may print `{{ customer }}`: words first, then the brand's own.
        context_as_words(context)
        if _wants("brand", names):
            context["brand"] = brand_data(voice, context)
            context_as_words(context)
        # `cart` is a producer's name (EXTRA_NAMES); a journey started by a cart has its SKUs.
        if cart is not None:
            context["cart"] = cart
        context.update(extra)
        contexts.append(context)
    return contexts


def _wants(name: str, names: frozenset[str] | None) -> bool:
    return names is None or name in names


def customer_data(customer: Customer) -> dict[str, Any]:
    """`customer` of a context. Its gender is the stored one or, when none is stored, the one
    the first name and patronymic give (so `customer|verb("купил")` is right for most people)."""
    gender = customer.gender or russian.name_gender(f"{customer.first_name} {customer.patronymic}")
    attributes = dict(customer.attributes or {})
    return {
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
    }


# What a customer without any rows of a kind gets.
_EMPTY: dict[str, Any] = {"facts": [], "tags": [], "last_order": None}
_NO_STATE: dict[str, Any] = {
    "stage": "",
    "stage_name": "",
    "rfm_segment": "",
    "loyal_type": "",
    "loyalty_value": None,
}
NO_MANAGER = {"name": "", "first_name": "", "last_name": "", "email": ""}


def _facts(ids: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = defaultdict(list)
    rows = Fact.objects.filter(customer_id__in=ids).order_by(
        "customer_id", "category", "created_at", "pk"
    )
    for customer_id, text in rows.values_list("customer_id", "text"):
        found[customer_id].append(text)
    return found


def _tags(ids: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = defaultdict(list)
    rows = Customer.tags.through.objects.filter(customer_id__in=ids)
    for customer_id, name in rows.values_list("customer_id", "tag__name"):
        found[customer_id].append(name)
    return {customer_id: sorted(names) for customer_id, names in found.items()}


def _last_orders(ids: list[int]) -> dict[int, dict[str, Any]]:
    """Each customer's last order that was not cancelled, with its lines: two queries."""
    placed = Order.objects.exclude(status=OrderStatus.CANCELLED)
    last = placed.filter(customer_id=OuterRef("customer_id")).order_by("-placed_at", "-pk")
    orders = (
        placed.filter(customer_id__in=ids, pk=Subquery(last.values("pk")[:1]))
        .order_by()
        .prefetch_related(
            Prefetch("lines", queryset=OrderLine.objects.select_related("product").order_by("pk"))
        )
    )
    return {order.customer_id: _order_data(order) for order in orders}


def _order_data(order: Order) -> dict[str, Any]:
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


def _loyalties(customers: Sequence[Customer], ids: list[int]) -> dict[int, LoyaltyData]:
    """The `loyalty` object of each customer, with their segment facts."""
    states = _segment_facts(ids)
    return loyalty_contexts(
        customers=[(customer.pk, customer.language) for customer in customers],
        segments={cid: states.get(cid, _NO_STATE) for cid in ids},
    )


def _segment_facts(ids: list[int]) -> dict[int, dict[str, Any]]:
    from lifelong.segments.models import CustomerState

    return {
        state.customer_id: {
            "stage": state.stage,
            "stage_name": str(state.get_stage_display()) if state.stage else "",
            "rfm_segment": state.rfm_segment,
            "loyal_type": state.loyal_type,
            "loyalty_value": state.loyalty_value,
        }
        for state in CustomerState.objects.filter(customer_id__in=ids)
    }


def manager_data(manager: AbstractUser | None) -> dict[str, str]:
    """A personal manager as a template sees them (empty strings when none)."""
    if manager is None:
        return dict(NO_MANAGER)
    return {
        "name": " ".join(manager.get_full_name().split()),
        "first_name": manager.first_name.strip(),
        "last_name": manager.last_name.strip(),
        "email": manager.email,
    }


def managers_of(customers: Sequence[Customer]) -> dict[int, dict[str, str]]:
    """`manager_data` of each customer who has a personal manager: one query for those not
    loaded with their customer, none when nobody has one."""
    wanted = {
        c.personal_manager_id
        for c in customers
        if c.personal_manager_id and not Customer.personal_manager.is_cached(c)
    }
    users = get_user_model().objects.in_bulk(wanted) if wanted else {}
    found = {}
    for customer in customers:
        if customer.personal_manager_id:
            manager = (
                customer.personal_manager
                if Customer.personal_manager.is_cached(customer)
                else users.get(customer.personal_manager_id)
            )
            found[customer.pk] = manager_data(manager)
    return found


def brand_data(voice: BrandVoice | None, context: Mapping[str, Any]) -> dict[str, str]:
    """A channel's brand voice, its greeting and signature rendered on `context`."""
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


def _carts(extras: list[Mapping[str, Any]]) -> list[dict[str, Any] | None]:
    """Each extra's cart (see cart.py), the products of all of them read in one query."""
    skus = [cart_skus(extra) if "cart" not in extra else None for extra in extras]
    wanted = {sku for found in skus if found for sku in found[1]}
    products = {p.sku: p for p in Product.objects.filter(sku__in=wanted)} if wanted else {}
    return [cart_build(found, products) if found else None for found in skus]
