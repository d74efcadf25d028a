"""Products from a CSV: product_upsert semantics, except that empty cells keep what is stored."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from lifelong.commerce.models import Product
from lifelong.events.csv_import.cells import checked, money
from lifelong.events.csv_import.layout import BOOLEANS, currency_code, word
from lifelong.events.csv_import.tally import Context, Group, RowError, Tally
from lifelong.events.field_limits import (
    FieldLimitError,
    amount_limit,
    count_limit,
    currency_check,
    text_limit,
)
from lifelong.lib.csv_files import parse_int


def _product_values(cells: list[str], ctx: Context) -> dict[str, Any]:
    layout = ctx.layout
    values: dict[str, Any] = {}
    for name in ("name", "category"):
        value = layout.cell(cells, name)
        if value:
            values[name] = checked(text_limit(Product, name), value, layout.label(name))
    if "name" not in values:
        raise RowError(layout.label("name"), _("a required value is missing"))
    raw = layout.cell(cells, "price")
    if raw:
        values["price"] = money(raw, layout.label("price"), amount_limit(Product, "price"))
    raw = layout.cell(cells, "currency")
    if raw:
        currency = currency_code(raw)
        if currency is None:
            raise RowError(
                layout.label("currency"), _("not a currency code: %(value)r") % {"value": raw}
            )
        try:
            values["currency"] = currency_check(currency)
        except FieldLimitError as exc:
            raise RowError(layout.label("currency"), str(exc)) from None
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
        values["replenishment_days"] = checked(
            count_limit(Product, "replenishment_days"), days, layout.label("replenishment_days")
        )
    raw = layout.cell(cells, "active")
    if raw:
        if word(raw) not in BOOLEANS:
            raise RowError(
                layout.label("active"), _("expected yes or no: %(value)r") % {"value": raw}
            )
        values["active"] = BOOLEANS[word(raw)]
    return values


def products_batch(groups: list[Group], ctx: Context) -> Tally:
    """product_upsert semantics for a batch (empty cells keep what is stored)."""
    tally = Tally()
    layout = ctx.layout
    parsed: list[tuple[str, list[dict[str, Any]]]] = []
    for key, rows in groups:
        if not key:
            tally.reject_keyless(layout, rows, "sku", _("the SKU is empty"))
            continue
        try:
            text_limit(Product, "sku").check(key)
        except FieldLimitError as exc:
            tally.reject_keyless(layout, rows, "sku", str(exc))
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
                product = Product(sku=key, **{"currency": settings.DEFAULT_CURRENCY, **values})
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
