"""Rule segments (list, builder, detail, export) and the lifecycle stage thresholds."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from lifelong import clock
from lifelong.accounts.permissions import MANAGE_MARKETING, VIEW
from lifelong.commerce.models import Product
from lifelong.customers.models import Channel, Customer, Purpose, Tag
from lifelong.events.models import Event
from lifelong.lib.csv_files import csv_write_safe
from lifelong.loyalty.privileges import privilege_choices
from lifelong.segments import editing
from lifelong.segments.models import (
    CustomerState,
    LifecycleRules,
    Segment,
    SegmentMembership,
    Stage,
)
from lifelong.segments.rules import MODEL_SCORES
from lifelong.segments.services import segment_count as rules_count
from lifelong.web import forms_segments as builder
from lifelong.web.access import object_get, require, staff_user
from lifelong.web.listing import page_number, page_slice
from lifelong.web.segment_sentences import rules_sentences

PER_PAGE = 50
MEMBERS_PER_PAGE = 50
RECENT_DAYS = 30
EXPORT_CHUNK = 2000
SUGGESTIONS = 300
# Offered as suggestions in the event condition; any other type can be typed in.
EVENT_TYPES = (
    "order_placed",
    "order_paid",
    "order_delivered",
    "order_cancelled",
    "order_refunded",
    "order_returned",
    "email_opened",
    "product_viewed",
    "cart_abandoned",
    "visit",
    "survey_answered",
    "nps_promoter",
    "nps_detractor",
    "consent_granted",
    "consent_withdrawn",
    "stage_changed",
    "segment_entered",
    "segment_exited",
    "community_joined",
    "community_post",
    "community_active_week",
    "early_access_opened",
)
EXPORT_COLUMNS = (
    "customer_id",
    "customer__external_id",
    "customer__first_name",
    "customer__last_name",
    "customer__email",
    "customer__phone",
    "customer__orders_count",
    "customer__total_spent",
    "customer__last_order_at",
    "since",
)


class Choices:
    """The option lists the builder's template offers."""

    kinds = builder.KINDS
    group_ops = builder.GROUP_OPS
    compare = builder.COMPARE
    attribute_ops = builder.ATTRIBUTE_OPS
    profile_ops = builder.PROFILE_OPS
    summary_fields = builder.SUMMARY_FIELDS
    last_order_ops = builder.LAST_ORDER_OPS
    bought_by = builder.BOUGHT_BY
    score_fields = builder.SCORE_FIELDS
    score_ops = builder.SCORE_OPS
    score_names = tuple(builder.SCORE_NAMES)
    model_scores = MODEL_SCORES

    @property
    def profile_fields(self) -> builder.Choices:
        return builder.profile_fields()

    channels = Channel.choices
    purposes = Purpose.choices
    privileges = privilege_choices()


CHOICES = Choices()


# --- list and detail ---------------------------------------------------------------------


@require(VIEW)
def segment_list(request: HttpRequest) -> HttpResponse:
    page = page_slice(
        Segment.objects.order_by("-active", "name", "pk"),
        number=page_number(request.GET.get("page")),
        per_page=PER_PAGE,
    )
    for segment in page.rows:
        segment.refreshing = editing.segment_is_refreshing(segment)  # type: ignore[attr-defined]
    return render(request, "web/segments/list.html", {"page": page})


def _recent_moves(segment: Segment) -> dict[str, int]:
    now = clock.now()
    return Event.objects.filter(
        type__in=("segment_entered", "segment_exited"),
        occurred_at__gte=now - dt.timedelta(days=RECENT_DAYS),
        occurred_at__lte=now,
        properties__segment_id=segment.pk,
    ).aggregate(
        entered=Count("pk", filter=Q(type="segment_entered")),
        exited=Count("pk", filter=Q(type="segment_exited")),
    )


@require(VIEW)
def segment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    segment = object_get(request, Segment, pk, VIEW)
    members = page_slice(
        SegmentMembership.objects.filter(segment=segment)
        .select_related("customer")
        .order_by("-pk"),
        number=page_number(request.GET.get("page")),
        per_page=MEMBERS_PER_PAGE,
    )
    context = {
        "segment": segment,
        "refreshing": editing.segment_is_refreshing(segment),
        "sentence": rules_sentences(segment.rules),
        "moves": _recent_moves(segment),
        "recent_days": RECENT_DAYS,
        "page": members,
    }
    return render(request, "web/segments/detail.html", context)


@require(VIEW)
def segment_status(request: HttpRequest, pk: int) -> HttpResponse:
    """Polled while a segment refreshes; once done, tells htmx to reload the page."""
    segment = object_get(request, Segment, pk, VIEW)
    if editing.segment_is_refreshing(segment):
        return render(request, "web/segments/_status.html", {"segment": segment})
    response = HttpResponse("")
    response["HX-Refresh"] = "true"
    return response


@require(VIEW)
def segment_export(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    """Members as CSV, streamed in chunks; cells are escaped against formula injection."""
    segment = object_get(request, Segment, pk, VIEW)
    rows = (
        SegmentMembership.objects.filter(segment=segment)
        .order_by("pk")
        .values_list(*EXPORT_COLUMNS)
    )
    header = [
        "id",
        "external_id",
        "first_name",
        "last_name",
        "email",
        "phone",
        "orders_count",
        "total_spent",
        "last_order_at",
        "member_since",
    ]

    def lines() -> Iterator[str]:
        yield "\ufeff" + csv_write_safe([header])
        chunk: list[Any] = []
        for row in rows.iterator(chunk_size=EXPORT_CHUNK):
            chunk.append([_cell(value) for value in row])
            if len(chunk) == EXPORT_CHUNK:
                yield csv_write_safe(chunk)
                chunk = []
        if chunk:
            yield csv_write_safe(chunk)

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="segment-{segment.pk}.csv"'
    return response


def _cell(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.datetime) else value


# --- builder -----------------------------------------------------------------------------


def _edit_page(
    request: HttpRequest,
    *,
    form: builder.SegmentForm,
    draft: dict[str, Any],
    segment: Segment | None,
    problems: list[editing.RuleProblem] | None = None,
    status: int = 200,
) -> HttpResponse:
    context = {
        "form": form,
        "segment": segment,
        "tree": builder.builder_tree(draft, problems or []),
        "choices": CHOICES,
        "event_types": EVENT_TYPES,
        "tags": Tag.objects.order_by("name").values_list("name", flat=True)[:SUGGESTIONS],
        "categories": Product.objects.exclude(category="")
        .order_by("category")
        .values_list("category", flat=True)
        .distinct()[:SUGGESTIONS],
    }
    return render(request, "web/segments/edit.html", context, status=status)


def _save(request: HttpRequest, segment: Segment | None) -> HttpResponse:
    form = builder.SegmentForm(request.POST)
    draft = builder.draft_from_post(request.POST)
    problems = editing.rules_problems(draft)
    if not form.is_valid() or problems:
        return _edit_page(
            request, form=form, draft=draft, segment=segment, problems=problems, status=400
        )
    values = {
        "name": form.cleaned_data["name"],
        "description": form.cleaned_data["description"],
        "rules": draft,
        "actor": staff_user(request),
    }
    try:
        if segment is None:
            segment = editing.segment_add(**values)
        else:
            segment = editing.segment_update(segment=segment, **values)
    except ValidationError as exc:
        form.add_error(None, exc)
        return _edit_page(request, form=form, draft=draft, segment=segment, status=400)
    messages.success(request, _("Segment %(name)s saved.") % {"name": segment.name})
    return redirect("web:segment", pk=segment.pk)


@require(MANAGE_MARKETING)
def segment_create(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _save(request, None)
    draft = {"kind": "group", "op": "and", "negate": False, "rules": [builder.new_condition()]}
    return _edit_page(request, form=builder.SegmentForm(), draft=draft, segment=None)


@require(MANAGE_MARKETING)
def segment_edit(request: HttpRequest, pk: int) -> HttpResponse:
    segment = object_get(request, Segment, pk, MANAGE_MARKETING)
    if request.method == "POST":
        return _save(request, segment)
    form = builder.SegmentForm(initial={"name": segment.name, "description": segment.description})
    return _edit_page(request, form=form, draft=segment.rules, segment=segment)


@require(MANAGE_MARKETING)
@require_POST
def segment_builder(request: HttpRequest) -> HttpResponse:
    """The builder re-rendered after a button (add, nest, remove) or a kind change."""
    draft = builder.draft_add(builder.draft_from_post(request.POST), request.POST.get("action", ""))
    response = render(
        request,
        "web/segments/_builder.html",
        {"tree": builder.builder_tree(draft), "choices": CHOICES},
    )
    # The live count listens for this and recounts the changed tree.
    response["HX-Trigger"] = "rules-changed"
    return response


@require(MANAGE_MARKETING)
@require_POST
def segment_count(request: HttpRequest) -> HttpResponse:
    """How many customers the draft rules match now, or what is wrong with them, per node."""
    draft = builder.draft_from_post(request.POST)
    problems = editing.rules_problems(draft)
    tree = builder.builder_tree(draft, problems)
    count = None if problems else rules_count(rules=draft)
    context = {"count": count, "problems": problems, "nodes": _flatten(tree)}
    return render(request, "web/segments/_count.html", context)


def _flatten(node: builder.BuilderNode) -> list[builder.BuilderNode]:
    return [node, *(n for child in node.children for n in _flatten(child))]


@require(MANAGE_MARKETING)
@require_POST
def segment_archive(request: HttpRequest, pk: int) -> HttpResponse:
    segment = object_get(request, Segment, pk, MANAGE_MARKETING)
    editing.segment_archive(segment=segment, actor=staff_user(request))
    messages.success(request, _("Segment %(name)s archived.") % {"name": segment.name})
    return redirect("web:segment", pk=segment.pk)


@require(MANAGE_MARKETING)
@require_POST
def segment_activate(request: HttpRequest, pk: int) -> HttpResponse:
    segment = object_get(request, Segment, pk, MANAGE_MARKETING)
    editing.segment_activate(segment=segment, actor=staff_user(request))
    messages.success(request, _("Segment %(name)s is active again.") % {"name": segment.name})
    return redirect("web:segment", pk=segment.pk)


# --- lifecycle rules ---------------------------------------------------------------------


def _stage_counts() -> list[tuple[str, str, int]]:
    counts = dict(
        CustomerState.objects.filter(customer__merged_into__isnull=True)
        .values_list("stage")
        .annotate(n=Count("pk"))
        .order_by()
    )
    rows = [(value, str(label), counts.get(value, 0)) for value, label in Stage.choices]
    # Customers the stage sweep has not reached yet have no state row, or an empty stage.
    classified = sum(n for stage, n in counts.items() if stage)
    unclassified = Customer.objects.live().count() - classified
    if unclassified:
        rows.append(("", _("Not classified yet"), unclassified))
    return rows


@require(MANAGE_MARKETING)
def lifecycle_rules(request: HttpRequest) -> HttpResponse:
    rules = LifecycleRules.current()
    form = builder.LifecycleRulesForm(request.POST or None, instance=rules)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            editing.lifecycle_rules_update(
                values={name: form.cleaned_data[name] for name in editing.LIFECYCLE_FIELDS},
                actor=staff_user(request),
            )
            messages.success(request, _("Lifecycle rules saved; stages are being recomputed."))
            return redirect("web:lifecycle")
        status = 400
    context = {
        "form": form,
        "rules": rules,
        "stages": _stage_counts(),
        "devotee_fields": builder.DEVOTEE_FIELDS,
    }
    return render(request, "web/segments/lifecycle.html", context, status=status)


@require(MANAGE_MARKETING)
@require_POST
def lifecycle_recompute(request: HttpRequest) -> HttpResponse:
    editing.stages_refresh_start()
    messages.success(request, _("Stages are being recomputed; refresh the page in a minute."))
    return redirect("web:lifecycle")
