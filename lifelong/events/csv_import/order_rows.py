"""The rows of one order from a CSV: its values and lines, every cell checked."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from functools import partial
from operator import itemgetter
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils.translation import gettext as _

from lifelong.commerce.models import Order, OrderLine
from lifelong.customers.models import Customer
from lifelong.events.csv_import.cells import checked, money
from lifelong.events.csv_import.layout import STATUSES, Layout, currency_code, word
from lifelong.events.csv_import.tally import GroupError, RowError, Rows
from lifelong.events.field_limits import (
    CountLimit,
    FieldLimitError,
    amount_limit,
    count_limit,
    discount_check,
    moment_check,
    order_currency_check,
    text_limit,
)
from lifelong.lib.csv_files import parse_datetime, parse_int

ZERO = Decimal("0")
# Parsed values of repeated cells (prices, quantities, dates, statuses) are remembered;
# the memory is emptied when it holds this many values of one column.
CACHE_SIZE = 100_000

# Fields given once per order: every row of the order may repeat them, but not contradict.
ORDER_FIELDS = (
    "customer_id",
    "placed_at",
    "total",
    "currency",
    "status",
    "discount",
    "coupon",
    "channel",
    "paid_at",
    "delivered_at",
)

Line = tuple[str, int, Decimal, str]  # (sku, quantity, price, name)


class OrderParser:
    """Turns the rows of one order into its values and lines, or says which rows are bad."""

    def __init__(self, layout: Layout, tz: ZoneInfo, now: dt.datetime) -> None:
        self.layout = layout
        self.tz = tz
        self.now = now
        index = layout.index
        self.fields = [(name, index[name]) for name in ORDER_FIELDS if name in index]
        # customer_id and placed_at are required columns, so this always returns a tuple.
        self.order_cells: Callable[[list[str]], tuple[str, ...]] = itemgetter(
            *(position for _name, position in self.fields)
        )
        self.sku = index.get("sku")
        self.name = index.get("name")
        self.quantity = index.get("quantity")
        self.price = index.get("price")
        self.sku_limit = text_limit(OrderLine, "sku")
        self.name_limit = text_limit(OrderLine, "name")
        # Plain ints for the test every line makes.
        self.sku_max, self.name_max = self.sku_limit.length, self.name_limit.length
        self.total_limit = amount_limit(Order, "total")
        self.parsers: dict[str, Callable[[str, str], Any]] = {
            "customer_id": partial(checked, text_limit(Customer, "external_id")),
            "placed_at": self._datetime,
            "paid_at": self._datetime,
            "delivered_at": self._datetime,
            "total": partial(money, limit=self.total_limit),
            "discount": partial(money, limit=amount_limit(Order, "discount")),
            "price": partial(money, limit=amount_limit(OrderLine, "price")),
            "status": _status,
            "currency": _currency,
            "coupon": partial(checked, text_limit(Order, "coupon")),
            "channel": partial(checked, text_limit(Order, "channel")),
            "quantity": partial(_quantity, limit=count_limit(OrderLine, "quantity")),
        }
        self.memory: dict[str, dict[str, Any]] = {name: {} for name in self.parsers}

    def _datetime(self, raw: str, label: str) -> dt.datetime:
        try:
            value = parse_datetime(raw, self.tz)
        except ValueError:
            raise RowError(label, _("not a date: %(value)r") % {"value": raw}) from None
        try:
            return moment_check(value, now=self.now)
        except FieldLimitError as exc:
            raise RowError(label, str(exc)) from None

    def value(self, name: str, raw: str) -> Any:
        parse = self.parsers.get(name)
        if parse is None:
            return raw
        memory = self.memory[name]
        value = memory.get(raw)
        if value is None:
            value = parse(raw, self.layout.label(name))
            if len(memory) >= CACHE_SIZE:
                memory.clear()
            memory[raw] = value
        return value

    def line(self, cells: list[str]) -> Line | None:
        sku = "" if self.sku is None else cells[self.sku]
        name = "" if self.name is None else cells[self.name]
        if not sku and not name:
            return None
        if len(sku) > self.sku_max:
            checked(self.sku_limit, sku, self.layout.label("sku"))
        if len(name) > self.name_max:
            checked(self.name_limit, name, self.layout.label("name"))
        raw_price = "" if self.price is None else cells[self.price]
        if not raw_price:
            raise RowError(self.layout.label("price"), _("a line needs a price"))
        price = self.value("price", raw_price)
        raw_quantity = "" if self.quantity is None else cells[self.quantity]
        quantity = self.value("quantity", raw_quantity) if raw_quantity else 1
        return sku, quantity, price, name

    def draft(self, rows: Rows) -> tuple[dict[str, Any], list[Line] | None]:
        """The order's values and lines (None: the file gives no lines). Raises GroupError."""
        label = self.layout.label
        values: dict[str, Any] = {}
        first_row: dict[str, int] = {}
        lines: list[Line] = []
        failures: dict[int, RowError] = {}
        merged: tuple[str, ...] | None = None
        for number, cells in rows:
            try:
                raw = self.order_cells(cells)
                # Rows of one order usually repeat its cells verbatim: parse them once.
                if raw != merged:
                    for (name, _position), cell in zip(self.fields, raw, strict=True):
                        if not cell:
                            continue
                        value = self.value(name, cell)
                        if name not in values:
                            values[name] = value
                            first_row[name] = number
                        elif values[name] != value:
                            raise RowError(
                                label(name),
                                _("contradicts row %(row)s of the same order")
                                % {"row": first_row[name]},
                            )
                    merged = raw
                line = self.line(cells)
            except RowError as exc:
                failures[number] = exc
                continue
            if line is not None:
                lines.append(line)
        first = rows[0][0]
        if not failures:
            for name in ("customer_id", "placed_at"):
                if name not in values:
                    failures[first] = RowError(label(name), _("a required value is missing"))
        if not failures and "total" not in values:
            if not lines:
                failures[first] = RowError(label("total"), _("a required value is missing"))
            values["total"] = sum((line[2] * line[1] for line in lines), ZERO)
            if values["total"] >= self.total_limit.ceiling:
                failures[first] = RowError(
                    label("price"),
                    _("the lines add up to more than the largest amount, %(largest)s")
                    % {"largest": self.total_limit.largest},
                )
        if not failures and lines and "discount" in values:
            try:
                discount_check(
                    values["discount"], subtotal=sum((ln[2] * ln[1] for ln in lines), ZERO)
                )
            except FieldLimitError as exc:
                failures[first] = RowError(label("discount"), str(exc))
        if failures:
            raise GroupError(failures)
        return values, lines or None


def _status(raw: str, label: str) -> str:
    status = STATUSES.get(word(raw))
    if status is None:
        raise RowError(label, _("unknown order status: %(value)r") % {"value": raw})
    return status.value


def _currency(raw: str, label: str) -> str:
    currency = currency_code(raw)
    if currency is None:
        raise RowError(label, _("not a currency code: %(value)r") % {"value": raw})
    try:
        return order_currency_check(currency, shop=settings.DEFAULT_CURRENCY)
    except FieldLimitError as exc:
        raise RowError(label, str(exc)) from None


def _quantity(raw: str, label: str, limit: CountLimit) -> int:
    try:
        quantity = parse_int(raw)
    except ValueError:
        raise RowError(label, _("not a whole number: %(value)r") % {"value": raw}) from None
    if quantity <= 0:
        raise RowError(label, _("the quantity must be positive: %(value)r") % {"value": raw})
    return checked(limit, quantity, label)
