"""`cart` in a message's context: the cart a journey was started by, as products by name.

A `cart_updated` event carries only SKUs (`{"cart": {"skus": [...], "total": "..."}}`) and the
journey keeps that in its context; a template (the designer's product list) wants names and
prices, so they are read from the catalogue, once for a group of messages, when there is a cart.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from lifelong.commerce.models import Product

# A cart longer than this is shown by its first items (a message is not a catalogue).
MAX_ITEMS = 20


def cart_skus(extra: Mapping[str, Any] | None) -> tuple[Mapping[str, Any], Counter[str]] | None:
    """The journey's cart and how many of each SKU it holds, or None without one."""
    journey = (extra or {}).get("journey")
    cart = journey.get("cart") if isinstance(journey, Mapping) else None
    skus = cart.get("skus") if isinstance(cart, Mapping) else None
    if not isinstance(cart, Mapping) or not isinstance(skus, list):
        return None
    counts = Counter(str(sku) for sku in skus if isinstance(sku, str | int))
    if not counts:
        return None
    # A cart longer than MAX_ITEMS is shown by its first items.
    return cart, Counter(dict(list(counts.items())[:MAX_ITEMS]))


def cart_build(
    found: tuple[Mapping[str, Any], Counter[str]], products: Mapping[str, Product]
) -> dict[str, Any]:
    """The `cart` of a context: a cart `cart_skus` found as `{"products": [...], "total",
    "currency"}`, on products read by SKU (of any number of carts). SKUs the catalogue does
    not know are left out; a SKU listed twice is one line of two."""
    cart, counts = found
    lines: list[dict[str, Any]] = [
        {
            "name": product.name,
            "sku": product.sku,
            "category": product.category,
            "quantity": count,
            "price": product.price,
            "total": product.price * count,
        }
        for sku, count in counts.items()
        if (product := products.get(sku)) is not None
    ]
    try:
        total = Decimal(str(cart.get("total")))
    except InvalidOperation:
        total = sum((Decimal(line["total"]) for line in lines), Decimal(0))
    # The first product the catalogue knows gives the currency.
    currency = next((products[sku].currency for sku in counts if sku in products), "RUB")
    return {"products": lines, "total": total, "currency": currency}
