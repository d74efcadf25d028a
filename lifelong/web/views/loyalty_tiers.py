"""The tier editor: the ordered tiers, add and edit (audited), and a preview of how many
customers the draft thresholds would put in each tier now, before anything is saved."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from lifelong.accounts.permissions import MANAGE_MARKETING
from lifelong.loyalty.models import Programme, Tier
from lifelong.loyalty.privileges import PRIVILEGES
from lifelong.loyalty.tier_editor import (
    NO_TIER,
    TIER_FIELDS,
    tier_holders,
    tier_save,
    tiers_preview,
)
from lifelong.web.access import object_get, require, staff_user
from lifelong.web.forms_tiers import TierForm


def _privilege_names(tier: Tier) -> list[str]:
    return [str(PRIVILEGES[code][0]) for code in tier.privileges if code in PRIVILEGES]


def _preview_rows(tiers: list[Tier], counts: dict[int, int]) -> list[dict[str, Any]]:
    """The preview as table rows, highest tier first; the row of customers with no tier last."""
    total = sum(counts.values()) or 1
    rows = [
        {
            "tier": tier,
            "count": counts.get(index, 0),
            "percent": 100 * counts.get(index, 0) / total,
            "reachable": tier.active and not tier.invitation_only,
        }
        for index, tier in sorted(enumerate(tiers), key=lambda p: -p[1].position)
    ]
    if counts.get(NO_TIER):
        rows.append(
            {
                "tier": None,
                "count": counts[NO_TIER],
                "percent": 100 * counts[NO_TIER] / total,
                "reachable": True,
            }
        )
    return rows


@require(MANAGE_MARKETING)
def tier_list(request: HttpRequest) -> HttpResponse:
    tiers = list(Tier.objects.order_by("-position"))
    holders = tier_holders(tiers=tiers)
    rows = [
        {"tier": t, "privileges": _privilege_names(t), "holders": holders.get(t.slug, 0)}
        for t in tiers
    ]
    context = {
        "rows": rows,
        "preview": _preview_rows(tiers, tiers_preview(tiers=tiers)) if tiers else [],
        "window_months": Programme.current().tier_window_months,
    }
    return render(request, "web/loyalty/tiers.html", context)


@require(MANAGE_MARKETING)
def tier_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """Add a tier (no pk) or edit one. "Preview" counts the draft; "Save" saves it."""
    tier = None if pk is None else object_get(request, Tier, pk, MANAGE_MARKETING)
    form = TierForm(request.POST or None, instance=tier)
    preview: list[dict[str, Any]] = []
    status = 200
    if request.method == "POST":
        draft = form.draft()
        if draft is not None and "preview" not in request.POST:
            try:
                saved = tier_save(
                    tier=tier,
                    values={name: form.cleaned_data[name] for name in TIER_FIELDS},
                    actor=staff_user(request),
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, _("Tier «%(name)s» saved.") % {"name": saved.name})
                return redirect("web:loyalty_tiers")
        if draft is not None and not form.errors:
            others = (
                list(Tier.objects.exclude(pk=draft.pk)) if draft.pk else list(Tier.objects.all())
            )
            ladder = [*others, draft]
            preview = _preview_rows(ladder, tiers_preview(tiers=ladder))
        else:
            status = 400
    context = {
        "tier": tier,
        "form": form,
        "preview": preview,
        "window_months": Programme.current().tier_window_months,
    }
    return render(request, "web/loyalty/tier.html", context, status=status)
