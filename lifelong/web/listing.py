"""Reading lists for the staff UI: pagination without COUNT(*).

Lists page by fetching one row more than shown; that tells whether a next page
exists without counting a table that may hold millions of customers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from django.db.models import Model, QuerySet

T = TypeVar("T")
M = TypeVar("M", bound=Model)


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
