"""Forms of the analytics pages: churn reasons on the customer card, the CLV settings."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.core.validators import MinValueValidator
from django.utils.translation import gettext_lazy as _

from lifelong.segments.editing import CLV_SETTINGS_FIELDS, CLV_WEIGHT_FIELDS
from lifelong.segments.models import ChurnKind, ChurnReason, ClvSettings
from lifelong.web.forms import Form


class ChurnReasonForm(Form):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=ChurnReason._meta.get_field("reason").max_length,
        help_text=_("In a few words, the same way each time: they add up on the dashboard."),
        widget=forms.TextInput(attrs={"list": "churn-suggestions", "autocomplete": "off"}),
    )
    # No default: which kind it was is the point of recording it, so staff choose.
    kind = forms.ChoiceField(
        label=_("Could we have prevented it?"),
        choices=[("", "—"), *ChurnKind.choices],
    )

    def clean_reason(self) -> str:
        reason: str = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError(_("Say why in a few words."))
        return reason


class ClvSettingsForm(forms.ModelForm):
    """Every setting of the CLV scoring; the model's clean() checks the horizon and the rate."""

    class Meta:
        model = ClvSettings
        fields = CLV_SETTINGS_FIELDS
        help_texts = {
            "months": _("How far ahead the predicted CLV looks, 1 to 120 months."),
            "monthly_discount_rate": _(
                "Money later is worth less: 0.01 discounts about 12.7 % a year."
            ),
            "holdout_weeks": _("The calibration check hides these last weeks from the model."),
            "engagement_days": _("Reviews, answers, posts and replies count over this window."),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        # A negative weight would make engaging with us lower a customer's value.
        for name in CLV_WEIGHT_FIELDS:
            field = self.fields[name]
            field.validators.append(MinValueValidator(Decimal(0)))
            field.widget.attrs["min"] = "0"
        self.fields["engagement_days"].validators.append(MinValueValidator(1))
        # The browser's hints for the ranges the model's clean() enforces.
        for name, attrs in {
            "engagement_days": {"min": "1"},
            "months": {"min": "1", "max": "120"},
            "holdout_weeks": {"min": "1"},
            "monthly_discount_rate": {"min": "0", "max": "0.9999"},
        }.items():
            self.fields[name].widget.attrs.update(attrs)
