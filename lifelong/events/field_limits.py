"""The limits a value from outside must respect before it is written, read off the models.

Every way facts come in (the CSV import here; the API and webhooks can share it) checks a
value against the column it goes to, so that one bad value is refused with a reason and
never reaches the database, where it would fail a whole batch. The limits come from the
model fields (max_length, max_digits and decimal_places, the integer ranges Django gives
every database), and, for moments, from what makes sense for a shop: nothing before 1990,
nothing more than a day ahead, no UTC offset beyond the ±14:00 of real time zones.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from decimal import Decimal

from django.db.backends.base.operations import BaseDatabaseOperations
from django.db.models import DecimalField, Field, Model
from django.utils.translation import gettext as _

EARLIEST_MOMENT = dt.datetime(1990, 1, 1, tzinfo=dt.UTC)
LATEST_AHEAD = dt.timedelta(days=1)
MAX_UTC_OFFSET = dt.timedelta(hours=14)


class FieldLimitError(ValueError):
    """A value its column cannot hold or the product refuses; the message is for a person."""


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
