"""Reads of the customer database: the consent state, the customer list and the card.

Views, the API and exports call these instead of building their own queries, so a
customer list means the same thing wherever it is shown.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import TypedDict

from django.db import connection
from django.db.models import F, Q, QuerySet
from django.db.models.lookups import IStartsWith
from django.utils import timezone

from lifelong.commerce.models import Order
from lifelong.customers.models import Consent, Customer, Fact, Note
from lifelong.followups.models import Task, TaskStatus
from lifelong.lib.phones import normalize_phone
from lifelong.lib.yo import yo_fold, yo_folded
from lifelong.segments.models import ClvModelFit, ClvProblem, CustomerState

# The customer list's sort keys and the column each sorts by ("-key" sorts descending).
CUSTOMER_SORTS = {
    "created": "created_at",
    "last_order": "last_order_at",
    "total_spent": "total_spent",
    "orders": "orders_count",
}
ORDERS_SHOWN = 20
NOTES_SHOWN = 20
CONSENT_HISTORY_SHOWN = 30

PHONE_LIKE = re.compile(r"^\+?[\d\s()\-.]{3,}$")


def consent_current(customer: Customer) -> dict[tuple[str, str], Consent]:
    """The current consent row per (channel, purpose): the one recorded last, in one query."""
    current: dict[tuple[str, str], Consent] = {}
    for consent in Consent.objects.filter(customer=customer).newest_first():
        current.setdefault((consent.channel, consent.purpose), consent)
    return current


def customers_by_external_id(
    external_ids: Iterable[str], *, for_update: bool = False
) -> dict[str, Customer]:
    """Customers by external id in at most two queries; a merged one resolves to its survivor.

    Two ids of one person map to the same instance, so changes made through either add up.
    """
    rows = Customer.objects.select_for_update() if for_update else Customer.objects.all()
    found = rows.in_bulk(list(external_ids), field_name="external_id")
    instances = {c.pk: c for c in found.values()}
    survivors = {c.merged_into_id for c in found.values() if c.merged_into_id} - instances.keys()
    if survivors:
        instances.update(rows.in_bulk(survivors))
    return {key: instances[c.merged_into_id or c.pk] for key, c in found.items()}


def customer_survivor(customer_id: int) -> Customer | None:
    """The customer with this id, or the one it was merged into; None when there is none.

    One hop is enough: `customer_merge` keeps every tombstone pointing at a live customer.
    """
    customer = Customer.objects.select_related("merged_into").filter(pk=customer_id).first()
    return customer and (customer.merged_into or customer)


def customers_survivors(customer_ids: Iterable[int]) -> dict[int, Customer]:
    """`customer_survivor` of many ids in two queries; an id with no customer is left out."""
    rows = Customer.objects.in_bulk(set(customer_ids))
    merged = {c.merged_into_id for c in rows.values() if c.merged_into_id is not None}
    into = Customer.objects.in_bulk(merged) if merged else {}
    return {pk: into.get(c.merged_into_id, c) if c.merged_into_id else c for pk, c in rows.items()}


def _ci_variants(term: str) -> set[str]:
    # SQLite folds case for ASCII only, so "иванова" would miss "Иванова"; matching the
    # usual spellings of the term covers names as people type them. PostgreSQL's
    # UPPER() folds Unicode, so there one case-insensitive pattern is enough.
    if connection.vendor != "sqlite":
        return {term}
    return {term, term.lower(), term.upper(), term.capitalize()}


def _name_q(term: str) -> Q:
    q = Q()
    for variant in _ci_variants(yo_fold(term)):
        for field in ("last_name", "first_name", "patronymic"):
            q |= Q(IStartsWith(yo_folded(field), variant))
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


def customers_find(
    *,
    query: str = "",
    tag: str = "",
    status: str = "",
    last_order_after: dt.date | None = None,
    last_order_before: dt.date | None = None,
    source: str = "",
    sort: str = "-created",
) -> QuerySet[Customer]:
    """Live customers matching the list filters, sorted; tags come in one extra query.

    `status` is "buyers", "leads" or "" for both; the dates are days in the current
    time zone; `sort` is a key of CUSTOMER_SORTS, with "-" for descending.
    """
    qs = Customer.objects.live()
    if query:
        qs = qs.filter(customer_search_q(query))
    if tag:
        qs = qs.filter(tags__name=tag)
    if status == "buyers":
        qs = qs.filter(orders_count__gt=0)
    elif status == "leads":
        qs = qs.filter(orders_count=0)
    tz = timezone.get_current_timezone()
    if last_order_after:
        start = dt.datetime.combine(last_order_after, dt.time.min, tzinfo=tz)
        qs = qs.filter(last_order_at__gte=start)
    if last_order_before:
        end = dt.datetime.combine(last_order_before, dt.time.min, tzinfo=tz)
        qs = qs.filter(last_order_at__lt=end)
    if source:
        qs = qs.filter(source=source)
    descending = sort.startswith("-")
    column = F(CUSTOMER_SORTS[sort.lstrip("-")])
    order = column.desc(nulls_last=True) if descending else column.asc(nulls_last=True)
    return qs.order_by(order, "-pk" if descending else "pk").prefetch_related("tags")


class CustomerOverview(TypedDict):
    """What the customer card reads about one customer besides its timeline."""

    facts: list[Fact]
    notes: list[Note]
    consents: dict[tuple[str, str], Consent]
    consent_history: list[Consent]
    tasks: list[Task]
    orders: list[Order]
    scores: CustomerState | None
    clv_problem: str  # why the latest CLV fit made no forecast; empty when it made one


def customer_overview(customer: Customer) -> CustomerOverview:
    """The card's reads: a handful of indexed queries, the newest rows of each kind."""
    scores = CustomerState.objects.filter(customer=customer).first()
    return {
        "facts": list(customer.facts.all()),
        "notes": list(customer.notes.select_related("author")[:NOTES_SHOWN]),
        "consents": consent_current(customer),
        "consent_history": list(
            Consent.objects.filter(customer=customer).newest_first()[:CONSENT_HISTORY_SHOWN]
        ),
        "tasks": list(
            customer.tasks.filter(status=TaskStatus.OPEN)
            .select_related("assignee")
            .order_by("due_at")
        ),
        "orders": list(
            Order.objects.filter(customer=customer)
            .order_by("-placed_at", "-pk")
            .prefetch_related("lines")[:ORDERS_SHOWN]
        ),
        # Stage, RFM and CLV scores: one indexed read, the card is one customer.
        "scores": scores,
        "clv_problem": _clv_problem() if scores and scores.predicted_clv is None else "",
    }


def _clv_problem() -> str:
    problem = (
        ClvModelFit.objects.order_by("-fitted_at", "-pk").values_list("problem", flat=True).first()
    )
    return str(ClvProblem(problem).label) if problem else ""
