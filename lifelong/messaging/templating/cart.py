"""`cart` in a message's context: the cart a journey was started by, as products by name.

A `cart_updated` event carries only SKUs (`{"cart": {"skus": [...], "total": "..."}}`) and the
journey keeps that in its context; a template (the designer's product list) wants names and
prices, so they are read from the catalogue here, once per message, only when there is a cart.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from lifelong.commerce.models import Product

# A cart longer than this is shown by its first items (a message is not a catalogue).
MAX_ITEMS = 20


def cart_context(extra: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The journey's cart as `{"products": [...], "total", "currency"}`, or None without one.

    SKUs the catalogue does not know are left out; a SKU listed twice is one line of two.
    """
    journey = (extra or {}).get("journey")
    cart = journey.get("cart") if isinstance(journey, Mapping) else None
    skus = cart.get("skus") if isinstance(cart, Mapping) else None
    if not isinstance(skus, list):
        return None
    counts = Counter(str(sku) for sku in skus if isinstance(sku, str | int))
    if not counts:
        return None
    wanted = list(counts)[:MAX_ITEMS]
    products = {p.sku: p for p in Product.objects.filter(sku__in=wanted)}
    lines: list[dict[str, Any]] = [
        {
            "name": product.name,
            "sku": product.sku,
            "category": product.category,
            "quantity": counts[sku],
            "price": product.price,
            "total": product.price * counts[sku],
        }
        for sku in wanted
        if (product := products.get(sku)) is not None
    ]
    assert isinstance(cart, Mapping)
    try:
        total = Decimal(str(cart.get("total")))
    except InvalidOperation:
        total = sum((Decimal(line["total"]) for line in lines), Decimal(0))
    currency = next((p.currency for p in products.values()), "RUB")
    return {"products": lines, "total": total, "currency": currency}
