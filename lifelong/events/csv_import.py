"""CSV import of customers, orders and products.

A file is stored under VAR_DIR/imports, an ImportJob row tracks it, and a background
thread (or the `imports.run_pending` sweep, for a job nobody started) processes it in
batches of a few thousand rows. Each batch is one transaction of set-based work: one
query per table to fetch what exists, bulk inserts and updates, bulk Event rows and one
customer summary refresh. The rows and events written are exactly what the per-row
services (customers.services.customer_upsert, commerce.services.order_upsert and
product_upsert) would write, with the same idempotency keys, so the API and a CSV
never record the same fact twice.

Rules for cells: an empty cell never erases stored data (it means "not given"); rows
sharing a key (customer ID, order number, SKU) form one group wherever they are in
the file, and a group with one bad row is rejected whole.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import JSONField, Model
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from psycopg import sql as pg_sql

from lifelong import clock
from lifelong.accounts.models import User
from lifelong.accounts.services import audit_record
from lifelong.commerce.models import Order, OrderLine, OrderStatus, Product
from lifelong.commerce.services import customer_summaries_refresh
from lifelong.customers.models import Customer, Gender, Tag
from lifelong.customers.services import CustomerDataError, clean_profile
from lifelong.events.models import Event, ImportJob, ImportKind, ImportStatus
from lifelong.lib.csv_files import (
    CsvReadError,
    csv_open,
    csv_write_safe,
    normalize_header,
    parse_date,
    parse_datetime,
    parse_int,
    parse_money,
)

log = logging.getLogger(__name__)

SOURCE = "csv"
BATCH_ROWS = 5000
# The report keeps every rejected row up to this many; a file that bad needs fixing first.
MAX_STORED_ERRORS = 100_000
# The thread started by import_job_start normally takes a job at once; the sweep leaves
# it that long before picking the job up itself.
START_GRACE = dt.timedelta(seconds=30)
ZERO = Decimal("0")


class ImportFileError(ValueError):
    """The uploaded file cannot be imported at all; the message is for the person who sent it."""


ImportError_ = ImportFileError


# Columns -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    field: str
    label: str | Promise
    aliases: tuple[str, ...]
    required: bool = False


_CUSTOMER_ID_ALIASES = ("id", "external_id", "внешний id", "код клиента", "id клиента")

COLUMNS: dict[str, tuple[Column, ...]] = {
    ImportKind.CUSTOMERS: (
        Column("external_id", "ID", (*_CUSTOMER_ID_ALIASES, "customer_id"), required=True),
        Column("first_name", gettext_lazy("First name"), ("имя", "first_name", "first name")),
        Column("last_name", gettext_lazy("Last name"), ("фамилия", "last_name", "last name")),
        Column("patronymic", gettext_lazy("Patronymic"), ("отчество", "patronymic", "middle_name")),
        Column("full_name", gettext_lazy("Full name"), ("фио", "full_name", "full name")),
        Column("email", "Email", ("email", "e-mail", "почта", "электронная почта")),
        Column("phone", gettext_lazy("Phone"), ("телефон", "phone", "мобильный телефон")),
        Column("gender", gettext_lazy("Gender"), ("пол", "gender", "sex")),
        Column("birthday", gettext_lazy("Birthday"), ("дата рождения", "birthday", "birth_date")),
        Column("tags", gettext_lazy("Tags"), ("теги", "метки", "tags")),
        Column("source", gettext_lazy("Source"), ("источник", "source")),
    ),
    ImportKind.ORDERS: (
        Column(
            "order_id",
            gettext_lazy("Order number"),
            ("номер заказа", "order_id", "order id", "order number", "заказ", "id заказа"),
            required=True,
        ),
        Column(
            "customer_id",
            gettext_lazy("Customer"),
            ("клиент", "customer_id", "customer", "id клиента", "код клиента"),
            required=True,
        ),
        Column(
            "placed_at",
            gettext_lazy("Date"),
            ("дата", "placed_at", "дата заказа", "date", "order date"),
            required=True,
        ),
        Column("total", gettext_lazy("Total"), ("сумма", "total", "сумма заказа", "итого")),
        Column("currency", gettext_lazy("Currency"), ("валюта", "currency")),
        Column("status", gettext_lazy("Status"), ("статус", "status", "статус заказа")),
        Column("discount", gettext_lazy("Discount"), ("скидка", "discount")),
        Column("coupon", gettext_lazy("Promo code"), ("промокод", "coupon", "promo code", "купон")),
        Column("channel", gettext_lazy("Channel"), ("канал", "channel", "канал продаж")),
        Column("paid_at", gettext_lazy("Paid at"), ("дата оплаты", "paid_at")),
        Column("delivered_at", gettext_lazy("Delivered at"), ("дата доставки", "delivered_at")),
        Column("sku", gettext_lazy("SKU"), ("артикул", "sku")),
        Column(
            "name", gettext_lazy("Product"), ("товар", "наименование", "product", "product_name")
        ),
        Column("quantity", gettext_lazy("Quantity"), ("количество", "quantity", "qty", "кол-во")),
        Column("price", gettext_lazy("Price"), ("цена", "price")),
    ),
    ImportKind.PRODUCTS: (
        Column("sku", gettext_lazy("SKU"), ("артикул", "sku"), required=True),
        Column(
            "name",
            gettext_lazy("Name"),
            ("название", "наименование", "name", "товар", "product_name"),
            required=True,
        ),
        Column("category", gettext_lazy("Category"), ("категория", "category")),
        Column("price", gettext_lazy("Price"), ("цена", "price")),
        Column("currency", gettext_lazy("Currency"), ("валюта", "currency")),
        Column(
            "replenishment_days",
            gettext_lazy("Replenishment cycle, days"),
            (
                "цикл пополнения, дней",
                "цикл пополнения",
                "replenishment_days",
                "replenishment cycle",
            ),
        ),
        Column("active", gettext_lazy("Active"), ("активен", "active", "в продаже")),
    ),
}

_KEY_FIELD: dict[str, str] = {
    ImportKind.CUSTOMERS: "external_id",
    ImportKind.ORDERS: "order_id",
    ImportKind.PRODUCTS: "sku",
}

_GENDERS = {
    **dict.fromkeys(("м", "муж", "мужской", "m", "male", "man"), Gender.MALE),
    **dict.fromkeys(("ж", "жен", "женский", "f", "female", "woman"), Gender.FEMALE),
}
_STATUSES = {
    **dict.fromkeys(("placed", "new", "новый", "оформлен", "создан", "принят"), OrderStatus.PLACED),
    **dict.fromkeys(("paid", "оплачен", "оплачено"), OrderStatus.PAID),
    **dict.fromkeys(
        ("delivered", "completed", "доставлен", "выполнен", "получен", "завершен"),
        OrderStatus.DELIVERED,
    ),
    **dict.fromkeys(
        ("cancelled", "canceled", "отменен", "отмена", "отменен клиентом"), OrderStatus.CANCELLED
    ),
    **dict.fromkeys(("refunded", "возврат", "возвращен"), OrderStatus.REFUNDED),
}
_CURRENCIES = {"руб": "RUB", "руб.": "RUB", "р": "RUB", "р.": "RUB", "₽": "RUB", "rur": "RUB"}
_BOOLEANS = {
    **dict.fromkeys(("1", "да", "yes", "true", "y", "д", "+"), True),
    **dict.fromkeys(("0", "нет", "no", "false", "n", "н", "-"), False),
}
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TAG_SPLIT_RE = re.compile(r"[,;|]")
_STATUS_EVENTS = {
    OrderStatus.PAID: "order_paid",
    OrderStatus.DELIVERED: "order_delivered",
    OrderStatus.CANCELLED: "order_cancelled",
    OrderStatus.REFUNDED: "order_refunded",
}


def _word(value: str) -> str:
    return value.strip().casefold().replace("ё", "е")


@dataclass
class Layout:
    """Which cell of a row holds which field, for one file."""

    kind: str
    header: list[str]
    index: dict[str, int]
    extra: list[tuple[int, str]]  # unrecognised columns: attributes for customers

    @classmethod
    def from_header(cls, kind: str, header: list[str]) -> Layout:
        aliases = {normalize_header(a): c.field for c in COLUMNS[kind] for a in c.aliases}
        index: dict[str, int] = {}
        extra: list[tuple[int, str]] = []
        for position, name in enumerate(header):
            found = aliases.get(normalize_header(name))
            if found is not None and found not in index:
                index[found] = position
            elif name:
                extra.append((position, name))
        missing = [c for c in COLUMNS[kind] if c.required and c.field not in index]
        if kind == ImportKind.ORDERS and "total" not in index and "price" not in index:
            missing.extend(c for c in COLUMNS[kind] if c.field == "total")
        if missing:
            raise ImportFileError(
                _("Required columns are missing: %(missing)s. Columns found: %(found)s.")
                % {
                    "missing": ", ".join(
                        f"«{c.label}» ({' / '.join(c.aliases[:2])})" for c in missing
                    ),
                    "found": ", ".join(f"«{h}»" for h in header if h) or "—",
                }
            )
        return cls(kind=kind, header=header, index=index, extra=extra)

    @property
    def key_index(self) -> int:
        return self.index[_KEY_FIELD[self.kind]]

    def label(self, field_name: str) -> str:
        position = self.index.get(field_name)
        return self.header[position] if position is not None else field_name

    def cell(self, cells: list[str], field_name: str) -> str:
        position = self.index.get(field_name)
        return cells[position] if position is not None else ""


# Results of one batch ----------------------------------------------------------------


class RowError(Exception):
    def __init__(self, column: str, reason: str) -> None:
        super().__init__(reason)
        self.column = column
        self.reason = reason


Rows = list[tuple[int, list[str]]]
Group = tuple[str, Rows]


@dataclass
class Tally:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def reject(
        self, layout: Layout, number: int, cells: list[str], column: str, reason: str
    ) -> None:
        self.rejected += 1
        self.errors.append(
            {
                "row": number,
                "column": column,
                "reason": reason,
                "values": dict(zip(layout.header, cells, strict=False)),
            }
        )

    def reject_group(self, layout: Layout, rows: Rows, failures: dict[int, RowError]) -> None:
        """Reject every row of a group: bad ones with their reason, the rest pointing at them."""
        first_bad = min(failures)
        for number, cells in rows:
            failure = failures.get(number)
            if failure is not None:
                self.reject(layout, number, cells, failure.column, failure.reason)
            else:
                reason = _("rejected together with row %(row)s of the same group") % {
                    "row": first_bad
                }
                self.reject(layout, number, cells, "", reason)

    def add(self, other: Tally) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.rejected += other.rejected
        self.errors.extend(other.errors)


@dataclass
class Context:
    layout: Layout
    dry_run: bool
    tz: ZoneInfo
    now: dt.datetime


# Customers ---------------------------------------------------------------------------


@dataclass
class CustomerRow:
    profile: dict[str, Any]
    attributes: dict[str, str]
    tags: list[str]


def _customer_row(cells: list[str], ctx: Context) -> CustomerRow:
    layout = ctx.layout
    data: dict[str, Any] = {}
    for name in ("first_name", "last_name", "patronymic", "email", "phone", "source"):
        value = layout.cell(cells, name)
        if value:
            data[name] = value
    full_name = layout.cell(cells, "full_name").split()
    for name, part in zip(("last_name", "first_name", "patronymic"), full_name, strict=False):
        data.setdefault(name, part)
    gender = layout.cell(cells, "gender")
    if gender:
        if _word(gender) not in _GENDERS:
            raise RowError(
                layout.label("gender"),
                _("unknown gender %(value)r: use м/ж or m/f") % {"value": gender},
            )
        data["gender"] = _GENDERS[_word(gender)]
    birthday = layout.cell(cells, "birthday")
    if birthday:
        try:
            data["birthday"] = parse_date(birthday)
        except ValueError:
            raise RowError(
                layout.label("birthday"), _("not a date: %(value)r") % {"value": birthday}
            ) from None
        if not dt.date(1900, 1, 1) <= data["birthday"] <= ctx.now.date():
            raise RowError(
                layout.label("birthday"), _("impossible birthday: %(value)r") % {"value": birthday}
            )
    if "email" in data and not _EMAIL_RE.match(data["email"]):
        raise RowError(
            layout.label("email"), _("not an email address: %(value)r") % {"value": data["email"]}
        )
    try:
        profile = clean_profile(data)
    except CustomerDataError as exc:
        reasons = {"phone": _("not a valid phone number: %(value)r")}
        reason = reasons.get(exc.field, str(exc))
        raise RowError(layout.label(exc.field), reason % {"value": data.get(exc.field)}) from None
    attributes = {name: cells[position] for position, name in layout.extra if cells[position]}
    tags = [t.strip() for t in _TAG_SPLIT_RE.split(layout.cell(cells, "tags")) if t.strip()]
    return CustomerRow(profile=profile, attributes=attributes, tags=tags)


def _jsonable(changes: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in changes.items()}


def _customers_batch(groups: list[Group], ctx: Context) -> Tally:
    """customer_upsert semantics for a batch: only given fields change, tags are added."""
    tally = Tally()
    layout = ctx.layout
    parsed: list[tuple[str, list[tuple[int, CustomerRow]]]] = []
    for key, rows in groups:
        if not key:
            for number, cells in rows:
                tally.reject(
                    layout, number, cells, layout.label("external_id"), _("the ID is empty")
                )
            continue
        good: list[tuple[int, CustomerRow]] = []
        failures: dict[int, RowError] = {}
        for number, cells in rows:
            try:
                good.append((number, _customer_row(cells, ctx)))
            except RowError as exc:
                failures[number] = exc
        if failures:
            tally.reject_group(layout, rows, failures)
        else:
            parsed.append((key, good))

    found = Customer.objects.in_bulk([key for key, _rows in parsed], field_name="external_id")
    # One instance per row, so that two keys resolving to one survivor share its changes.
    instances = {c.pk: c for c in found.values()}
    survivor_ids = {c.merged_into_id for c in found.values() if c.merged_into_id} - set(instances)
    if survivor_ids:
        instances.update(Customer.objects.in_bulk(survivor_ids))
    by_key = {key: instances[c.merged_into_id or c.pk] for key, c in found.items()}
    through = Customer.tags.through
    tags_of: dict[int, set[str]] = {}
    for customer_id, name in through.objects.filter(
        customer_id__in=[c.pk for c in by_key.values()]
    ).values_list("customer_id", "tag__name"):
        tags_of.setdefault(customer_id, set()).add(name)

    new: list[Customer] = []
    dirty: dict[int, Customer] = {}
    dirty_fields: set[str] = set()
    links: list[tuple[Customer, list[str]]] = []
    events: list[tuple[Customer, str, dict[str, Any]]] = []
    new_tags: dict[int, set[str]] = {}
    for key, good in parsed:
        for _number, row in good:
            customer = by_key.get(key)
            created = customer is None
            profile = dict(row.profile)
            if customer is None:
                customer = Customer(external_id=key, source=profile.pop("source", SOURCE))
                by_key[key] = customer
                new.append(customer)
            current_tags = (
                new_tags.setdefault(id(customer), set())
                if customer.pk is None
                else tags_of.setdefault(customer.pk, set())
            )
            changes: dict[str, Any] = {}
            for name, value in profile.items():
                if getattr(customer, name) != value:
                    changes[name] = value
                    setattr(customer, name, value)
            if row.attributes:
                merged = {**customer.attributes, **row.attributes}
                if merged != customer.attributes:
                    changes["attributes"] = dict(row.attributes)
                    customer.attributes = merged
            if changes and customer.pk is not None:
                customer.updated_at = ctx.now
                dirty[customer.pk] = customer
                dirty_fields.update(changes)
            added = sorted(set(row.tags) - current_tags)
            if added:
                current_tags.update(added)
                changes["tags"] = added
                links.append((customer, added))
            if created:
                tally.created += 1
            elif changes:
                tally.updated += 1
            else:
                tally.unchanged += 1
            if created or changes:
                event_type = "customer_created" if created else "customer_updated"
                events.append((customer, event_type, {"changes": _jsonable(changes)}))

    if ctx.dry_run:
        return tally
    _bulk_insert(new)
    if dirty:
        Customer.objects.bulk_update(list(dirty.values()), [*sorted(dirty_fields), "updated_at"])
    if links:
        names = {n for _customer, added in links for n in added}
        Tag.objects.bulk_create([Tag(name=n) for n in sorted(names)], ignore_conflicts=True)
        tag_ids = dict(Tag.objects.filter(name__in=names).values_list("name", "pk"))
        through.objects.bulk_create(
            [through(customer_id=c.pk, tag_id=tag_ids[n]) for c, added in links for n in added],
            ignore_conflicts=True,
        )
    _events_insert(
        [
            Event(
                customer_id=c.pk,
                type=event_type,
                properties=properties,
                occurred_at=ctx.now,
                received_at=ctx.now,
                source=SOURCE,
            )
            for c, event_type, properties in events
        ]
    )
    return tally


# Orders ------------------------------------------------------------------------------

# Fields given once per order: every row of the order may repeat them, but not contradict.
_ORDER_FIELDS = (
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


@dataclass
class OrderDraft:
    values: dict[str, Any]  # order-level values given in the file, already parsed
    lines: list[tuple[str, int, Decimal, str]] | None  # (sku, quantity, price, name)


def _money(raw: str, label: str) -> Decimal:
    try:
        value = parse_money(raw)
    except ValueError:
        raise RowError(label, _("not a number: %(value)r") % {"value": raw}) from None
    if value < 0:
        raise RowError(label, _("the amount cannot be negative: %(value)r") % {"value": raw})
    return value


def _order_row(
    cells: list[str], ctx: Context
) -> tuple[dict[str, Any], tuple[str, int, Decimal, str] | None]:
    layout = ctx.layout
    index = layout.index
    values: dict[str, Any] = {}
    for name in _ORDER_FIELDS:
        position = index.get(name)
        if position is None or not cells[position]:
            continue
        raw, label = cells[position], layout.header[position]
        if name in ("placed_at", "paid_at", "delivered_at"):
            try:
                values[name] = parse_datetime(raw, ctx.tz)
            except ValueError:
                raise RowError(label, _("not a date: %(value)r") % {"value": raw}) from None
        elif name in ("total", "discount"):
            values[name] = _money(raw, label)
        elif name == "status":
            status = _STATUSES.get(_word(raw))
            if status is None:
                raise RowError(label, _("unknown order status: %(value)r") % {"value": raw})
            values[name] = status
        elif name == "currency":
            currency = _CURRENCIES.get(_word(raw), raw.upper())
            if len(currency) != 3 or not currency.isalpha():
                raise RowError(label, _("not a currency code: %(value)r") % {"value": raw})
            values[name] = currency
        else:
            values[name] = raw
    sku = layout.cell(cells, "sku")
    name = layout.cell(cells, "name")
    if not sku and not name:
        return values, None
    raw_price = layout.cell(cells, "price")
    if not raw_price:
        raise RowError(layout.label("price"), _("a line needs a price"))
    price = _money(raw_price, layout.label("price"))
    raw_quantity = layout.cell(cells, "quantity")
    quantity = 1
    if raw_quantity:
        try:
            quantity = parse_int(raw_quantity)
        except ValueError:
            raise RowError(
                layout.label("quantity"),
                _("not a whole number: %(value)r") % {"value": raw_quantity},
            ) from None
        if quantity <= 0:
            raise RowError(
                layout.label("quantity"),
                _("the quantity must be positive: %(value)r") % {"value": raw_quantity},
            )
    return values, (sku, quantity, price, name)


def _order_draft(rows: Rows, ctx: Context) -> OrderDraft:
    """Merge the rows of one order; raises {row number: RowError} via _GroupError."""
    layout = ctx.layout
    values: dict[str, Any] = {}
    first_row: dict[str, int] = {}
    lines: list[tuple[str, int, Decimal, str]] = []
    failures: dict[int, RowError] = {}
    for number, cells in rows:
        try:
            row_values, line = _order_row(cells, ctx)
            for name, value in row_values.items():
                if name not in values:
                    values[name] = value
                    first_row[name] = number
                elif values[name] != value:
                    raise RowError(
                        layout.label(name),
                        _("contradicts row %(row)s of the same order") % {"row": first_row[name]},
                    )
        except RowError as exc:
            failures[number] = exc
            continue
        if line is not None:
            lines.append(line)
    first = rows[0][0]
    if not failures:
        for name in ("customer_id", "placed_at"):
            if name not in values:
                failures[first] = RowError(layout.label(name), _("a required value is missing"))
    if not failures and "total" not in values:
        if not lines:
            failures[first] = RowError(layout.label("total"), _("a required value is missing"))
        values["total"] = sum((line[2] * line[1] for line in lines), ZERO)
    if failures:
        raise _GroupError(failures)
    return OrderDraft(values=values, lines=lines or None)


class _GroupError(Exception):
    def __init__(self, failures: dict[int, RowError]) -> None:
        super().__init__("group rejected")
        self.failures = failures


def _order_properties(order: Order, skus: list[str]) -> dict[str, object]:
    """The same properties commerce.services.order_upsert gives its order events."""
    return {
        "order_id": order.pk,
        "external_id": order.external_id,
        "total": str(order.total),
        "currency": order.currency,
        "status": order.status,
        "skus": skus,
    }


def _orders_batch(groups: list[Group], ctx: Context) -> Tally:
    """order_upsert semantics for a batch, with set-based reads and writes."""
    tally = Tally()
    layout = ctx.layout
    drafts: list[tuple[str, Rows, OrderDraft]] = []
    for key, rows in groups:
        if not key:
            for number, cells in rows:
                tally.reject(
                    layout, number, cells, layout.label("order_id"), _("the order number is empty")
                )
            continue
        try:
            drafts.append((key, rows, _order_draft(rows, ctx)))
        except _GroupError as exc:
            tally.reject_group(layout, rows, exc.failures)

    customer_keys = {draft.values["customer_id"] for _key, _rows, draft in drafts}
    customers = {
        ext: merged_into or pk
        for ext, pk, merged_into in Customer.objects.filter(
            external_id__in=customer_keys
        ).values_list("external_id", "pk", "merged_into_id")
    }
    existing = Order.objects.in_bulk(
        [key for key, _rows, _draft in drafts], field_name="external_id"
    )
    stored_lines: dict[int, list[tuple[str, int, Decimal, str]]] = {}
    for order_id, *line in (
        OrderLine.objects.filter(order_id__in=[o.pk for o in existing.values()])
        .order_by("order_id", "pk")
        .values_list("order_id", "sku", "quantity", "price", "name")
    ):
        stored_lines.setdefault(order_id, []).append(tuple(line))  # type: ignore[arg-type]

    new: list[Order] = []
    dirty: list[Order] = []
    dirty_fields: set[str] = set()
    replace_lines: list[tuple[Order, list[tuple[str, int, Decimal, str]]]] = []
    pending_events: list[tuple[Order, str, dt.datetime, str, list[str]]] = []
    touched: set[int] = set()
    for key, rows, draft in drafts:
        values = dict(draft.values)
        customer_key = values.pop("customer_id")
        customer_id = customers.get(customer_key)
        if customer_id is None:
            failure = RowError(
                layout.label("customer_id"),
                _("unknown customer %(value)r") % {"value": customer_key},
            )
            tally.reject_group(layout, rows, {rows[0][0]: failure})
            continue
        values["customer_id"] = customer_id
        order = existing.get(key)
        created = order is None
        previous_status = None if order is None else order.status
        previous_customer_id = None if order is None else order.customer_id
        if order is None:
            order = Order(
                external_id=key,
                currency=settings.DEFAULT_CURRENCY,
                created_at=ctx.now,
                updated_at=ctx.now,
                **values,
            )
            new.append(order)
            changed = True
        else:
            fields = [k for k, v in values.items() if getattr(order, k) != v]
            changed = bool(fields)
            if fields:
                for k in fields:
                    setattr(order, k, values[k])
                order.updated_at = ctx.now
                dirty.append(order)
                dirty_fields.update(fields)
        current = stored_lines.get(order.pk, []) if order.pk else []
        lines_changed = draft.lines is not None and draft.lines != current
        if lines_changed:
            replace_lines.append((order, draft.lines))  # type: ignore[arg-type]
        if not changed and not lines_changed:
            tally.unchanged += len(rows)
            continue
        if created:
            tally.created += len(rows)
        else:
            tally.updated += len(rows)
        touched.add(customer_id)
        if previous_customer_id:
            touched.add(previous_customer_id)
        skus = [line[0] for line in (draft.lines if lines_changed else current)]  # type: ignore[union-attr]
        if created:
            pending_events.append(
                (order, "order_placed", order.placed_at, f"order:{key}:placed", skus)
            )
        if order.status != previous_status and order.status != OrderStatus.PLACED:
            at = {OrderStatus.PAID: order.paid_at, OrderStatus.DELIVERED: order.delivered_at}.get(
                OrderStatus(order.status)
            )
            pending_events.append(
                (
                    order,
                    _STATUS_EVENTS[OrderStatus(order.status)],
                    at or ctx.now,
                    f"order:{key}:{order.status}",
                    skus,
                )
            )

    if ctx.dry_run:
        return tally
    stale_lines = [order.pk for order, _lines in replace_lines if order.pk is not None]
    _bulk_insert(new)
    if dirty:
        Order.objects.bulk_update(dirty, [*sorted(dirty_fields), "updated_at"])
    if replace_lines:
        OrderLine.objects.filter(order_id__in=stale_lines).delete()
        all_skus = {line[0] for _order, lines in replace_lines for line in lines}
        products = dict(Product.objects.filter(sku__in=all_skus).values_list("sku", "pk"))
        _bulk_insert(
            [
                OrderLine(
                    order_id=order.pk,
                    product_id=products.get(sku),
                    sku=sku,
                    name=name,
                    quantity=quantity,
                    price=price,
                )
                for order, lines in replace_lines
                for sku, quantity, price, name in lines
            ]
        )
    _events_insert(
        [
            Event(
                customer_id=order.customer_id,
                type=event_type,
                properties=_order_properties(order, skus),
                occurred_at=occurred_at,
                received_at=ctx.now,
                source=SOURCE,
                idempotency_key=idempotency_key,
            )
            for order, event_type, occurred_at, idempotency_key, skus in pending_events
        ]
    )
    customer_summaries_refresh(touched)
    return tally


# Products ----------------------------------------------------------------------------


def _product_values(cells: list[str], ctx: Context) -> dict[str, Any]:
    layout = ctx.layout
    values: dict[str, Any] = {}
    for name in ("name", "category"):
        value = layout.cell(cells, name)
        if value:
            values[name] = value
    if "name" not in values:
        raise RowError(layout.label("name"), _("a required value is missing"))
    raw = layout.cell(cells, "price")
    if raw:
        values["price"] = _money(raw, layout.label("price"))
    raw = layout.cell(cells, "currency")
    if raw:
        currency = _CURRENCIES.get(_word(raw), raw.upper())
        if len(currency) != 3 or not currency.isalpha():
            raise RowError(
                layout.label("currency"), _("not a currency code: %(value)r") % {"value": raw}
            )
        values["currency"] = currency
    raw = layout.cell(cells, "replenishment_days")
    if raw:
        try:
            days = parse_int(raw)
        except ValueError:
            days = 0
        if days <= 0:
            raise RowError(
                layout.label("replenishment_days"),
                _("not a positive whole number: %(value)r") % {"value": raw},
            )
        values["replenishment_days"] = days
    raw = layout.cell(cells, "active")
    if raw:
        if _word(raw) not in _BOOLEANS:
            raise RowError(
                layout.label("active"), _("expected yes or no: %(value)r") % {"value": raw}
            )
        values["active"] = _BOOLEANS[_word(raw)]
    return values


def _products_batch(groups: list[Group], ctx: Context) -> Tally:
    """product_upsert semantics for a batch (empty cells keep what is stored)."""
    tally = Tally()
    layout = ctx.layout
    parsed: list[tuple[str, list[dict[str, Any]]]] = []
    for key, rows in groups:
        if not key:
            for number, cells in rows:
                tally.reject(layout, number, cells, layout.label("sku"), _("the SKU is empty"))
            continue
        good: list[dict[str, Any]] = []
        failures: dict[int, RowError] = {}
        for number, cells in rows:
            try:
                good.append(_product_values(cells, ctx))
            except RowError as exc:
                failures[number] = exc
        if failures:
            tally.reject_group(layout, rows, failures)
        else:
            parsed.append((key, good))
    existing = Product.objects.in_bulk([key for key, _values in parsed], field_name="sku")
    new: list[Product] = []
    dirty: dict[int, Product] = {}
    dirty_fields: set[str] = set()
    for key, good in parsed:
        for values in good:
            product = existing.get(key)
            if product is None:
                product = Product(sku=key, currency=settings.DEFAULT_CURRENCY, **values)
                existing[key] = product
                new.append(product)
                tally.created += 1
                continue
            changed = [k for k, v in values.items() if getattr(product, k) != v]
            for k in changed:
                setattr(product, k, values[k])
            if changed and product.pk is not None:
                dirty[product.pk] = product
                dirty_fields.update(changed)
            if changed:
                tally.updated += 1
            else:
                tally.unchanged += 1
    if ctx.dry_run:
        return tally
    Product.objects.bulk_create(new)
    if dirty:
        Product.objects.bulk_update(list(dirty.values()), sorted(dirty_fields))
    return tally


_BATCH_HANDLERS: dict[str, Callable[[list[Group], Context], Tally]] = {
    ImportKind.CUSTOMERS: _customers_batch,
    ImportKind.ORDERS: _orders_batch,
    ImportKind.PRODUCTS: _products_batch,
}


# Writing -----------------------------------------------------------------------------


def _bulk_insert(objs: Sequence[Model]) -> None:
    """bulk_create, through COPY on PostgreSQL; sets the primary keys on the objects.

    Django's multi-row INSERT on PostgreSQL spends most of its time quoting parameters in
    Python; COPY with keys taken from the sequence beforehand is several times faster.
    """
    if not objs:
        return
    model = type(objs[0])
    if connection.vendor != "postgresql":
        model._default_manager.bulk_create(objs)
        return
    meta = model._meta
    fields = list(meta.concrete_fields)
    json_fields = {f.attname for f in fields if isinstance(f, JSONField)}
    attnames = [f.attname for f in fields]
    statement = pg_sql.SQL("COPY {} ({}) FROM STDIN").format(
        pg_sql.Identifier(meta.db_table),
        pg_sql.SQL(", ").join(pg_sql.Identifier(f.column) for f in fields),
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [meta.db_table, meta.pk.column, len(objs)],
        )
        for obj, (pk,) in zip(objs, cursor.fetchall(), strict=True):
            obj.pk = pk
            obj._state.adding = False
            obj._state.db = connection.alias
        with cursor.cursor.copy(statement) as copy:
            for obj in objs:
                copy.write_row(
                    [
                        json.dumps(getattr(obj, name))
                        if name in json_fields
                        else getattr(obj, name)
                        for name in attnames
                    ]
                )


def _events_insert(events: list[Event]) -> None:
    """Insert events, skipping idempotency keys already recorded (by the API or an earlier run).

    A key recorded concurrently makes the insert fail; _batch_run then runs the batch again.
    """
    keys = [e.idempotency_key for e in events if e.idempotency_key]
    seen = set(
        Event.objects.filter(idempotency_key__in=keys).values_list("idempotency_key", flat=True)
    )
    fresh = []
    for event in events:
        if event.idempotency_key:
            if event.idempotency_key in seen:
                continue
            seen.add(event.idempotency_key)
        fresh.append(event)
    _bulk_insert(fresh)


# Reading the file in groups ----------------------------------------------------------


def _grouped(
    rows: Iterable[tuple[int, list[str]]], key_index: int, last_row: Mapping[str, int], size: int
) -> Iterator[list[Group]]:
    """Batches of about `size` rows in which every key's rows are together.

    A group is complete at its key's last row in the file (found by the first pass), so
    an order whose lines are scattered through the file is still written once, whole.
    """
    pending: dict[str, Rows] = {}
    ready: list[Group] = []
    count = 0
    for number, cells in rows:
        key = cells[key_index]
        if not key:
            ready.append(("", [(number, cells)]))
            count += 1
        else:
            group = pending.setdefault(key, [])
            group.append((number, cells))
            if last_row[key] == number:
                ready.append((key, pending.pop(key)))
                count += len(group)
        if count >= size:
            yield ready
            ready, count = [], 0
    if ready:
        yield ready


def _read_layout(path: Path, kind: str) -> tuple[Layout, str]:
    try:
        with csv_open(path) as csv_file:
            return Layout.from_header(kind, csv_file.header), csv_file.encoding
    except (CsvReadError, UnicodeDecodeError, csv.Error) as exc:
        raise ImportFileError(
            _("The file cannot be read as CSV: %(error)s") % {"error": exc}
        ) from exc


# Jobs --------------------------------------------------------------------------------


def import_job_create(
    *, kind: str, file_name: str, content: bytes, dry_run: bool, created_by: User | None
) -> ImportJob:
    """Store an uploaded file and queue its import.

    Raises ImportFileError, with a message for the person who sent it, for a file we cannot take.
    """
    if kind not in ImportKind.values:
        raise ImportFileError(_("Unknown import kind: %(kind)s") % {"kind": kind})
    if not content.strip():
        raise ImportFileError(_("The file is empty."))
    if b"\x00" in content[:8192]:
        raise ImportFileError(
            _("This is not a CSV file (an Excel workbook?). Save it as CSV and upload again.")
        )
    directory = settings.VAR_DIR / "imports"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{uuid.uuid4().hex}.csv"
    path.write_bytes(content)
    try:
        _read_layout(path, kind)
    except ImportFileError:
        path.unlink(missing_ok=True)
        raise
    return ImportJob.objects.create(
        kind=kind,
        file_name=file_name[:255],
        file_path=str(path),
        dry_run=dry_run,
        created_by=created_by,
    )


def import_job_start(job: ImportJob) -> None:
    """Run the job in a background thread once the current transaction commits."""
    job_id = job.pk

    def start() -> None:
        threading.Thread(
            target=_run_in_thread, args=(job_id,), name=f"import-{job_id}", daemon=True
        ).start()

    transaction.on_commit(start)


def _run_in_thread(job_id: int) -> None:
    try:
        import_job_run(job_id)
    finally:
        connection.close()


def _claim(job_id: int) -> bool:
    """Move the job pending -> running; only one caller ever wins."""
    return bool(
        ImportJob.objects.filter(pk=job_id, status=ImportStatus.PENDING).update(
            status=ImportStatus.RUNNING
        )
    )


def import_job_run(
    job_id: int, *, progress: Callable[[ImportJob], None] | None = None
) -> ImportJob:
    """Claim a pending job and process it; a job someone else claimed is returned untouched.

    `progress` is called with the job after every batch (the CLI draws its bar with it).
    """
    if not _claim(job_id):
        return ImportJob.objects.get(pk=job_id)
    job = ImportJob.objects.get(pk=job_id)
    _job_process(job, progress)
    return job


def _job_process(job: ImportJob, progress: Callable[[ImportJob], None] | None) -> None:
    path = Path(job.file_path)
    try:
        tally = _job_batches(job, path, progress)
    except (ImportFileError, CsvReadError, UnicodeDecodeError, csv.Error, OSError) as exc:
        _job_finish(
            job, ImportStatus.FAILED, _("The file could not be read: %(error)s") % {"error": exc}
        )
        return
    except Exception:
        log.exception("import_failed", extra={"job_id": job.pk})
        _job_finish(
            job,
            ImportStatus.FAILED,
            _("The import stopped on an unexpected error; batches before it were saved."),
        )
        return
    if job.created_by is not None and not job.dry_run:
        audit_record(
            actor=job.created_by,
            action="import.run",
            obj=job,
            changes={
                "kind": job.kind,
                "file": job.file_name,
                "created": tally.created,
                "updated": tally.updated,
                "rejected": tally.rejected,
            },
        )
    _job_finish(job, ImportStatus.DONE, _job_message(job, tally))


def _job_batches(job: ImportJob, path: Path, progress: Callable[[ImportJob], None] | None) -> Tally:
    layout, encoding = _read_layout(path, job.kind)
    key_index = layout.key_index
    last_row: dict[str, int] = {}
    total = 0
    with csv_open(path, encoding=encoding) as csv_file:
        for number, cells in csv_file.rows:
            total += 1
            if cells[key_index]:
                last_row[cells[key_index]] = number
    job.total_rows = total
    ImportJob.objects.filter(pk=job.pk).update(total_rows=total)
    if progress is not None:
        progress(job)

    handler = _BATCH_HANDLERS[job.kind]
    tz = ZoneInfo(settings.TIME_ZONE)
    tally = Tally()
    with csv_open(path, encoding=encoding) as csv_file:
        for groups in _grouped(csv_file.rows, key_index, last_row, BATCH_ROWS):
            ctx = Context(layout=layout, dry_run=job.dry_run, tz=tz, now=clock.now())
            tally.add(_batch_run(handler, groups, ctx))
            job.processed_rows += sum(len(rows) for _key, rows in groups)
            job.created_rows, job.updated_rows = tally.created, tally.updated
            job.unchanged_rows, job.rejected_rows = tally.unchanged, tally.rejected
            ImportJob.objects.filter(pk=job.pk).update(
                processed_rows=job.processed_rows,
                created_rows=job.created_rows,
                updated_rows=job.updated_rows,
                unchanged_rows=job.unchanged_rows,
                rejected_rows=job.rejected_rows,
            )
            if progress is not None:
                progress(job)
    job.errors = sorted(tally.errors, key=lambda e: e["row"])[:MAX_STORED_ERRORS]
    return tally


def _batch_run(
    handler: Callable[[list[Group], Context], Tally], groups: list[Group], ctx: Context
) -> Tally:
    """One batch in one transaction, tried again if an API call created the same key meanwhile."""
    try:
        with transaction.atomic():
            return handler(groups, ctx)
    except IntegrityError:
        log.warning("import_batch_retry", extra={"rows": sum(len(rows) for _key, rows in groups)})
        with transaction.atomic():
            return handler(groups, ctx)


def _job_message(job: ImportJob, tally: Tally) -> str:
    parts = []
    if job.dry_run:
        parts.append(_("Dry run: nothing was written."))
    if tally.rejected > MAX_STORED_ERRORS:
        parts.append(
            _("Only the first %(n)s rejected rows are in the report.") % {"n": MAX_STORED_ERRORS}
        )
    return " ".join(parts)


def _job_finish(job: ImportJob, status: str, message: str) -> None:
    job.status = status
    job.message = message
    job.finished_at = clock.now()
    job.save(
        update_fields=[
            "status",
            "message",
            "finished_at",
            "errors",
            "total_rows",
            "processed_rows",
            "created_rows",
            "updated_rows",
            "unchanged_rows",
            "rejected_rows",
        ]
    )
    # The report lives in `errors`; the stored copy of the upload is no longer needed.
    Path(job.file_path).unlink(missing_ok=True)


def imports_run_pending() -> int:
    """Sweep: run jobs that stayed pending (their starting thread died or never ran)."""
    due = list(
        ImportJob.objects.filter(
            status=ImportStatus.PENDING, created_at__lte=clock.now() - START_GRACE
        )
        .order_by("created_at")
        .values_list("pk", flat=True)[:10]
    )
    ran = 0
    for job_id in due:
        if _claim(job_id):
            _job_process(ImportJob.objects.get(pk=job_id), None)
            ran += 1
    return ran


# Reports and the command line --------------------------------------------------------


def import_report_csv(job: ImportJob) -> str:
    """Rejected rows as CSV: row, column, reason, then the row as it was. Safe to open in Excel."""
    columns: dict[str, None] = {}
    for error in job.errors:
        columns.update(dict.fromkeys(error.get("values", {})))
    header = [_("Row"), _("Column"), _("Reason"), *columns]
    rows = [
        [
            error["row"],
            error["column"],
            error["reason"],
            *(error.get("values", {}).get(c, "") for c in columns),
        ]
        for error in job.errors
    ]
    return csv_write_safe([header, *rows], delimiter=";")


class ProgressBar:
    """A one-line progress bar redrawn in place on a terminal stream."""

    WIDTH = 30

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.started = time.monotonic()

    def update(self, job: ImportJob) -> None:
        filled = self.WIDTH * job.percent // 100
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = job.processed_rows / elapsed
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (self.WIDTH - filled)}] {job.percent:3d}%  "
            f"{job.processed_rows}/{job.total_rows}  {rate:,.0f}/s"
        )
        self.stream.flush()

    def finish(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


def import_file_cli(*, kind: str, path: str, dry_run: bool) -> int:
    """`lifelong import`: run an import in the foreground with a progress bar and a summary."""
    source = Path(path)
    try:
        content = source.read_bytes()
    except OSError as exc:
        print(
            _("Cannot read %(path)s: %(error)s") % {"path": path, "error": exc.strerror},
            file=sys.stderr,
        )
        return 1
    try:
        job = import_job_create(
            kind=kind, file_name=source.name, content=content, dry_run=dry_run, created_by=None
        )
    except ImportFileError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    bar = ProgressBar(sys.stderr)
    job = import_job_run(job.pk, progress=bar.update)
    bar.finish()
    if job.status == ImportStatus.FAILED:
        print(job.message, file=sys.stderr)
        return 1
    print(
        _(
            "%(file)s: %(total)s rows, %(created)s created, %(updated)s updated, "
            "%(unchanged)s unchanged, %(rejected)s rejected."
        )
        % {
            "file": source.name,
            "total": job.total_rows,
            "created": job.created_rows,
            "updated": job.updated_rows,
            "unchanged": job.unchanged_rows,
            "rejected": job.rejected_rows,
        }
    )
    if job.message:
        print(job.message)
    if job.rejected_rows:
        report = _report_write(job, source)
        print(_("Rejected rows and reasons: %(path)s") % {"path": report})
    return 0


def _report_write(job: ImportJob, source: Path) -> Path:
    text = import_report_csv(job)
    target = source.with_name(f"{source.stem}.rejected.csv")
    try:
        # A BOM so that Excel opens the Cyrillic text as UTF-8.
        target.write_text(text, encoding="utf-8-sig", newline="")
    except OSError:
        target = settings.VAR_DIR / "imports" / f"{job.pk}-{source.stem}.rejected.csv"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8-sig", newline="")
    return target
