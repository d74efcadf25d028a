"""Reading lists for the staff UI: pagination without COUNT(*) and the customer search.

Lists page by fetching one row more than shown; that tells whether a next page
exists without counting a table that may hold millions of customers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from django.db import connection
from django.db.models import Model, Q, QuerySet

from lifelong.customers.models import Customer
from lifelong.lib.phones import normalize_phone

T = TypeVar("T")
M = TypeVar("M", bound=Model)

PHONE_LIKE = re.compile(r"^\+?[\d\s()\-.]{3,}$")


@dataclass(frozen=True)
class Page(Generic[T]):
    rows: Sequence[T]
    number: int
    per_page: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def next_number(self) -> int:
        return self.number + 1

    @property
    def previous_number(self) -> int:
        return self.number - 1


# Far past the end of any list, yet an offset every database can hold.
MAX_PAGE = 1_000_000


def page_number(raw: str | None) -> int:
    """The page asked for in `?page=`: 1 for nonsense, an empty page far past the end."""
    try:
        number = int(raw or 1)
    except ValueError:
        return 1
    return min(MAX_PAGE, max(1, number))


def page_slice(qs: QuerySet[M], *, number: int, per_page: int) -> Page[M]:
    """One page of `qs` in a single query (plus the queryset's prefetches)."""
    offset = (number - 1) * per_page
    rows = list(qs[offset : offset + per_page + 1])
    return Page(
        rows=rows[:per_page], number=number, per_page=per_page, has_next=len(rows) > per_page
    )


def _ci_variants(term: str) -> set[str]:
    # SQLite folds case for ASCII only, so "иванова" would miss "Иванова"; matching the
    # usual spellings of the term covers names as people type them. PostgreSQL's
    # UPPER() folds Unicode, so there one case-insensitive pattern is enough.
    if connection.vendor != "sqlite":
        return {term}
    return {term, term.lower(), term.upper(), term.capitalize()}


def _name_q(term: str) -> Q:
    q = Q()
    for variant in _ci_variants(term):
        for field in ("last_name", "first_name", "patronymic"):
            q |= Q(**{f"{field}__istartswith": variant})
    return q


def phone_q(query: str) -> Q | None:
    """Match a query that looks like a phone: the full E.164 number or a run of digits."""
    if not PHONE_LIKE.match(query):
        return None
    digits = re.sub(r"\D", "", query)
    if len(digits) < 3:
        return None
    q = Q(phone__contains=digits)
    # A Russian number typed as 8XXX… is stored as +7XXX….
    if digits.startswith("8") and len(digits) >= 4:
        q |= Q(phone__contains="7" + digits[1:])
    try:
        full = normalize_phone(query)
    except ValueError:
        full = ""
    if full:
        q |= Q(phone=full)
    return q


def customer_search_q(query: str) -> Q:
    """Customers matching a free-text query: name words, email or phone."""
    query = query.strip()
    by_phone = phone_q(query)
    if by_phone is not None:
        return by_phone
    if "@" in query:
        return Q(email__startswith=query.lower())
    words = query.split()
    by_name = Q()
    for word in words:
        by_name &= _name_q(word)
    if len(words) == 1:
        by_name |= Q(email__startswith=query.lower())
    return by_name


def customers_active() -> QuerySet[Customer]:
    """Customers shown in lists: merged tombstones are hidden."""
    return Customer.objects.live()
