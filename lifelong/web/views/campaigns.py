"""Campaigns: the list with results, a campaign's page (settings, preview, progress,
results), and its actions (schedule, back to draft, cancel). The form is campaigns_edit.

Reading is for every role; creating, editing and sending are for those who manage
marketing (owner and marketer), as for journeys.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from lifelong import clock
from lifelong.accounts.permissions import MANAGE_MARKETING, VIEW
from lifelong.campaigns.models import Campaign, CampaignRun, CampaignStatus, RunStatus
from lifelong.campaigns.results import campaigns_results, runs_results
from lifelong.campaigns.selectors import campaign_preview, campaign_progress
from lifelong.campaigns.services import (
    EDITABLE,
    CampaignError,
    campaign_cancel,
    campaign_schedule,
    campaign_unschedule,
)
from lifelong.web import campaign_texts as texts
from lifelong.web.access import object_get, require, staff_user
from lifelong.web.listing import page_number, page_slice

PER_PAGE = 50
RUNS_SHOWN = 20
ACTIVE_RUNS = (RunStatus.QUEUEING, RunStatus.TESTING, RunStatus.QUEUEING_REST)
# action -> statuses it applies to
ACTIONS: dict[str, frozenset[str]] = {
    "schedule": frozenset({CampaignStatus.DRAFT}),
    "unschedule": frozenset({CampaignStatus.SCHEDULED}),
    "cancel": frozenset({CampaignStatus.SCHEDULED, CampaignStatus.SENDING}),
}


@require(VIEW)
def campaign_list(request: HttpRequest) -> HttpResponse:
    """Every campaign with its figures: a fixed number of queries, whatever the page holds."""
    page = page_slice(
        Campaign.objects.select_related("segment").order_by("-created_at", "-pk"),
        number=page_number(request.GET.get("page")),
        per_page=PER_PAGE,
    )
    results = campaigns_results([c.pk for c in page.rows], clock.now())
    rows = [
        {
            "campaign": c,
            "audience": texts.audience_text(c),
            "schedule": texts.schedule_text(c),
            **texts.summary_texts(results[c.pk]),
        }
        for c in page.rows
    ]
    return render(request, "web/campaigns/list.html", {"page": page, "rows": rows})


def _actions_for(campaign: Campaign) -> list[str]:
    actions = [name for name, sources in ACTIONS.items() if campaign.status in sources]
    # A campaign that has run cannot go back to draft: its recipients are decided.
    return [a for a in actions if not (a == "unschedule" and campaign.runs_count)]


def _about(campaign: Campaign) -> list[tuple[str, str]]:
    rows = [
        (_("Audience"), texts.audience_text(campaign)),
        (_("Channel"), texts.channel_text(campaign.channel)),
        (_("Template"), campaign.template.name),
    ]
    if campaign.club is not None:
        rows.append((_("Invitation to the club"), campaign.club.title))
    if campaign.template_b is not None:
        rows.append(
            (
                _("A/B test"),
                _(
                    "variant B «%(b)s» to %(sample)s %% of the audience, winner by %(metric)s "
                    "after %(hours)s h"
                )
                % {
                    "b": campaign.template_b.name,
                    "sample": campaign.ab_sample_percent,
                    "metric": texts.metric_name(campaign.ab_metric),
                    "hours": campaign.ab_wait_hours,
                },
            )
        )
    rows += [
        (_("Holdout"), f"{campaign.holdout_percent} %"),
        (_("Send window"), texts.window_text(campaign)),
        (_("Throttle"), texts.throttle_text(campaign)),
        (_("Goal"), texts.goal_text(campaign)),
        (_("When"), texts.schedule_text(campaign)),
    ]
    return rows


def _latest_run(campaign: Campaign) -> CampaignRun | None:
    return campaign.runs.order_by("-number", "-pk").first()


def progress_context(run: CampaignRun | None) -> dict[str, Any]:
    if run is None:
        return {"run": None}
    return {
        "run": run,
        "status": texts.run_status_text(run),
        "percent": campaign_progress(run),
        "running": run.status in (RunStatus.QUEUEING, RunStatus.QUEUEING_REST),
        "testing": run.status == RunStatus.TESTING,
    }


@require(VIEW)
def campaign_detail(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = object_get(
        request,
        Campaign.objects.select_related("segment", "template", "template_b", "club", "created_by"),
        pk,
        VIEW,
    )
    can_edit = staff_user(request).can(MANAGE_MARKETING)
    run = _latest_run(campaign)
    context: dict[str, Any] = {
        "campaign": campaign,
        "about": _about(campaign),
        "actions": _actions_for(campaign) if can_edit else [],
        "can_edit": can_edit and campaign.status in EDITABLE and not campaign.runs_count,
        "progress": progress_context(run),
    }
    if campaign.status in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED) and can_edit:
        # The preview reads the whole audience (seconds on a large base): only when asked.
        context["preview_offered"] = True
        if request.GET.get("preview"):
            context["preview"] = preview = campaign_preview(campaign=campaign)
            context["reasons"] = texts.preview_rows(preview)
    if run is not None:
        results = campaigns_results([campaign.pk], clock.now())[campaign.pk]
        context["results"] = texts.results_context(campaign, results)
        context["winner"] = texts.winner_text(campaign, run)
        runs = list(campaign.runs.order_by("-number", "-pk")[:RUNS_SHOWN])
        # Each send of a recurring campaign measured on its own (one query for them all).
        per_run = runs_results([r.pk for r in runs], clock.now()) if campaign.is_recurring else {}
        for each in runs:
            each.status_text = texts.run_status_text(each)  # type: ignore[attr-defined]
            if each.pk in per_run:
                each.summary = texts.summary_texts(per_run[each.pk])  # type: ignore[attr-defined]
        context["runs"] = runs
    return render(request, "web/campaigns/detail.html", context)


@require(VIEW)
def campaign_progress_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The progress block alone; htmx swaps it in every two seconds while a run queues
    (not while an A/B test waits hours for its winner)."""
    campaign = object_get(request, Campaign, pk, VIEW)
    context = {"campaign": campaign, "progress": progress_context(_latest_run(campaign))}
    return render(request, "web/campaigns/_progress.html", context)


@require(MANAGE_MARKETING)
@require_POST
def campaign_status(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = object_get(request, Campaign, pk, MANAGE_MARKETING)
    action = request.POST.get("action", "")
    if action not in _actions_for(campaign):
        messages.error(request, _("This campaign cannot do that now."))
        return redirect("web:campaign", pk=campaign.pk)
    actor = staff_user(request)
    try:
        if action == "schedule":
            campaign = campaign_schedule(campaign=campaign, actor=actor)
        elif action == "unschedule":
            campaign = campaign_unschedule(campaign=campaign, actor=actor)
        else:
            campaign = campaign_cancel(campaign=campaign, actor=actor)
    except CampaignError as exc:
        messages.error(request, texts.error_text(exc))
        return redirect("web:campaign", pk=campaign.pk)
    if action == "schedule":
        messages.success(request, texts.scheduled_text(campaign))
    elif action == "unschedule":
        messages.success(request, _("The campaign is a draft again: nothing will be sent."))
    else:
        messages.success(request, _("Campaign cancelled: messages not yet sent will not go out."))
    return redirect("web:campaign", pk=campaign.pk)
