"""Which columns each kind of import understands, and the words shops write in them."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from lifelong.commerce.models import OrderStatus
from lifelong.customers.models import Gender
from lifelong.events.models import ImportKind
from lifelong.lib.csv_files import normalize_header


class ImportFileError(ValueError):
    """The uploaded file cannot be imported at all; the message is for the person who sent it."""


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
        Column(
            "first_name",
            gettext_lazy("First name"),
            ("имя", "first_name", "first name", "имя клиента", "given name"),
        ),
        Column(
            "last_name",
            gettext_lazy("Last name"),
            ("фамилия", "last_name", "last name", "фамилия клиента", "surname", "family name"),
        ),
        Column(
            "patronymic",
            gettext_lazy("Patronymic"),
            ("отчество", "patronymic", "middle_name", "middle name", "отчество клиента"),
        ),
        Column(
            "full_name",
            gettext_lazy("Full name"),
            ("фио", "full_name", "full name", "фио клиента"),
        ),
        Column(
            "email",
            "Email",
            (
                "email",
                "e-mail",
                "почта",
                "электронная почта",
                "эл. почта",
                "адрес электронной почты",
                "email address",
            ),
        ),
        Column(
            "phone",
            gettext_lazy("Phone"),
            (
                "телефон",
                "phone",
                "мобильный телефон",
                "мобильный",
                "моб. телефон",
                "номер телефона",
                "тел.",
                "mobile",
                "phone number",
            ),
        ),
        Column("gender", gettext_lazy("Gender"), ("пол", "gender", "sex")),
        Column(
            "birthday",
            gettext_lazy("Birthday"),
            ("дата рождения", "birthday", "birth_date", "день рождения", "date of birth"),
        ),
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
            ("клиент", "customer_id", "customer", "id клиента", "код клиента", "покупатель"),
            required=True,
        ),
        Column(
            "placed_at",
            gettext_lazy("Date"),
            ("дата", "placed_at", "дата заказа", "date", "order date", "дата покупки"),
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
        Column("price", gettext_lazy("Price"), ("цена", "price", "цена за единицу", "unit price")),
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

GENDERS = {
    **dict.fromkeys(("м", "муж", "мужской", "m", "male", "man"), Gender.MALE),
    **dict.fromkeys(("ж", "жен", "женский", "f", "female", "woman"), Gender.FEMALE),
}
STATUSES = {
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
CURRENCIES = {"руб": "RUB", "руб.": "RUB", "р": "RUB", "р.": "RUB", "₽": "RUB", "rur": "RUB"}
BOOLEANS = {
    **dict.fromkeys(("1", "да", "yes", "true", "y", "д", "+"), True),
    **dict.fromkeys(("0", "нет", "no", "false", "n", "н", "-"), False),
}


def word(value: str) -> str:
    """A cell as a vocabulary word: case-folded, trimmed, «ё» read as «е»."""
    return value.strip().casefold().replace("ё", "е")


def currency_code(raw: str) -> str | None:
    """'руб.' -> 'RUB', 'usd' -> 'USD'; None for anything that is not a three-letter code."""
    currency = CURRENCIES.get(word(raw), raw.upper())
    return currency if len(currency) == 3 and currency.isalpha() else None


# How close (difflib's ratio) an unknown header must be to a known one to be taken for a
# misspelling of it: «Фамиля» for «Фамилия», «Emial» for «Email».
LOOKALIKE_CUTOFF = 0.8


@dataclass
class Layout:
    """Which cell of a row holds which field, for one file."""

    kind: str
    header: list[str]
    index: dict[str, int]
    extra: list[tuple[int, str]]  # unrecognised columns: attributes for customers
    repeated: list[tuple[int, str]] = field(default_factory=list)  # a known column again

    @classmethod
    def from_header(cls, kind: str, header: list[str], *, row: int = 1) -> Layout:
        aliases = _aliases(kind)
        index: dict[str, int] = {}
        extra: list[tuple[int, str]] = []
        repeated: list[tuple[int, str]] = []
        for position, name in enumerate(header):
            found = aliases.get(normalize_header(name))
            if found is not None and found not in index:
                index[found] = position
            elif found is not None:
                repeated.append((position, found))
            elif name:
                extra.append((position, name))
        missing = [c for c in COLUMNS[kind] if c.required and c.field not in index]
        if kind == ImportKind.ORDERS and "total" not in index and "price" not in index:
            missing.extend(c for c in COLUMNS[kind] if c.field == "total")
        if missing:
            raise ImportFileError(
                _(
                    "Row %(row)s, the header: required columns are missing: %(missing)s. "
                    "Columns found: %(found)s."
                )
                % {
                    "row": row,
                    "missing": ", ".join(
                        f"«{c.label}» ({' / '.join(c.aliases[:2])})" for c in missing
                    ),
                    "found": ", ".join(f"«{h}»" for h in header if h) or "—",
                }
            )
        return cls(kind=kind, header=header, index=index, extra=extra, repeated=repeated)

    @property
    def key_index(self) -> int:
        return self.index[_KEY_FIELD[self.kind]]

    def label(self, field_name: str) -> str:
        position = self.index.get(field_name)
        return self.header[position] if position is not None else field_name

    def cell(self, cells: list[str], field_name: str) -> str:
        position = self.index.get(field_name)
        return cells[position] if position is not None else ""

    def warnings(self) -> list[str]:
        """What the report says about columns not imported as fields: nothing is dropped unsaid."""
        notes = [
            _("Column %(column)s «%(name)s» repeats «%(first)s»; only the first one was read.")
            % {"column": position + 1, "name": self.header[position], "first": self.label(found)}
            for position, found in self.repeated
        ]
        known = {
            normalize_header(alias): column
            for column in COLUMNS[self.kind]
            if column.field not in self.index
            for alias in column.aliases
        }
        others: list[str] = []
        for position, name in self.extra:
            close = difflib.get_close_matches(
                normalize_header(name), known, n=1, cutoff=LOOKALIKE_CUTOFF
            )
            if not close:
                others.append(f"«{name}»")
                continue
            what = (
                _("stored as a customer attribute")
                if self.kind == ImportKind.CUSTOMERS
                else _("not imported")
            )
            notes.append(
                _(
                    "Column %(column)s «%(name)s» is not one we know (%(what)s): "
                    "did you mean «%(known)s»?"
                )
                % {
                    "column": position + 1,
                    "name": name,
                    "what": what,
                    "known": known[close[0]].label,
                }
            )
        if others and self.kind == ImportKind.CUSTOMERS:
            notes.append(
                _("Stored as customer attributes: %(columns)s.") % {"columns": ", ".join(others)}
            )
        elif others:
            notes.append(_("Columns not imported: %(columns)s.") % {"columns": ", ".join(others)})
        return notes


def _aliases(kind: str) -> dict[str, str]:
    return {normalize_header(a): c.field for c in COLUMNS[kind] for a in c.aliases}
