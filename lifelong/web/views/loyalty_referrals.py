"""The referrals page: the referral settings (audited) and the latest referrals with their
status and, for refused ones, the reason (owner and marketer)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.db.models import Count, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from lifelong.accounts.permissions import MANAGE_MARKETING
from lifelong.loyalty.models import (
    Programme,
    Referral,
    ReferralCode,
    ReferralSettings,
    ReferralStatus,
)
from lifelong.loyalty.referrals import SETTINGS_FIELDS, referral_settings_update
from lifelong.web.access import require, staff_user

LATEST = 50


class ReferralSettingsForm(forms.ModelForm):
    shop_url = forms.URLField(
        label=gettext_lazy("shop address the referral link opens"),
        required=False,
        assume_scheme="https",
        help_text=gettext_lazy(
            "The referral link /c/ref/<code> counts the visit and opens this address "
            "with ?ref=<code>; the shop sends the code back as the customer's "
            "referral_code attribute or as the order's coupon."
        ),
    )

    class Meta:
        model = ReferralSettings
        fields = SETTINGS_FIELDS
        help_texts = {
            "condition": gettext_lazy(
                "The friend's first order waiting out the return window is the safe choice: "
                "a returned order brings nothing."
            ),
            "limit_count": gettext_lazy(
                "Friends over the limit are recorded as refused, with the reason. 0: no limit."
            ),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


def _page(request: HttpRequest, form: ReferralSettingsForm, status: int = 200) -> HttpResponse:
    wanted = request.GET.get("status", "")
    referrals = Referral.objects.select_related("referrer", "friend", "order").order_by("-pk")
    if wanted in ReferralStatus.values:
        referrals = referrals.filter(status=wanted)
    by_status = dict(
        Referral.objects.order_by()
        .values("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    programme = Programme.current()
    context = {
        "form": form,
        "referrals": referrals[:LATEST],
        "latest": LATEST,
        "statuses": ReferralStatus.choices,
        "wanted": wanted,
        "by_status": [
            (value, label, by_status.get(value, 0)) for value, label in ReferralStatus.choices
        ],
        "codes": ReferralCode.objects.aggregate(n=Count("pk"), visits=Sum("visits")),
        "programme_on": programme.enabled,
        "pending_days": programme.pending_days,
    }
    return render(request, "web/loyalty/referrals.html", context, status=status)


@require(MANAGE_MARKETING)
def loyalty_referrals(request: HttpRequest) -> HttpResponse:
    form = ReferralSettingsForm(request.POST or None, instance=ReferralSettings.current())
    if request.method == "POST":
        if form.is_valid():
            referral_settings_update(
                values={name: form.cleaned_data[name] for name in SETTINGS_FIELDS},
                actor=staff_user(request),
            )
            messages.success(request, _("Referral settings saved."))
            return redirect("web:loyalty_referrals")
        return _page(request, form, status=400)
    return _page(request, form)
