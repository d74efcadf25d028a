"""The email designer: blocks edited in the browser, a live preview, a test to oneself.

The page's script (static/web/designer.js) keeps the blocks and posts them as JSON: to the
preview (into a sandboxed frame, rendered for the sample customer), and on save to this
page, where `template_design_save` writes the design and the email HTML and text it makes.
"Save and send a test to me" saves, then queues the saved email to the staff member.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from django import forms
from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_POST

from lifelong import clock
from lifelong.accounts.permissions import MANAGE_MARKETING
from lifelong.accounts.services import audit_record
from lifelong.customers.models import Channel
from lifelong.messaging.designs import (
    design_edited_by_hand,
    design_preview,
    email_brand,
    email_brand_save,
    template_design_save,
)
from lifelong.messaging.email_design import (
    BLOCK_NAMES,
    BLOCK_TYPES,
    EMAIL_LANGUAGE,
    DesignError,
)
from lifelong.messaging.models import Template
from lifelong.messaging.templating import template_validate
from lifelong.messaging.test_send import TestSendError, template_test_send
from lifelong.web.access import object_get, require, staff_user
from lifelong.web.headers import message_html

MAX_DESIGN_BYTES = 200_000


class DesignForm(forms.Form):
    subject = forms.CharField(label=gettext_lazy("Subject"), max_length=300)
    design = forms.CharField(widget=forms.HiddenInput, max_length=MAX_DESIGN_BYTES)

    def clean_subject(self) -> str:
        subject: str = self.cleaned_data["subject"]
        for problem in template_validate(subject=subject, body_text="", body_html=""):
            raise forms.ValidationError(problem.message)
        return subject

    def clean_design(self) -> Any:
        try:
            return json.loads(self.cleaned_data["design"])
        except ValueError as exc:
            raise forms.ValidationError(
                _("The design is not readable. Reload the page and try again.")
            ) from exc


class BrandLookForm(forms.Form):
    accent = forms.RegexField(
        label=gettext_lazy("Accent (buttons)"),
        regex=r"^#[0-9a-fA-F]{6}$",
        widget=forms.TextInput(attrs={"type": "color"}),
    )
    text = forms.RegexField(
        label=gettext_lazy("Text"),
        regex=r"^#[0-9a-fA-F]{6}$",
        widget=forms.TextInput(attrs={"type": "color"}),
    )
    background = forms.RegexField(
        label=gettext_lazy("Background"),
        regex=r"^#[0-9a-fA-F]{6}$",
        widget=forms.TextInput(attrs={"type": "color"}),
    )
    logo_url = forms.URLField(
        label=gettext_lazy("Logo address"),
        required=False,
        assume_scheme="https",
        widget=forms.URLInput(attrs={"placeholder": "https://…/logo.png"}),
    )


def _starter_design(template: Template) -> dict[str, Any]:
    """A template without a design starts from its own words, not from an empty page."""
    first = (template.body_text or "").strip()
    with translation.override(EMAIL_LANGUAGE):  # the words of the email, not of the UI
        hello = _("Hello, {{ customer.first_name }}!")
    return {
        "preheader": "",
        "blocks": [
            {"type": "heading", "text": hello},
            {"type": "text", "text": first or "…"},
            {"type": "footer", "text": "", "unsubscribe": ""},
        ],
    }


def _strings() -> dict[str, Any]:
    """The designer script's words, in the page's language."""
    return {
        "names": {kind: str(BLOCK_NAMES[kind]) for kind in BLOCK_TYPES},
        "up": _("Move up"),
        "down": _("Move down"),
        "remove": _("Delete"),
        "fields": {
            "heading": _("Heading text"),
            "text": _("Text (a blank line starts a new paragraph)"),
            "image_url": _("Image address (https://…)"),
            "alt": _("Description, shown when images are off"),
            "link": _("Link when clicked (optional)"),
            "label": _("Button label"),
            "url": _("Button link (https://… or {{ links.preferences }})"),
            "source": _("Products from"),
            "title": _("Title (optional)"),
            "footer": _("Footer text: the shop's name, address, contacts"),
            "unsubscribe": _("Unsubscribe link text (optional)"),
        },
        "sources": {"last_order": _("the customer's last order"), "cart": _("the cart")},
        "divider": _("A thin line between blocks."),
        "footer_note": _("The footer always carries the customer's unsubscribe link."),
        "products_note": _(
            "Lists what the customer bought last (or has in the cart) when the email is sent; "
            "a customer without it gets no list."
        ),
        "empty": _("No blocks yet: add one with the buttons above."),
    }


def _posted(request: HttpRequest) -> Any:
    """The design the browser sent, to show again after a refusal; None when unreadable."""
    try:
        return json.loads(request.POST.get("design", "")[:MAX_DESIGN_BYTES])
    except ValueError:
        return None


def _page(
    request: HttpRequest,
    template: Template,
    *,
    form: DesignForm | None = None,
    design: Any = None,
    problems: list[str] | None = None,
    status: int = 200,
) -> HttpResponse:
    brand = email_brand()
    context = {
        "template": template,
        "form": form or DesignForm(initial={"subject": template.subject}),
        "design": design if design is not None else (template.design or _starter_design(template)),
        "problems": problems or [],
        "edited_by_hand": not problems and design_edited_by_hand(template),
        "brand_form": BrandLookForm(initial=brand),
        "block_types": [(kind, BLOCK_NAMES[kind]) for kind in BLOCK_TYPES],
        "staff_email": staff_user(request).email,
        "strings": _strings(),
        # One press of "send a test" per page load: a repeated POST queues no second test.
        "attempt": uuid.uuid4().hex,
    }
    return render(request, "web/designer.html", context, status=status)


@require(MANAGE_MARKETING)
def template_designer(request: HttpRequest, template_pk: int) -> HttpResponse:
    template = object_get(request, Template, template_pk, MANAGE_MARKETING)
    if request.method != "POST":
        return _page(request, template)
    form = DesignForm(request.POST)
    if not form.is_valid():
        return _page(request, template, form=form, design=_posted(request), status=400)
    template.subject = form.cleaned_data["subject"]
    try:
        with transaction.atomic():
            template.save(update_fields=["subject"])
            template_design_save(
                template=template, design=form.cleaned_data["design"], actor=staff_user(request)
            )
    except DesignError as exc:
        template.refresh_from_db()
        return _page(
            request,
            template,
            form=form,
            design=form.cleaned_data["design"],
            problems=exc.problems,
            status=400,
        )
    messages.success(request, _("Design saved."))
    if request.POST.get("action") == "test":
        _test_send(request, template)
    return redirect("web:template_designer", template_pk=template.pk)


def _test_send(request: HttpRequest, template: Template) -> None:
    started = clock.now()
    try:
        message = template_test_send(
            template=template,
            user=staff_user(request),
            channel=Channel.EMAIL,
            attempt=str(request.POST.get("attempt", ""))[:64],
        )
    except TestSendError as exc:
        messages.error(request, exc.message)
        return
    # A repeated press (the same attempt) queued nothing new: it is not a second test.
    if message.created_at >= started:
        audit_record(
            actor=staff_user(request),
            action="template.test_send",
            obj=template,
            changes={"channel": Channel.EMAIL, "message": message.pk},
        )
    messages.success(
        request,
        format_html(
            _('A test is on its way to {address}. <a href="{inbox}">Sandbox inbox</a>'),
            address=message.to,
            inbox=reverse("web:inbox"),
        ),
    )


@require(MANAGE_MARKETING)
@require_POST
def template_design_preview(request: HttpRequest) -> HttpResponse:
    """The posted design rendered for the sample customer, as a document for the frame."""
    raw = request.POST.get("design", "")
    try:
        html, _text = design_preview(
            json.loads(raw[:MAX_DESIGN_BYTES]), subject=request.POST.get("subject", "")[:300]
        )
    except ValueError as exc:  # DesignError is a ValueError, and so is unreadable JSON
        problems = exc.problems if isinstance(exc, DesignError) else [str(exc)]
        html = format_html(
            '<div style="font-family:sans-serif;color:#b42318;padding:1rem;"><p>{}</p>'
            "<ul>{}</ul></div>",
            _("The design has problems:"),
            format_html_join("", "<li>{}</li>", ((problem,) for problem in problems)),
        )
    return message_html(html)


@require(MANAGE_MARKETING)
@require_POST
def template_design_brand(request: HttpRequest) -> HttpResponse:
    """Save the brand look (colours, logo) shared by every design; rebuilds them all."""
    form = BrandLookForm(request.POST)
    back = request.POST.get("template", "")
    if form.is_valid():
        rebuilt = email_brand_save(**form.cleaned_data, actor=staff_user(request))
        messages.success(
            request,
            ngettext(
                "Brand look saved; %(n)d designed template rebuilt with it.",
                "Brand look saved; %(n)d designed templates rebuilt with it.",
                rebuilt,
            )
            % {"n": rebuilt},
        )
    else:
        problems = "; ".join(str(e) for errors in form.errors.values() for e in errors)
        messages.error(request, _("Brand look not saved: %(problems)s") % {"problems": problems})
    if back.isdigit() and Template.objects.filter(pk=int(back)).exists():
        return redirect("web:template_designer", template_pk=int(back))
    return redirect("web:templates")
