"""Template helpers of the staff UI."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django import template
from django.conf import settings
from django.utils.formats import number_format

from lifelong.accounts.models import User

register = template.Library()

CURRENCY_SIGNS = {"RUB": "₽", "USD": "$", "EUR": "€", "KZT": "₸", "BYN": "Br"}


@register.filter
def money(value: Decimal | str | None, currency: str = "") -> str:
    """12345.5 -> "12 345,50 ₽" (grouped and localised; the sign after the number)."""
    if value in (None, ""):
        return ""
    amount = Decimal(str(value))
    places = 0 if amount == amount.to_integral_value() else 2
    text = number_format(amount, places, use_l10n=True, force_grouping=True)
    code = currency or settings.DEFAULT_CURRENCY
    return f"{text}\u00a0{CURRENCY_SIGNS.get(code, code)}"


@register.filter
def roubles(value: Decimal | float | str | None, currency: str = "") -> str:
    """A forecast in whole roubles: "12 346 ₽", not "12 345,67 ₽" (kopecks claim a precision
    a prediction does not have)."""
    if value in (None, ""):
        return ""
    whole = Decimal(str(value)).quantize(Decimal("1"), rounding=ROUND_HALF_UP)
    return money(whole, currency)


@register.filter
def can(user: Any, permission: str) -> bool:
    return isinstance(user, User) and user.can(permission)
