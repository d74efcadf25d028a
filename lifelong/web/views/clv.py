"""The CLV model page: the fitted parameters and how well the model forecast a holdout.

Everything shown was computed by the daily `clv_scores_refresh` sweep and stored in
ClvModelFit; a request reads the latest fits and draws them, it never fits a model.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from lifelong.accounts.permissions import VIEW
from lifelong.segments.models import ClvModelFit
from lifelong.web.access import require

HISTORY_SHOWN = 10


def _chart(fit: ClvModelFit) -> dict[str, Any] | None:
    report = fit.calibration
    if not report:
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
    }
    return render(request, "web/clv/report.html", context)
