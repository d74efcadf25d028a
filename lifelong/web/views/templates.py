"""The template editor: message templates, a live preview for a real customer, brand voices."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.db import transaction
from django.db.models import F
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from lifelong.accounts.models import AuditLog
from lifelong.accounts.permissions import MANAGE_MARKETING
from lifelong.accounts.services import audit_record
from lifelong.customers.models import Channel, Customer
from lifelong.customers.selectors import customer_search_q
from lifelong.messaging.models import BrandVoice, Template
from lifelong.messaging.sms_segments import SmsCount, sms_count
from lifelong.messaging.templating import (
    CONTEXT_NAMES,
    EXTRA_NAMES,
    Rendered,
    TemplateRenderError,
    message_context,
    sample_context,
    template_validate,
    variant_render,
)
from lifelong.messaging.templating.context import no_variant_text
from lifelong.messaging.templating.sandbox import field_render
from lifelong.messaging.test_send import TestSendError, template_test_send
from lifelong.messaging.variants import (
    MESSENGER,
    SHORT,
    SMS,
    Variant,
    kinds_present,
    variant_for,
)
from lifelong.web.access import object_get, require, staff_user
from lifelong.web.forms_templates import (
    BUTTONS,
    EMPTY,
    EN_BUTTONS,
    TRANSLATED,
    TRANSLATION,
    VARIANT_LABELS,
    BrandVoiceForm,
    PreviewForm,
    TemplateForm,
    problem_text,
)
from lifelong.web.headers import message_html
from lifelong.web.listing import page_number, page_slice

PER_PAGE = 50
PREVIEW_CUSTOMERS = 30
# What kinds_present reads: loaded with the page, not one query per row.
VARIANT_FIELDS = (
    "subject",
    "body_text",
    "body_html",
    "sms_text",
    "messenger_text",
    "messenger_buttons",
    "short_text",
)


@require(MANAGE_MARKETING)
def template_list(request: HttpRequest) -> HttpResponse:
    page = page_slice(
        Template.objects.order_by("name", "pk").only(
            "pk", "slug", "name", "channel", "purpose", "topic", "updated_at", *VARIANT_FIELDS
        ),
        number=page_number(request.GET.get("page")),
        per_page=PER_PAGE,
    )
    for template in page.rows:
        # What it can send: the variants it has (the list shows them instead of one channel).
        template.variants = [VARIANT_LABELS[kind] for kind in kinds_present(template)]  # type: ignore[attr-defined]
    voices = {voice.channel: voice for voice in BrandVoice.objects.all()}
    channels = [(value, label, voices.get(value)) for value, label in Channel.choices]
    return render(request, "web/templates/list.html", {"page": page, "channels": channels})


def _recent_buyers() -> list[Customer]:
    return list(
        Customer.objects.live()
        .filter(last_order_at__isnull=False)
        .order_by(F("last_order_at").desc(), "-pk")
        .only("pk", "first_name", "last_name", "patronymic", "email", "phone")[:PREVIEW_CUSTOMERS]
    )


def _sample_sms_count(text: str) -> SmsCount | None:
    """The count of an SMS text with variables as the sample customer gets it (the text as
    written counts its tags, not what they print); None for plain text or a broken template."""
    if "{{" not in text and "{%" not in text:
        return None
    try:
        rendered = field_render(
            text, sample_context(), field="sms_text", autoescape=False, strict=False
        )
    except TemplateRenderError:
        return None
    return sms_count(rendered.strip())


def _edit_page(
    request: HttpRequest, *, form: TemplateForm, template: Template | None, status: int = 200
) -> HttpResponse:
    context = {
        "form": form,
        "template": template,
        "preview_form": PreviewForm(),
        "customers": _recent_buyers(),
        "names": sorted(CONTEXT_NAMES | EXTRA_NAMES),
        # The counts shown without JavaScript; sms_counter.js keeps them live as one types.
        "sms_counts": {
            name: sms_count(str(form[name].value() or "")) for name in ("sms_text", "en_sms_text")
        },
        "sms_samples": {
            name: _sample_sms_count(str(form[name].value() or ""))
            for name in ("sms_text", "en_sms_text")
        },
        "channels": Channel.choices,
        # One press of "send a test": a reload of the same form sends nothing new.
        "attempt": uuid.uuid4().hex,
    }
    return render(request, "web/templates/edit.html", context, status=status)


def _save(request: HttpRequest, template: Template | None) -> HttpResponse:
    form = TemplateForm(request.POST, instance=template)
    if not form.is_valid():
        return _edit_page(request, form=form, template=template, status=400)
    with transaction.atomic():
        saved = form.save()
        audit_record(
            actor=staff_user(request),
            action="template.create" if template is None else "template.update",
            obj=saved,
            changes={"fields": sorted(form.changed_data)},
        )
    messages.success(request, _("Template “%(name)s” saved.") % {"name": saved.name})
    return redirect("web:template_edit", pk=saved.pk)


@require(MANAGE_MARKETING)
def template_new(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _save(request, None)
    return _edit_page(request, form=TemplateForm(), template=None)


@require(MANAGE_MARKETING)
def template_edit(request: HttpRequest, pk: int) -> HttpResponse:
    template = object_get(request, Template, pk, MANAGE_MARKETING)
    if request.method == "POST":
        return _save(request, template)
    return _edit_page(request, form=TemplateForm(instance=template), template=template)


def _preview_customer(request: HttpRequest, form: PreviewForm) -> Customer | None:
    """The searched customer, else the chosen one, else the most recent buyer."""
    find = (form.cleaned_data.get("find") or "").strip()
    if find:
        if find.startswith("#") and find[1:].isdigit():
            query = Customer.objects.live().filter(pk=int(find[1:]))
        else:
            query = Customer.objects.live().filter(customer_search_q(find))
        return query.order_by(F("last_order_at").desc(nulls_last=True), "-pk").first()
    chosen = form.cleaned_data.get("customer")
    if chosen:
        return object_get(request, Customer.objects.live(), chosen, MANAGE_MARKETING)
    buyers = _recent_buyers()[:1]
    return buyers[0] if buyers else Customer.objects.live().order_by("-pk").first()


def _draft(request: HttpRequest) -> Template:
    """The posted (unsaved) template, every variant and its English version."""
    post = request.POST
    english: dict[str, Any] = {source: post.get(field, "") for field, source in TRANSLATED.items()}
    english["messenger_buttons"] = [
        {"label": post.get(label, ""), "url": post.get(url, "")} for label, url in EN_BUTTONS
    ]
    return Template(
        name=post.get("name", ""),
        subject=post.get("subject", ""),
        body_text=post.get("body_text", ""),
        body_html=post.get("body_html", ""),
        sms_text=post.get("sms_text", ""),
        messenger_text=post.get("messenger_text", ""),
        messenger_buttons=[
            {"label": post.get(label, ""), "url": post.get(url, "")} for label, url in BUTTONS
        ],
        short_text=post.get("short_text", ""),
        translations={TRANSLATION: english},
    )


def _draft_variant(request: HttpRequest) -> tuple[Customer | None, str, Variant | None]:
    """The preview's customer and channel, and what the posted template sends there."""
    form = PreviewForm(request.POST)
    form.is_valid()
    customer = _preview_customer(request, form)
    channel = form.cleaned_data.get("preview_channel") or request.POST.get("channel") or "email"
    if channel not in Channel.values:
        channel = Channel.EMAIL
    language = customer.language if customer else ""
    return customer, channel, variant_for(_draft(request), channel, language=language)


def _draft_render(*, customer: Customer, channel: str, variant: Variant) -> Rendered:
    return variant_render(variant, message_context(customer=customer, channel=channel))


# The field a variant's text comes from (a render names it as the email's text part).
_TEXT_FIELD = {SMS: "sms_text", MESSENGER: "messenger_text", SHORT: "short_text"}


def _field_label(variant: Variant, field: str) -> str:
    """The editor's label of the field a render error of `variant` is in."""
    if field == "body_text":
        field = _TEXT_FIELD.get(variant.kind, field)
    if field == "messenger_buttons":
        return str(_("Link buttons"))
    form_field = TemplateForm.base_fields.get(field)
    label = str(form_field.label) if form_field is not None else field
    return _("%(field)s (English)") % {"field": label} if variant.language else label


def _problems(request: HttpRequest) -> list[tuple[str, str]]:
    """Every posted text's problems, each under its field's label."""
    form = TemplateForm()
    problems = []
    for field in (*TRANSLATED.values(), *TRANSLATED):
        source = request.POST.get(field, "")
        if not source:
            continue
        kind = field.removeprefix("en_")
        kind = kind if kind in ("subject", "body_html") else "body_text"
        label = str(form.fields[field].label)
        if field.startswith("en_"):
            label = _("%(field)s (English)") % {"field": label}
        problems += [
            (label, problem_text(problem))
            for problem in template_validate(**{**EMPTY, kind: source})
        ]
    return problems


@require(MANAGE_MARKETING)
@require_POST
def template_preview(request: HttpRequest) -> HttpResponse:
    """The current (unsaved) fields rendered for one real customer, as htmx swaps it in."""
    customer, channel, variant = _draft_variant(request)
    context: dict[str, Any] = {"customer": customer, "channel": Channel(channel).label}
    if customer is None:
        return render(request, "web/templates/_preview.html", context)
    context["problems"] = _problems(request)
    if variant is None:
        context["error"] = no_variant_text(Template(name=request.POST.get("name", "")), channel)
        return render(request, "web/templates/_preview.html", context)
    context["variant"] = VARIANT_LABELS[variant.kind]
    context["fallback"] = variant.fallback_for(channel)
    try:
        rendered = _draft_render(customer=customer, channel=channel, variant=variant)
    except TemplateRenderError as exc:
        exc.field = _field_label(variant, exc.field)
        context["error"] = exc
    else:
        context["rendered"] = rendered
        if channel == Channel.SMS:
            context["sms"] = sms_count(rendered.text)
    return render(request, "web/templates/_preview.html", context)


@require(MANAGE_MARKETING)
@require_POST
def template_preview_html(request: HttpRequest) -> HttpResponse:
    """The preview's HTML body as its own document, posted into the preview's sandboxed frame."""
    customer, channel, variant = _draft_variant(request)
    if customer is None:
        return HttpResponse(status=404)
    if variant is None:
        problem = no_variant_text(Template(name=request.POST.get("name", "")), channel)
        return HttpResponse(problem, status=400, content_type="text/plain; charset=utf-8")
    try:
        rendered = _draft_render(customer=customer, channel=channel, variant=variant)
    except TemplateRenderError as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
    return message_html(rendered.html)


@require(MANAGE_MARKETING)
@require_POST
def template_test(request: HttpRequest, template_pk: int) -> HttpResponse:
    """Send a test to me: the template on the chosen channel, to the staff member's own
    address, through the outbox (see messaging/test_send.py)."""
    template = object_get(request, Template, template_pk, MANAGE_MARKETING)
    channel = request.POST.get("test_channel") or template.channel
    try:
        message = template_test_send(
            template=template,
            user=staff_user(request),
            channel=channel,
            attempt=request.POST.get("attempt", "")[:64],
        )
    except TestSendError as exc:
        messages.error(request, exc.message)
    else:
        # A repeated press (the same attempt) finds the same message: audited once.
        if not AuditLog.objects.filter(
            action="template.test_send", object_type="messaging.message", object_id=str(message.pk)
        ).exists():
            audit_record(
                actor=staff_user(request),
                action="template.test_send",
                obj=message,
                changes={"template": template.pk, "channel": channel},
            )
        messages.success(
            request,
            _("A test is queued for %(address)s on %(channel)s.")
            % {"address": message.to, "channel": Channel(channel).label},
        )
    return redirect("web:template_edit", pk=template.pk)


@require(MANAGE_MARKETING)
def brand_voice(request: HttpRequest) -> HttpResponse:
    """One channel's sender name, greeting and signature (?channel=email)."""
    channel = request.POST.get("channel") or request.GET.get("channel") or Channel.EMAIL
    if channel not in Channel.values:
        channel = Channel.EMAIL
    voice = BrandVoice.objects.filter(channel=channel).first() or BrandVoice(channel=channel)
    if request.method == "POST":
        form = BrandVoiceForm(request.POST, instance=voice)
        if form.is_valid():
            with transaction.atomic():
                saved = form.save()
                audit_record(
                    actor=staff_user(request),
                    action="brand_voice.update",
                    obj=saved,
                    changes={"channel": channel, "fields": sorted(form.changed_data)},
                )
            messages.success(request, _("Brand voice saved."))
            return redirect("web:templates")
        status = 400
    else:
        form = BrandVoiceForm(instance=voice)
        status = 200
    context = {"form": form, "channel": channel, "label": Channel(channel).label}
    return render(request, "web/templates/brand_voice.html", context, status=status)
