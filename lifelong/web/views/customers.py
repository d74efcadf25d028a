"""The customer list and the customer card with its write forms."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from lifelong.accounts.models import User
from lifelong.accounts.permissions import EDIT_CUSTOMERS, VIEW, WORK_TASKS
from lifelong.customers import services as customer_services
from lifelong.customers.models import Channel, Customer, Purpose
from lifelong.customers.selectors import customer_overview, customers_find
from lifelong.events.models import Event
from lifelong.followups import services as task_services
from lifelong.web.access import object_get, require, staff_user
from lifelong.web.forms import (
    ConsentForm,
    CustomerFilterForm,
    FactForm,
    MergeForm,
    NoteForm,
    TagForm,
    TaskForm,
)
from lifelong.web.listing import Page, page_number, page_slice
from lifelong.web.timeline import timeline_items
from lifelong.web.views.churn import customer_churn
from lifelong.web.views.customers_loyalty import card_loyalty
from lifelong.web.views.inbox import customer_messaging

PER_PAGE = 50
TIMELINE_PER_PAGE = 30


def is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def customer_list_queryset(form: CustomerFilterForm, *, user: User) -> QuerySet[Customer]:
    """The customers the list filters ask for (everyone, newest first, when they are invalid);
    "mine": those whose personal manager is `user`."""
    data = form.cleaned_data if form.is_valid() else {}
    found = customers_find(
        query=data.get("q") or "",
        tag=data.get("tag") or "",
        status=data.get("status") or "",
        last_order_after=data.get("last_order_after"),
        last_order_before=data.get("last_order_before"),
        source=data.get("source") or "",
        sort=data.get("sort") or "-created",
    )
    return found.filter(personal_manager=user) if data.get("mine") else found


@require(VIEW)
def customer_list(request: HttpRequest) -> HttpResponse:
    form = CustomerFilterForm(request.GET)
    page = page_slice(
        customer_list_queryset(form, user=staff_user(request)),
        number=page_number(request.GET.get("page")),
        per_page=PER_PAGE,
    )
    sort = (form.cleaned_data.get("sort") if form.is_valid() else "") or "-created"
    context = {"form": form, "page": page, "sort": sort}
    template = "web/customers/_results.html" if is_htmx(request) else "web/customers/list.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


def _customer_get(request: HttpRequest, pk: int, permission: str) -> Customer:
    customers = Customer.objects.select_related("personal_manager").prefetch_related("tags")
    return object_get(request, customers, pk, permission)


def _timeline_page(customer: Customer, number: int) -> Page[Any]:
    events = Event.objects.filter(customer=customer).order_by("-occurred_at", "-pk")
    page = page_slice(events, number=number, per_page=TIMELINE_PER_PAGE)
    items = timeline_items(page.rows, gender=customer.gender)
    return Page(rows=items, number=page.number, per_page=page.per_page, has_next=page.has_next)


def _card_context(request: HttpRequest, customer: Customer, **forms: Any) -> dict[str, Any]:
    card = customer_overview(customer)
    consent_grid = [
        {
            "channel": label,
            "purposes": [card["consents"].get((channel, purpose)) for purpose in Purpose.values],
        }
        for channel, label in Channel.choices
    ]
    user = staff_user(request)
    context: dict[str, Any] = {
        **card,
        "customer": customer,
        "consent_purposes": Purpose.choices,
        "consent_grid": consent_grid,
        "timeline": _timeline_page(customer, 1),
        "can_edit": user.can(EDIT_CUSTOMERS),
        "can_work_tasks": user.can(WORK_TASKS),
        "note_form": NoteForm(),
        "fact_form": FactForm(),
        "tag_form": TagForm(),
        "consent_form": ConsentForm(),
        "merge_form": MergeForm(),
        "task_form": TaskForm(initial={"assignee": user.pk}),
    }
    context.update(customer_messaging(customer))
    context.update(customer_churn(customer, editor=context["can_edit"]))
    context.update(card_loyalty(customer, user))
    context.update(forms)
    return context


@require(VIEW)
def customer_card(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _customer_get(request, pk, VIEW)
    if customer.merged_into_id is not None:
        messages.info(request, _("This customer was merged into another one."))
        return redirect("web:customer", pk=customer.merged_into_id)
    return render(request, "web/customers/card.html", _card_context(request, customer))


@require(VIEW)
def customer_timeline(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _customer_get(request, pk, VIEW)
    context = {
        "customer": customer,
        "timeline": _timeline_page(customer, page_number(request.GET.get("page"))),
    }
    template = "web/customers/_timeline.html" if is_htmx(request) else "web/customers/timeline.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


def _back(customer: Customer, anchor: str) -> HttpResponse:
    return redirect(reverse("web:customer", kwargs={"pk": customer.pk}) + f"#{anchor}")


def _invalid(request: HttpRequest, customer: Customer, **forms: Any) -> HttpResponse:
    return render(
        request, "web/customers/card.html", _card_context(request, customer, **forms), status=400
    )


@require(EDIT_CUSTOMERS)
@require_POST
def note_add(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _customer_get(request, pk, EDIT_CUSTOMERS)
    form = NoteForm(request.POST)
    if not form.is_valid():
        return _invalid(request, customer, note_form=form)
    customer_services.note_add(
        customer=customer, author=staff_user(request), text=form.cleaned_data["text"]
    )
    messages.success(request, _("Note saved."))
    return _back(customer, "notes")


@require(EDIT_CUSTOMERS)
@require_POST
def fact_add(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _customer_get(request, pk, EDIT_CUSTOMERS)
    form = FactForm(request.POST)
    if not form.is_valid():
        return _invalid(request, customer, fact_form=form)
    customer_services.fact_add(
        customer=customer,
        author=staff_user(request),
        text=form.cleaned_data["text"],
        category=form.cleaned_data["category"],
    )
    messages.success(request, _("Fact saved."))
    return _back(customer, "facts")


@require(EDIT_CUSTOMERS)
@require_POST
def tag_add(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _customer_get(request, pk, EDIT_CUSTOMERS)
    form = TagForm(request.POST)
    if not form.is_valid():
        return _invalid(request, customer, tag_form=form)
    customer_services.customer_tag_add(
        customer=customer, name=form.cleaned_data["name"], actor=staff_user(request)
    )
    return _back(customer, "tags")


@require(EDIT_CUSTOMERS)
@require_POST
def tag_remove(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _customer_get(request, pk, EDIT_CUSTOMERS)
    form = TagForm(request.POST)
    if form.is_valid():
        customer_services.customer_tag_remove(
            customer=customer, name=form.cleaned_data["name"], actor=staff_user(request)
        )
    return _back(customer, "tags")


@require(EDIT_CUSTOMERS)
@require_POST
def consent_record(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _customer_get(request, pk, EDIT_CUSTOMERS)
    form = ConsentForm(request.POST)
    if not form.is_valid():
        return _invalid(request, customer, consent_form=form)
    # The staff member's reason is the evidence of how consent was given or withdrawn;
    # it is stored on the consent row itself.
    customer_services.consent_record(
        customer=customer,
        channel=form.cleaned_data["channel"],
        purpose=form.cleaned_data["purpose"],
        granted=form.cleaned_data["granted"],
        source="staff",
        form=form.cleaned_data["reason"],
        actor=staff_user(request),
    )
    messages.success(request, _("Consent recorded."))
    return _back(customer, "consents")


@require(WORK_TASKS)
@require_POST
def task_add(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _customer_get(request, pk, WORK_TASKS)
    form = TaskForm(request.POST)
    if not form.is_valid():
        return _invalid(request, customer, task_form=form)
    user = staff_user(request)
    task_services.task_create(
        customer=customer,
        title=form.cleaned_data["title"],
        due_at=form.due_at,
        kind=form.cleaned_data["kind"],
        assignee=form.cleaned_data["assignee"],
        created_by=user,
    )
    messages.success(request, _("Task created."))
    return _back(customer, "tasks")


def _duplicate_find(primary: Customer, raw: str) -> tuple[Customer | None, str]:
    raw = raw.strip()
    candidates = Customer.objects.live().exclude(pk=primary.pk)
    if raw.lstrip("#").isdigit():
        found = candidates.filter(pk=int(raw.lstrip("#"))).first()
    else:
        matches = list(candidates.filter(email=raw.lower())[:2])
        if len(matches) > 1:
            return None, _("Several customers have this email; enter the id instead.")
        found = matches[0] if matches else None
    if found is None:
        return None, _("No other active customer with this id or email.")
    return found, ""


@require(EDIT_CUSTOMERS)
@require_POST
def customer_merge(request: HttpRequest, pk: int) -> HttpResponse:
    """Two steps: find the duplicate and show both side by side, then merge on confirmation."""
    primary = _customer_get(request, pk, EDIT_CUSTOMERS)
    form = MergeForm(request.POST)
    if not form.is_valid():
        return _invalid(request, primary, merge_form=form)
    duplicate, error = _duplicate_find(primary, form.cleaned_data["duplicate"])
    if duplicate is None:
        form.add_error("duplicate", error)
        return _invalid(request, primary, merge_form=form)
    object_get(request, Customer, duplicate.pk, EDIT_CUSTOMERS)
    if not form.cleaned_data["confirm"]:
        return render(
            request,
            "web/customers/merge_confirm.html",
            {"customer": primary, "duplicate": duplicate},
        )
    try:
        customer_services.customer_merge(
            primary=primary, duplicate=duplicate, actor=staff_user(request)
        )
    except customer_services.CustomerDataError as exc:
        form.add_error("duplicate", str(exc))
        return _invalid(request, primary, merge_form=form)
    messages.success(
        request, _("Customer #%(id)s was merged into this one.") % {"id": duplicate.pk}
    )
    return _back(primary, "timeline")
