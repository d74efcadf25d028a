"""The customer's tier on the card: where they stand, and a tier set by hand until a date.

The card includes the section with `{% load tiers %}{% customer_tier customer %}`; this page
shows the same section alone and takes the form (owner and marketer; audited by the service).
A manual tier always ends on its date, so it never silently becomes a floor.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from lifelong import clock
from lifelong.accounts.models import User
from lifelong.accounts.permissions import MANAGE_MARKETING, VIEW
from lifelong.customers.models import Customer
from lifelong.loyalty.models import CustomerTier, Tier
from lifelong.loyalty.tiers import TierError, tier_progress, tier_set_manual
from lifelong.web.access import object_get, require, staff_user
from lifelong.web.forms import Form

# How far ahead a manual tier may run: a year, then staff decide again.
LONGEST_DAYS = 366


class ManualTierForm(Form):
    tier = forms.ModelChoiceField(
        label=gettext_lazy("Tier"),
        queryset=Tier.objects.filter(active=True).order_by("-position"),
        required=False,
        empty_label=gettext_lazy("— none: end the tier set by hand"),
    )
    until = forms.DateField(
        label=gettext_lazy("Until (inclusive)"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=500)

    def clean_until(self) -> dt.date | None:
        until: dt.date | None = self.cleaned_data.get("until")
        today = clock.now().astimezone(zoneinfo.ZoneInfo(settings.TIME_ZONE)).date()
        if until is not None and until > today + dt.timedelta(days=LONGEST_DAYS):
            raise forms.ValidationError(_("At most a year ahead."))
        return until

    def until_instant(self) -> dt.datetime | None:
        """The end of the chosen day in the shop's time zone."""
        until = self.cleaned_data.get("until")
        if until is None:
            return None
        start = dt.datetime.combine(until, dt.time(0), tzinfo=zoneinfo.ZoneInfo(settings.TIME_ZONE))
        return start + dt.timedelta(days=1)


def tier_section(
    customer: Customer, user: User, form: ManualTierForm | None = None
) -> dict[str, Any]:
    """The card's tier section as template context (five queries)."""
    progress = tier_progress(customer_id=customer.pk)
    row = (
        CustomerTier.objects.filter(customer_id=customer.pk)
        .select_related("manual_tier", "manual_by")
        .first()
    )
    can_set = user.can(MANAGE_MARKETING) and customer.merged_into_id is None
    manual = row if row is not None and row.manual_tier_id else None
    return {
        "customer": customer,
        "progress": progress,
        "manual": manual,
        "tier_form": form or (ManualTierForm() if can_set else None),
    }


@require(VIEW)
def customer_tier(request: HttpRequest, pk: int) -> HttpResponse:
    customer = object_get(request, Customer, pk, VIEW)
    user = staff_user(request)
    if request.method != "POST":
        return render(request, "web/customers/tier.html", tier_section(customer, user))
    customer = object_get(request, Customer, pk, MANAGE_MARKETING)
    form = ManualTierForm(request.POST)
    if customer.merged_into_id is not None:
        form.add_error(None, _("This customer was merged into another one."))
    if form.is_valid():
        tier = form.cleaned_data["tier"]
        try:
            tier_set_manual(
                customer_id=customer.pk,
                tier=tier,
                until=form.until_instant() if tier is not None else None,
                actor=user,
                reason=form.cleaned_data["reason"],
            )
        except TierError as exc:
            field = exc.field if exc.field in form.fields else None
            form.add_error(field, exc.message)
        else:
            if tier is None:
                messages.success(request, _("The tier set by hand has ended."))
            else:
                messages.success(
                    request,
                    _("Tier «%(tier)s» set until %(date)s.")
                    % {"tier": tier.name, "date": form.cleaned_data["until"].strftime("%d.%m.%Y")},
                )
            return redirect(reverse("web:customer", kwargs={"pk": customer.pk}) + "#tier")
    context = tier_section(customer, user, form)
    return render(request, "web/customers/tier.html", context, status=400)
