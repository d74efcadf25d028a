"""CSV exports of the customer list, the task list and the audit log.

Each uses the same query, filters and order as its page, streamed in chunks.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence

from django.http import HttpRequest, StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from lifelong.accounts.models import User
from lifelong.accounts.permissions import MANAGE_ACCOUNTS, VIEW
from lifelong.web.access import require, staff_user
from lifelong.web.exports import csv_download
from lifelong.web.forms import CustomerFilterForm
from lifelong.web.views.customers import customer_list_queryset
from lifelong.web.views.staff import audit_log_queryset
from lifelong.web.views.tasks import tasks_queryset

# Rows fetched (and tags prefetched) per round trip while streaming.
FETCH = 2000


def _local(value: dt.datetime | None) -> str:
    return timezone.localtime(value).isoformat(timespec="seconds") if value else ""


def _customer_rows(form: CustomerFilterForm, user: User) -> Iterator[Sequence[object]]:
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
    for c in customer_list_queryset(form, user=user).iterator(chunk_size=FETCH):
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
    return csv_download(_customer_rows(form, staff_user(request)), filename="customers.csv")


def _task_rows(user: User, who: str) -> Iterator[Sequence[object]]:
    yield [
        _("id"),
        _("due"),
        _("title"),
        _("kind"),
        _("customer id"),
        _("customer"),
        _("assignee"),
        _("created"),
    ]
    # tasks_queryset joins the customer and the assignee: no query per row.
    for task in tasks_queryset(user, who).iterator(chunk_size=FETCH):
        yield [
            task.pk,
            _local(task.due_at),
            task.title,
            task.get_kind_display(),
            task.customer_id,
            str(task.customer),
            task.assignee.get_username() if task.assignee else "",
            _local(task.created_at),
        ]


@require(VIEW)
def tasks_csv(request: HttpRequest) -> StreamingHttpResponse:
    """The task list as on the page (mine and unassigned, or whose it names), by due time."""
    who = request.GET.get("who", "")
    return csv_download(_task_rows(staff_user(request), who), filename="tasks.csv")


def _audit_rows() -> Iterator[Sequence[object]]:
    yield [
        _("when"),
        _("who"),
        _("action"),
        _("object"),
        _("object id"),
        _("changes"),
        _("IP"),
        _("API key"),
    ]
    # actor_label is stored on the row, so the export never joins the users.
    for entry in audit_log_queryset().iterator(chunk_size=FETCH):
        key = entry.api_key
        yield [
            _local(entry.at),
            entry.actor_label,
            entry.action,
            entry.object_type,
            entry.object_id,
            json.dumps(entry.changes, ensure_ascii=False, sort_keys=True) if entry.changes else "",
            entry.ip or "",
            f"{key.name} (ll_{key.prefix}_…)" if key else "",
        ]


@require(MANAGE_ACCOUNTS)
def audit_csv(request: HttpRequest) -> StreamingHttpResponse:
    """The audit log as on the page, newest first."""
    return csv_download(_audit_rows(), filename="audit.csv")
