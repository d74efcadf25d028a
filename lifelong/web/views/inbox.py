"""The sandbox inbox (under Channels): what the demo's transport "delivered", read the way a
customer would."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy

from lifelong.accounts.permissions import VIEW
from lifelong.customers.models import Channel, Customer
from lifelong.journeys.models import Enrollment, Journey
from lifelong.messaging.models import WEBHOOK, Message
from lifelong.web.access import object_get, require
from lifelong.web.headers import message_html

SANDBOX = "sandbox"
PER_PAGE = 50
CARD_MESSAGES = 20
CARD_ENROLLMENTS = 20


class InboxFilterForm(forms.Form):
    channel = forms.ChoiceField(
        label=gettext_lazy("Channel"),
        required=False,
        choices=[("", gettext_lazy("All channels")), *Channel.choices, (WEBHOOK, "Webhook")],
    )
    customer = forms.IntegerField(label=gettext_lazy("Customer id"), required=False, min_value=1)
    before = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)


def _journey_names(rows: list[Message]) -> dict[int, str]:
    ids = {m.journey_id for m in rows if m.journey_id}
    if not ids:
        return {}
    return dict(Journey.objects.filter(pk__in=ids).values_list("pk", "name"))


@require(VIEW)
def inbox(request: HttpRequest) -> HttpResponse:
    """Newest first, keyset-paged by id: no COUNT and no OFFSET over a growing outbox."""
    form = InboxFilterForm(request.GET)
    data: dict[str, Any] = form.cleaned_data if form.is_valid() else {}
    messages_qs = Message.objects.filter(transport=SANDBOX)
    if data.get("channel"):
        messages_qs = messages_qs.filter(channel=data["channel"])
    if data.get("customer"):
        messages_qs = messages_qs.filter(customer_id=data["customer"])
    if data.get("before"):
        messages_qs = messages_qs.filter(pk__lt=data["before"])
    rows = list(
        messages_qs.select_related("customer")
        .defer("body_html", "payload")
        .order_by("-pk")[: PER_PAGE + 1]
    )
    has_next = len(rows) > PER_PAGE
    rows = rows[:PER_PAGE]
    names = _journey_names(rows)
    for message in rows:
        message.journey_name = names.get(message.journey_id or 0, "")  # type: ignore[attr-defined]
    context = {
        "form": form,
        "rows": rows,
        "next_before": rows[-1].pk if has_next else None,
        "first_page": not data.get("before"),
    }
    return render(request, "web/inbox/list.html", context)


@require(VIEW)
def inbox_message_moved(request: HttpRequest, pk: int) -> HttpResponse:
    """The sandbox's message pages moved under inbox/sandbox/ when the inbox became the
    conversations inbox; old links still arrive here."""
    return redirect("web:inbox_message", pk=pk)


@require(VIEW)
def inbox_message(request: HttpRequest, pk: int) -> HttpResponse:
    message = object_get(
        request, Message.objects.filter(transport=SANDBOX).select_related("customer"), pk, VIEW
    )
    journey = Journey.objects.filter(pk=message.journey_id).first() if message.journey_id else None
    context = {
        "message": message,
        "journey": journey,
        "payload_json": json.dumps(message.payload, ensure_ascii=False, indent=2),
    }
    return render(request, "web/inbox/message.html", context)


@require(VIEW)
def inbox_message_html(request: HttpRequest, pk: int) -> HttpResponse:
    """The message's HTML body as its own document, for the sandboxed frame of its page."""
    message = object_get(
        request, Message.objects.filter(transport=SANDBOX).only("pk", "body_html"), pk, VIEW
    )
    return message_html(message.body_html)


def customer_messaging(customer: Customer) -> dict[str, Any]:
    """The card's message log and journey enrollments: two queries, a third only for
    journeys of messages whose enrollment is not among those shown."""
    enrollments = list(
        Enrollment.objects.filter(customer=customer)
        .select_related("journey")
        .order_by("-entered_at", "-pk")[:CARD_ENROLLMENTS]
    )
    log = list(
        Message.objects.filter(customer=customer)
        .defer("body_html", "payload")
        .order_by("-created_at", "-pk")[:CARD_MESSAGES]
    )
    names = {e.journey_id: e.journey.name for e in enrollments}
    missing = {m.journey_id for m in log if m.journey_id and m.journey_id not in names}
    if missing:
        names.update(Journey.objects.filter(pk__in=missing).values_list("pk", "name"))
    for message in log:
        message.journey_name = names.get(message.journey_id or 0, "")  # type: ignore[attr-defined]
        message.first_line = (message.body_text.strip().splitlines() or [""])[0]  # type: ignore[attr-defined]
    return {"message_log": log, "enrollments": enrollments}
