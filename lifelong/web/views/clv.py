"""The CLV model page: the fitted parameters and how well the model forecast a holdout.

Everything shown was computed by the daily `clv_scores_refresh` sweep and stored in
ClvModelFit; a request reads the latest fits and draws them, it never fits a model.
The settings page edits ClvSettings; a refit asked for from it runs in the background.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from lifelong.accounts.permissions import MANAGE_MARKETING, VIEW
from lifelong.segments import editing
from lifelong.segments.models import ClvModelFit, ClvSettings
from lifelong.segments.scoring import MIN_REPEAT_BUYERS
from lifelong.web.access import require, staff_user
from lifelong.web.forms_analytics import ClvSettingsForm

HISTORY_SHOWN = 10


def _chart(fit: ClvModelFit) -> dict[str, Any] | None:
    report = fit.calibration
    if not report or "problem" in report:
        return None
    rows = report["rows"]
    return {
        "labels": [row["frequency"] for row in rows],
        "actual": [row["actual"] for row in rows],
        "predicted": [row["predicted"] for row in rows],
        "text": {
            "actual": _("Actual"),
            "predicted": _("Predicted"),
            "x": _("Repeat purchases in the calibration period"),
            "y": _("Purchases per customer in the holdout"),
        },
    }


@require(VIEW)
def clv_report(request: HttpRequest) -> HttpResponse:
    fits = list(ClvModelFit.objects.order_by("-fitted_at", "-pk")[:HISTORY_SHOWN])
    fit = fits[0] if fits else None
    context = {
        "fit": fit,
        "history": fits,
        "report": fit.calibration if fit else None,
        "chart": _chart(fit) if fit else None,
        "min_repeat_buyers": MIN_REPEAT_BUYERS,
    }
    return render(request, "web/clv/report.html", context)


@require(MANAGE_MARKETING)
def clv_settings(request: HttpRequest) -> HttpResponse:
    settings = ClvSettings.current()
    form = ClvSettingsForm(request.POST or None, instance=settings)
    if request.method == "POST":
        if form.is_valid():
            editing.clv_settings_update(
                values={name: form.cleaned_data[name] for name in editing.CLV_SETTINGS_FIELDS},
                actor=staff_user(request),
            )
            messages.success(
                request, _("CLV settings saved; scores use them from the next daily refresh.")
            )
            return redirect("web:clv_settings")
        status = 400
    else:
        status = 200
    context = {
        "form": form,
        "weight_fields": editing.CLV_WEIGHT_FIELDS,
        "last_fit": ClvModelFit.objects.order_by("-fitted_at", "-pk").first(),
    }
    return render(request, "web/clv/settings.html", context, status=status)


@require(MANAGE_MARKETING)
@require_POST
def clv_recalculate(request: HttpRequest) -> HttpResponse:
    if editing.clv_scores_refresh_start():
        messages.success(
            request,
            _("CLV scores are being recalculated; refresh the CLV page in a minute."),
        )
    else:
        messages.info(request, _("A recalculation is already running."))
    return redirect("web:clv_settings")
