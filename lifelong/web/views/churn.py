"""Churn reasons: recorded on the customer card, added up on the dashboard."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from lifelong import clock
from lifelong.accounts.permissions import EDIT_CUSTOMERS
from lifelong.customers.models import Customer
from lifelong.segments.models import ChurnKind, ChurnReason
from lifelong.segments.services import churn_reason_record
from lifelong.web.access import object_get, require, staff_user
from lifelong.web.forms_analytics import ChurnReasonForm

REASONS_SHOWN = 10
TOP_REASONS = 5
SUGGESTIONS = 20


def customer_churn(customer: Customer, *, editor: bool) -> dict[str, Any]:
    """The card's churn section: this customer's recorded reasons and, for editors, the form.

    The form suggests the reasons already used most: the dashboard adds reasons up by
    their wording, so one reason typed three ways would count as three.
    """
    recorded = customer.churn_reasons.select_related("recorded_by")[:REASONS_SHOWN]
    context: dict[str, Any] = {"churn_reasons": list(recorded)}
    if editor:
        context["churn_form"] = ChurnReasonForm()
        context["churn_suggestions"] = list(
            ChurnReason.objects.values_list("reason", flat=True)
            .annotate(n=Count("pk"))
            .order_by("-n", "reason")[:SUGGESTIONS]
        )
    return context


@require(EDIT_CUSTOMERS)
@require_POST
def churn_reason_add(request: HttpRequest, pk: int) -> HttpResponse:
    customer = object_get(request, Customer, pk, EDIT_CUSTOMERS)
    form = ChurnReasonForm(request.POST)
    back = redirect(reverse("web:customer", kwargs={"pk": customer.pk}) + "#churn")
    if not form.is_valid():
        # The browser already checks both fields; this is only reached by a hand-made post.
        errors = [str(e) for field_errors in form.errors.values() for e in field_errors]
        messages.error(request, " ".join(errors))
        return back
    churn_reason_record(
        customer=customer,
        kind=form.cleaned_data["kind"],
        reason=form.cleaned_data["reason"],
        actor=staff_user(request),
    )
    messages.success(request, _("Churn reason recorded."))
    return back


@dataclass(frozen=True)
class ChurnKindShare:
    kind: str
    label: str
    count: int
    percent: float
    top: list[tuple[str, int]]


@dataclass(frozen=True)
class ChurnSummary:
    total: int
    kinds: list[ChurnKindShare]


def churn_summary(*, days: int) -> ChurnSummary:
    """Reasons recorded in the last `days` days, preventable vs natural, with the top reasons.

    One grouped query over (kind, reason); the same wording adds up, so the form asks
    staff to name reasons the same way each time.
    """
    since = clock.now() - dt.timedelta(days=days)
    groups = (
        ChurnReason.objects.filter(recorded_at__gt=since)
        .values_list("kind", "reason")
        .annotate(n=Count("pk"))
        .order_by("-n", "reason")
    )
    counts: dict[str, int] = {}
    top: dict[str, list[tuple[str, int]]] = {}
    for kind, reason, n in groups:
        counts[kind] = counts.get(kind, 0) + n
        reasons = top.setdefault(kind, [])
        if len(reasons) < TOP_REASONS:
            reasons.append((reason, n))
    total = sum(counts.values())
    return ChurnSummary(
        total=total,
        kinds=[
            ChurnKindShare(
                kind=kind,
                label=str(label),
                count=counts.get(kind, 0),
                percent=round(counts.get(kind, 0) * 100 / total, 1) if total else 0.0,
                top=top.get(kind, []),
            )
            for kind, label in ChurnKind.choices
        ],
    )
