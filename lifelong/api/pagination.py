"""Keyset pagination: stable under concurrent inserts and as fast on page 1,000 as on page 1."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from lifelong.api.schemas import PageQuery


def keyset_page(queryset: QuerySet[Any], page: PageQuery) -> dict[str, Any]:
    """One page ordered by id, with the cursor for the next (None on the last page)."""
    queryset = queryset.order_by("pk")
    if page.after is not None:
        queryset = queryset.filter(pk__gt=page.after)
    # One extra row tells whether another page exists without a COUNT query.
    items = list(queryset[: page.limit + 1])
    more = len(items) > page.limit
    items = items[: page.limit]
    return {"items": items, "next_after": items[-1].pk if more else None}
