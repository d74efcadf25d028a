"""Context objects that print as words: `{{ customer }}` is «Алексей Сергеевич», not a dict.

A template author who prints an object whole wants what a person would write there;
a Python dict in a customer's message is a bug they cannot see until it is sent. Each
object stays a plain mapping (the sandbox allows nothing else), so `customer.first_name`
and `last_order.products` work as before. `loyalty` does the same in loyalty.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.conf import settings

from lifelong.lib.zones import zone_of
from lifelong.messaging.templating.filters import MONTHS_EN, MONTHS_GENITIVE, filter_money


class Words(dict[str, Any]):
    """A plain mapping that prints as `words`."""

    def __init__(self, data: Mapping[str, Any], *, words: str) -> None:
        super().__init__(data)
        self._words = words

    def __str__(self) -> str:
        return self._words


def _date(value: Any, *, english: bool, time_zone: str) -> str:
    if isinstance(value, dt.datetime):
        value = value.astimezone(zone_of(time_zone)).date() if value.tzinfo else value.date()
    if not isinstance(value, dt.date):
        return ""
    month = (MONTHS_EN if english else MONTHS_GENITIVE)[value.month - 1]
    return f"{value.day} {month} {value.year}"


def order_words(order: Mapping[str, Any], *, english: bool, time_zone: str) -> str:
    """«заказ O0000001 от 2 марта 2026 на 1 990 ₽» (“order O0000001 of 2 March 2026, …”)."""
    number = str(order.get("external_id") or "")
    placed = _date(order.get("placed_at"), english=english, time_zone=time_zone)
    total = order.get("total")
    money = filter_money(total, order.get("currency") or "RUB") if total is not None else ""
    if english:
        words = " ".join(filter(None, ["order", number, f"of {placed}" if placed else ""]))
        return f"{words}, {money}" if money else words
    words = " ".join(filter(None, ["заказ", number, f"от {placed}" if placed else ""]))
    return f"{words} на {money}" if money else words


def context_as_words(context: dict[str, Any]) -> dict[str, Any]:
    """Make the objects of a message context print as words (in place; returns it). Objects
    that already do are left as they are, so a context can be passed again after more
    objects were added."""
    customer = context.get("customer")
    english, time_zone = False, settings.TIME_ZONE
    if isinstance(customer, Mapping):
        english = customer.get("language") == "en"
        time_zone = str(customer.get("time_zone") or settings.TIME_ZONE)
        name = (
            customer.get("display_name")
            or customer.get("full_name")
            or customer.get("first_name")
            or ""
        )
        if not isinstance(customer, Words):
            context["customer"] = Words(customer, words=str(name))
    order = context.get("last_order")
    if isinstance(order, Mapping) and not isinstance(order, Words):
        products = [
            Words(p, words=str(p.get("name") or "")) if isinstance(p, Mapping) else p
            for p in order.get("products") or []
        ]
        context["last_order"] = Words(
            {**order, "products": products},
            words=order_words(order, english=english, time_zone=time_zone),
        )
    for name, key in (("manager", "name"), ("brand", "sender_name"), ("links", "preferences")):
        value = context.get(name)
        if isinstance(value, Mapping) and not isinstance(value, Words):
            context[name] = Words(value, words=str(value.get(key) or ""))
    return context
