"""The event properties the product itself reads, checked when an event comes in.

Any event may carry any properties, but a few names mean something to journeys, templates
and the demo (`skus` are matched against triggers, `total` is shown as money, `segment_id`
picks a segment). A value of the wrong shape under one of those names is refused at the
door, with the name, instead of failing later in a sweep. Other names pass as they are.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from lifelong.lib.errors import DomainError

# What one event may carry: a customer card shows its events, a journey copies them.
MAX_BYTES = 64 * 1024
MAX_SKUS = 1000
MAX_TEXT = 2000

_TEXT_NAMES = ("sku", "product", "url", "order_id", "external_id", "currency")


class PropertyError(DomainError):
    """A reserved property with a value of the wrong shape, or properties too large."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name}: {problem}", field="properties")


def properties_check(properties: dict[str, Any]) -> None:
    """Raise PropertyError for the first reserved property of the wrong shape."""
    size = len(json.dumps(properties, ensure_ascii=False).encode())
    if size > MAX_BYTES:
        raise PropertyError("properties", f"{size} bytes; at most {MAX_BYTES} are kept")
    skus = properties.get("skus")
    if skus is not None:
        if not isinstance(skus, list) or not all(isinstance(s, str) for s in skus):
            raise PropertyError("skus", 'must be a list of SKU strings, e.g. ["MAT-1"]')
        if len(skus) > MAX_SKUS or any(len(s) > 64 for s in skus):
            raise PropertyError("skus", f"at most {MAX_SKUS} SKUs of up to 64 characters")
    for name in _TEXT_NAMES:
        value = properties.get(name)
        if value is not None and not (isinstance(value, str) and len(value) <= MAX_TEXT):
            raise PropertyError(name, f"must be a string of up to {MAX_TEXT} characters")
    if "total" in properties and not _is_amount(properties["total"]):
        raise PropertyError("total", 'must be an amount, e.g. 1500 or "1500.00"')
    segment_id = properties.get("segment_id")
    if segment_id is not None and (isinstance(segment_id, bool) or not isinstance(segment_id, int)):
        raise PropertyError("segment_id", "must be a whole number")


def _is_amount(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return False
    try:
        return Decimal(str(value)).is_finite()
    except InvalidOperation:
        return False
