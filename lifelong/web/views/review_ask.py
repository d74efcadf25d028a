"""Where promoters are asked for a public review (owner and marketer): off by default."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.db import models
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from lifelong.accounts.permissions import MANAGE_MARKETING
from lifelong.feedback.models import ReviewAsk
from lifelong.feedback.sending import REVIEW_ASK_FIELDS, review_ask_update
from lifelong.web.access import require, staff_user


def _page_field(name: str) -> forms.URLField:
    field = ReviewAsk._meta.get_field(name)
    assert isinstance(field, models.URLField)
    return forms.URLField(
        label=field.verbose_name, required=False, max_length=500, assume_scheme="https"
    )


class ReviewAskForm(forms.ModelForm):
    yandex_maps_url = _page_field("yandex_maps_url")
    two_gis_url = _page_field("two_gis_url")
    marketplace_url = _page_field("marketplace_url")

    class Meta:
        model = ReviewAsk
        fields = REVIEW_ASK_FIELDS
        help_texts = {
            "enabled": gettext_lazy(
                "After an NPS answer of 9 or 10, one message with these pages' links, on the "
                "channel the survey came by. Detractors and passives are never asked."
            ),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        pages = ("yandex_maps_url", "two_gis_url", "marketplace_url")
        if data.get("enabled") and not any(data.get(name) for name in pages):
            raise forms.ValidationError(_("Give at least one page to ask for a review on."))
        return data


@require(MANAGE_MARKETING)
def review_ask(request: HttpRequest) -> HttpResponse:
    form = ReviewAskForm(request.POST or None, instance=ReviewAsk.current())
    if request.method == "POST":
        if form.is_valid():
            review_ask_update(
                values={name: form.cleaned_data[name] for name in REVIEW_ASK_FIELDS},
                actor=staff_user(request),
            )
            messages.success(request, _("Review ask saved."))
            return redirect("web:feedback_review_ask")
        return render(request, "web/feedback/review_ask.html", {"form": form}, status=400)
    return render(request, "web/feedback/review_ask.html", {"form": form})
