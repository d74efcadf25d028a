"""The limits a value from outside must respect before it is written, read off the models.

Every way facts come in (the CSV import, the API schemas, the webhooks and the services
behind them) checks a value here, against the column it goes to and against what makes
sense for its field, so that one bad value is refused with a reason and never reaches the
database, where it would fail a whole batch. The limits come from the model fields
(max_length, max_digits and decimal_places, the integer ranges Django gives every
database), and, for values, from what makes sense for a shop: moments from 1990 to a day
ahead with a real UTC offset, birthdays from 1900 to today, emails a mail server takes,
ISO 4217 currencies, names that are not blank, text and JSON any database stores.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.backends.base.operations import BaseDatabaseOperations
from django.db.models import DecimalField, Field, Model
from django.utils.translation import gettext as _

from lifelong.lib.errors import DomainError

EARLIEST_MOMENT = dt.datetime(1990, 1, 1, tzinfo=dt.UTC)
LATEST_AHEAD = dt.timedelta(days=1)
MAX_UTC_OFFSET = dt.timedelta(hours=14)


class FieldLimitError(ValueError):
    """A value its column cannot hold or the product refuses; the message is for a person."""


@contextmanager
def refused_as(error: type[DomainError], field: str) -> Iterator[None]:
    """Inside, a FieldLimitError becomes `error` naming `field`, as a service raises it."""
    try:
        yield
    except FieldLimitError as exc:
        raise error(str(exc), field=field) from None


@dataclass(frozen=True)
class TextLimit:
    """At most `length` characters (a CharField's max_length)."""

    length: int

    def check(self, value: str) -> str:
        if len(value) > self.length:
            raise FieldLimitError(
                _("too long: %(length)s characters, at most %(limit)s")
                % {"length": len(value), "limit": self.length}
            )
        return value


@dataclass(frozen=True)
class AmountLimit:
    """An amount a DecimalField holds: below 10 ** (max_digits - decimal_places) either way."""

    ceiling: Decimal

    @property
    def largest(self) -> str:
        """The largest amount, written with spaces between thousands: 999 999 999 999.99."""
        return f"{self.ceiling - Decimal('0.01'):,}".replace(",", " ")

    def check(self, value: Decimal) -> Decimal:
        if not -self.ceiling < value < self.ceiling:
            raise FieldLimitError(
                _("too large: the largest amount is %(largest)s") % {"largest": self.largest}
            )
        return value


@dataclass(frozen=True)
class CountLimit:
    """A whole number an integer column holds on every database."""

    largest: int

    def check(self, value: int) -> int:
        if value > self.largest:
            raise FieldLimitError(
                _("too large: the largest number is %(largest)s") % {"largest": self.largest}
            )
        return value


def _field(model: type[Model], name: str) -> Field:
    field = model._meta.get_field(name)
    if not isinstance(field, Field):
        raise TypeError(f"{model.__name__}.{name} is not a column")
    return field


@functools.cache
def text_limit(model: type[Model], name: str) -> TextLimit:
    field = _field(model, name)
    if field.max_length is None:
        raise TypeError(f"{model.__name__}.{name} has no max_length")
    return TextLimit(field.max_length)


@functools.cache
def amount_limit(model: type[Model], name: str) -> AmountLimit:
    field = _field(model, name)
    if not isinstance(field, DecimalField):
        raise TypeError(f"{model.__name__}.{name} is not a DecimalField")
    return AmountLimit(Decimal(10) ** (field.max_digits - field.decimal_places))


@functools.cache
def count_limit(model: type[Model], name: str) -> CountLimit:
    field = _field(model, name)
    # PostgreSQL's ranges (SQLite's are wider): a file either database takes, both take.
    _lowest, largest = BaseDatabaseOperations.integer_field_ranges[field.get_internal_type()]
    return CountLimit(largest)


def moment_check(value: dt.datetime, *, now: dt.datetime) -> dt.datetime:
    """A moment of the shop's history: from 1990 to a day ahead, with a real UTC offset."""
    offset = value.utcoffset()
    if offset is not None and abs(offset) > MAX_UTC_OFFSET:
        raise FieldLimitError(
            _("the UTC offset %(offset)s is beyond ±14:00") % {"offset": value.strftime("%z")}
        )
    # The year first: comparing year 1 with a positive offset would overflow.
    if value.year < EARLIEST_MOMENT.year or value < EARLIEST_MOMENT:
        raise FieldLimitError(_("before 1990: %(value)s") % {"value": value.date().isoformat()})
    if value > now + LATEST_AHEAD:
        raise FieldLimitError(_("in the future: %(value)s") % {"value": value.date().isoformat()})
    return value


EARLIEST_BIRTHDAY = dt.date(1900, 1, 1)


def birthday_check(value: dt.date, *, today: dt.date) -> dt.date:
    """A birthday of a living customer: from 1900 to today."""
    if not EARLIEST_BIRTHDAY <= value <= today:
        raise FieldLimitError(_("impossible birthday: %(value)s") % {"value": value.isoformat()})
    return value


def text_check(value: str) -> str:
    """Text every database stores: PostgreSQL refuses NUL, no encoding takes a lone surrogate
    (JSON allows "\\ud800")."""
    if "\x00" in value:
        raise FieldLimitError(_("must not contain NUL characters"))
    try:
        value.encode()
    except UnicodeEncodeError:
        raise FieldLimitError(_("must be valid Unicode (no lone surrogates)")) from None
    return value


def name_check(value: str) -> str:
    """A name shown to people: not blank, stored without the spaces around it."""
    value = text_check(value).strip()
    if not value:
        raise FieldLimitError(_("must not be blank"))
    return value


JSON_MAX_DEPTH = 16


def json_check(value: Any) -> Any:
    """What a JSON column holds on every database: no NUL, finite numbers, bounded nesting."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > JSON_MAX_DEPTH:
            raise FieldLimitError(
                _("nested deeper than %(depth)s levels") % {"depth": JSON_MAX_DEPTH}
            )
        if isinstance(item, str):
            text_check(item)
        elif isinstance(item, float) and not math.isfinite(item):
            raise FieldLimitError(_("numbers must be finite, not %(value)s") % {"value": item})
        elif isinstance(item, dict):
            for key, child in item.items():
                text_check(key)
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return value


EMAIL_MAX_LENGTH = 254
# RFC 5322's dot-atom on both sides of one @ (letters beyond ASCII allowed, as RFC 6531
# and IDN domains do): no display name, angle brackets, comment, quoted part, list,
# whitespace or line break, so an address can never smuggle a second one or a header in.
_ATOM = r"[\w!#$%&'*+/=?^`{|}~-]+"
_LABEL = r"[^\W_](?:(?:[^\W_]|-){0,61}[^\W_])?"
_EMAIL_RE = re.compile(rf"(?P<local>{_ATOM}(?:\.{_ATOM})*)@(?P<domain>{_LABEL}(?:\.{_LABEL})+)")


def email_check(value: str) -> str:
    """One plain address (local@domain.tld, at most 254 characters), or FieldLimitError."""
    TextLimit(EMAIL_MAX_LENGTH).check(value)
    match = _EMAIL_RE.fullmatch(value)
    if match is None or len(match["local"]) > 64 or match["domain"].rsplit(".", 1)[1].isdigit():
        raise FieldLimitError(_("not an email address: %(value)r") % {"value": value})
    return value


# ISO 4217 currencies in use (funds, metals, test and "no currency" codes left out).
_ISO_4217 = """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN
    BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR
    FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD
    JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT
    MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG
    QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB
    TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD XCG XOF
    XPF YER ZAR ZMW ZWG ZWL
"""
CURRENCIES = frozenset(_ISO_4217.split())


def currency_check(value: str) -> str:
    """An ISO 4217 code in use, such as RUB or EUR."""
    if value not in CURRENCIES:
        raise FieldLimitError(
            _("not an ISO 4217 currency code: %(value)r (e.g. RUB, EUR)") % {"value": value}
        )
    return value


def order_currency_check(value: str, *, shop: str) -> str:
    """An order's currency: the shop's own. Spend, RFM and revenue add totals up, and a sum
    of roubles and dollars means nothing; there is no exchange rate to convert at."""
    if value != shop:
        raise FieldLimitError(
            _("orders are kept in the shop's currency, %(shop)s: convert %(currency)r first")
            % {"shop": shop, "currency": value}
        )
    return value


def discount_check(discount: Decimal, *, subtotal: Decimal) -> Decimal:
    """A discount no larger than what it is taken off (the order's lines, before it)."""
    if discount > subtotal:
        raise FieldLimitError(
            _("the discount %(discount)s is larger than the order's lines, %(subtotal)s")
            % {"discount": discount, "subtotal": subtotal}
        )
    return discount
