"""The campaign form: new and edit, with «Preview» (who it reaches and who is skipped, and
why) before anything is saved. Saving goes through the campaign services, whole or not at
all; only a draft, or a scheduled campaign that has not run, can be edited."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from lifelong.accounts.permissions import MANAGE_MARKETING
from lifelong.campaigns.models import Campaign
from lifelong.campaigns.selectors import campaign_preview
from lifelong.campaigns.services import (
    EDITABLE,
    CampaignError,
    campaign_create,
    campaign_update,
)
from lifelong.web.access import object_get, require, staff_user
from lifelong.web.campaign_texts import error_text, preview_rows
from lifelong.web.forms_campaigns import CampaignForm

# A service's field -> the form's field that sets it.
FORM_FIELDS = {
    "segment": "audience",
    "rules": "audience",
    "recurrence": "when",
    "recur_dates": "dates_text",
    "purpose": None,
}


def _refused(form: CampaignForm, exc: CampaignError) -> None:
    field = FORM_FIELDS.get(exc.field or "", exc.field)
    form.add_error(field if field in form.fields else None, error_text(exc))


def _form_page(request: HttpRequest, campaign: Campaign | None, form: CampaignForm) -> HttpResponse:
    context: dict[str, Any] = {"campaign": campaign, "form": form}
    status = 200
    if request.method == "POST":
        if not form.is_valid():
            status = 400
        elif "preview" in request.POST:
            context["preview"] = preview = campaign_preview(campaign=form.unsaved())
            context["reasons"] = preview_rows(preview)
        else:
            actor = staff_user(request)
            try:
                if campaign is None:
                    campaign = campaign_create(values=form.values(), actor=actor)
                    messages.success(
                        request,
                        _("Campaign saved as a draft. Check who it reaches, then schedule it."),
                    )
                else:
                    campaign = campaign_update(campaign=campaign, values=form.values(), actor=actor)
                    messages.success(request, _("Campaign saved."))
                return redirect("web:campaign", pk=campaign.pk)
            except CampaignError as exc:
                _refused(form, exc)
                status = 400
    return render(request, "web/campaigns/form.html", context, status=status)


@require(MANAGE_MARKETING)
def campaign_new(request: HttpRequest) -> HttpResponse:
    form = CampaignForm(request.POST or None)
    return _form_page(request, None, form)


@require(MANAGE_MARKETING)
def campaign_edit(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = object_get(
        request,
        Campaign.objects.select_related("segment", "template", "template_b"),
        pk,
        MANAGE_MARKETING,
    )
    if campaign.status not in EDITABLE or campaign.runs_count:
        messages.error(request, _("A campaign that has started can no longer be changed."))
        return redirect("web:campaign", pk=campaign.pk)
    form = CampaignForm(request.POST or None, instance=campaign)
    return _form_page(request, campaign, form)
