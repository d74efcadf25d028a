"""CSV export of the customer list with the same filters and order as the page."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence

from django.http import HttpRequest, StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from lifelong.accounts.permissions import VIEW
from lifelong.web.access import require
from lifelong.web.exports import csv_download
from lifelong.web.forms import CustomerFilterForm
from lifelong.web.views.customers import customer_list_queryset

# Rows fetched (and tags prefetched) per round trip while streaming.
FETCH = 2000


def _local(value: dt.datetime | None) -> str:
    return timezone.localtime(value).isoformat(timespec="seconds") if value else ""


def _customer_rows(form: CustomerFilterForm) -> Iterator[Sequence[object]]:
    yield [
        _("id"),
        _("external id"),
        _("last name"),
        _("first name"),
        _("patronymic"),
        _("email"),
        _("phone"),
        _("orders"),
        _("total spent"),
        _("first order"),
        _("last order"),
        _("created"),
        _("source"),
        _("tags"),
    ]
    for c in customer_list_queryset(form).iterator(chunk_size=FETCH):
        yield [
            c.pk,
            c.external_id or "",
            c.last_name,
            c.first_name,
            c.patronymic,
            c.email,
            c.phone,
            c.orders_count,
            c.total_spent,
            _local(c.first_order_at),
            _local(c.last_order_at),
            _local(c.created_at),
            c.source,
            ", ".join(tag.name for tag in c.tags.all()),
        ]


@require(VIEW)
def customers_csv(request: HttpRequest) -> StreamingHttpResponse:
    """Every customer matching the list's filters, streamed in chunks (never all in memory)."""
    form = CustomerFilterForm(request.GET)
    return csv_download(_customer_rows(form), filename="customers.csv")
