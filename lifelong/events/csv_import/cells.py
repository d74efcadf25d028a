"""Cells made into values that fit their columns, or a RowError saying why not."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _

from lifelong.events.csv_import.tally import RowError
from lifelong.events.field_limits import AmountLimit, CountLimit, FieldLimitError, TextLimit
from lifelong.lib.csv_files import parse_money


def money(raw: str, label: str, limit: AmountLimit) -> Decimal:
    """A non-negative amount that fits its column, or RowError."""
    try:
        value = parse_money(raw)
    except ValueError:
        raise RowError(label, _("not a number: %(value)r") % {"value": raw}) from None
    if value < 0:
        raise RowError(label, _("the amount cannot be negative: %(value)r") % {"value": raw})
    return checked(limit, value, label)


def checked(limit: TextLimit | AmountLimit | CountLimit, value: Any, label: str) -> Any:
    """The value if it is within the limit of its column, else RowError with the reason."""
    try:
        return limit.check(value)
    except FieldLimitError as exc:
        raise RowError(label, str(exc)) from None
