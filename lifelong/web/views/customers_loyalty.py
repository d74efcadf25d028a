"""The loyalty section of the customer card: balance, open lots, history with reasons, a manual
adjustment, and the customer's personal manager.

Reads are a fixed number of queries whatever the history's length: the account row, one page
of open lots, one page of transactions (with rule, order and staff joined), their entries on
this customer's account summed per bucket, and the journeys of the steps on the page.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from lifelong.accounts.models import User
from lifelong.accounts.permissions import EDIT_CUSTOMERS, MANAGE_MARKETING, VIEW
from lifelong.customers.models import Customer
from lifelong.customers.services import CustomerDataError, customer_manager_set
from lifelong.journeys.models import Enrollment
from lifelong.loyalty.ledger import NotEnoughPoints
from lifelong.loyalty.models import Account, Bucket, Entry, Lot, Transaction
from lifelong.loyalty.services import points_adjust
from lifelong.web.access import object_get, require, staff_user
from lifelong.web.forms_customer_loyalty import PersonalManagerForm, PointsAdjustForm, staff_name
from lifelong.web.listing import Page, page_number, page_slice

HISTORY_PER_PAGE = 20
LOTS_SHOWN = 20
BUCKET_LABELS = dict(Bucket.choices)


@dataclass(frozen=True)
class HistoryRow:
    tx: Transaction
    # (bucket label, signed points) for each of this customer's buckets the posting changed.
    changes: list[tuple[str, int]]
    journey: str

    @property
    def staff_name(self) -> str:
        return staff_name(self.tx.staff) if self.tx.staff else ""


def history_page(customer: Customer, number: int) -> Page[HistoryRow]:
    """One page of the customer's postings, newest first, with what each changed and why."""
    transactions = (
        Transaction.objects.filter(customer_id=customer.pk)
        .select_related("rule", "order", "staff")
        .order_by("-created_at", "-pk")
    )
    page = page_slice(transactions, number=number, per_page=HISTORY_PER_PAGE)
    ids = [tx.pk for tx in page.rows]
    changes: dict[int, list[tuple[str, int]]] = defaultdict(list)
    journeys: dict[int, str] = {}
    if ids:
        sums = (
            Entry.objects.filter(transaction_id__in=ids, account__customer_id=customer.pk)
            .values("transaction_id", "bucket")
            .annotate(points=Sum("points"))
            .order_by("transaction_id", "bucket")
        )
        for row in sums:
            if row["points"]:
                label = str(BUCKET_LABELS[row["bucket"]])
                changes[row["transaction_id"]].append((label, int(row["points"])))
        enrollment_ids = {tx.enrollment_id for tx in page.rows if tx.enrollment_id}
        if enrollment_ids:
            journeys = dict(
                Enrollment.objects.filter(pk__in=enrollment_ids).values_list("pk", "journey__name")
            )
    rows = [
        HistoryRow(
            tx=tx,
            changes=changes.get(tx.pk, []),
            journey=journeys.get(tx.enrollment_id or 0, ""),
        )
        for tx in page.rows
    ]
    return Page(rows=rows, number=page.number, per_page=page.per_page, has_next=page.has_next)


def card_loyalty(
    customer: Customer, user: User, *, adjust_form: PointsAdjustForm | None = None
) -> dict[str, Any]:
    """The card's loyalty section and personal manager, as template context."""
    account = Account.objects.filter(customer_id=customer.pk).first()
    lots = list(
        Lot.objects.filter(customer_id=customer.pk, remaining__gt=0)
        .select_related("source")
        .order_by("expires_at", "pk")[: LOTS_SHOWN + 1]
    )
    can_adjust = user.can(MANAGE_MARKETING)
    can_edit = user.can(EDIT_CUSTOMERS)
    manager = customer.personal_manager
    return {
        "points": account,
        "lots": lots[:LOTS_SHOWN],
        "lots_more": len(lots) > LOTS_SHOWN,
        "points_history": history_page(customer, 1),
        "can_adjust_points": can_adjust,
        "adjust_form": adjust_form or (PointsAdjustForm() if can_adjust else None),
        "manager_name": staff_name(manager) if manager else "",
        "manager_form": (
            PersonalManagerForm(initial={"manager": customer.personal_manager_id})
            if can_edit
            else None
        ),
    }


def _customer_get(request: HttpRequest, pk: int, permission: str) -> Customer:
    return object_get(request, Customer.objects.select_related("personal_manager"), pk, permission)


@require(VIEW)
def points_history(request: HttpRequest, pk: int) -> HttpResponse:
    """Earlier pages of the history: a fragment for the card's "Show earlier", else a page."""
    customer = _customer_get(request, pk, VIEW)
    context = {
        "customer": customer,
        "points_history": history_page(customer, page_number(request.GET.get("page"))),
    }
    htmx = request.headers.get("HX-Request") == "true"
    template = "web/customers/_points_history.html" if htmx else "web/customers/points_history.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


def _back(customer: Customer, anchor: str) -> HttpResponse:
    return redirect(reverse("web:customer", kwargs={"pk": customer.pk}) + f"#{anchor}")


@require(MANAGE_MARKETING)
@require_POST
def points_adjust_add(request: HttpRequest, pk: int) -> HttpResponse:
    """Add or deduct points by hand with a required reason (owner and marketer only)."""
    customer = _customer_get(request, pk, MANAGE_MARKETING)
    user = staff_user(request)
    form = PointsAdjustForm(request.POST)
    if customer.merged_into_id is not None:
        form.add_error(None, _("This customer was merged into another one."))
    if form.is_valid():
        points = form.cleaned_data["points"]
        try:
            tx = points_adjust(
                customer_id=customer.pk,
                points=points,
                key=f"staff-adjust:{customer.pk}:{form.cleaned_data['token']}",
                staff=user,
                comment=form.cleaned_data["reason"],
            )
        except NotEnoughPoints:
            account = Account.objects.filter(customer_id=customer.pk).first()
            available = account.available if account else 0
            form.add_error(
                "points",
                _(
                    "Only %(available)s points are available: a deduction cannot take the "
                    "balance below zero. Deduct at most %(available)s."
                )
                % {"available": max(available, 0)},
            )
        else:
            if tx is None:
                messages.info(request, _("This adjustment was already saved."))
            else:
                messages.success(request, _("Points adjusted: %(points)+d.") % {"points": points})
            return _back(customer, "loyalty")
    context = {"customer": customer, **card_loyalty(customer, user, adjust_form=form)}
    return render(request, "web/customers/points_adjust.html", context, status=400)


@require(EDIT_CUSTOMERS)
@require_POST
def personal_manager_set(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _customer_get(request, pk, EDIT_CUSTOMERS)
    form = PersonalManagerForm(request.POST)
    if not form.is_valid() or customer.merged_into_id is not None:
        messages.error(request, _("Choose an active staff member."))
        return _back(customer, "manager")
    try:
        changed = customer_manager_set(
            customer=customer, manager=form.cleaned_data["manager"], actor=staff_user(request)
        )
    except CustomerDataError:
        messages.error(request, _("Choose an active staff member."))
        return _back(customer, "manager")
    if changed:
        messages.success(request, _("Personal manager saved."))
    return _back(customer, "manager")
