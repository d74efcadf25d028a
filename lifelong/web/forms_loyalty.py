"""Forms of the loyalty settings page: the programme and its earning rules."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from lifelong.lib.russian import plural_word
from lifelong.loyalty.editing import PROGRAMME_FIELDS, RULE_FIELDS
from lifelong.loyalty.models import EarningRule, Programme

# Event types the product records or expects from the shop; any other type may be typed in.
EVENT_TYPE_SUGGESTIONS = (
    "review_posted",
    "referral_converted",
    "survey_answered",
    "community_post",
    "community_joined",
    "community_active_week",
    "profile_completed",
    "birthday",
)


class ProgrammeForm(forms.ModelForm):
    """The programme settings; left empty, the plural forms follow the one form's grammar."""

    class Meta:
        model = Programme
        fields = PROGRAMME_FIELDS
        help_texts = {
            "name_few": _("Left empty, filled from the first form: балла."),
            "name_many": _("Left empty, filled from the first form: баллов."),
            "pending_days": _(
                "Points earned for a purchase are shown as pending and cannot be spent "
                "until the return window is over; a return before then simply cancels them."
            ),
            "expiry_months": _("Each earn expires on its own date; the oldest are spent first."),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        for name in ("name_few", "name_many"):
            self.fields[name].required = False

    def _plural(self, name: str, n: int) -> str:
        # name_one is cleaned before the plural forms (the fields' order).
        given: str = (self.cleaned_data.get(name) or "").strip()
        one = (self.cleaned_data.get("name_one") or "").strip()
        return given or (plural_word(n, one) if one else "")

    def clean_name_few(self) -> str:
        return self._plural("name_few", 2)

    def clean_name_many(self) -> str:
        return self._plural("name_many", 5)


class EarningRuleForm(forms.ModelForm):
    """One earning rule; the fields a kind does not use are ignored by the earning sweep."""

    class Meta:
        model = EarningRule
        fields = RULE_FIELDS
        widgets = {
            "event_type": forms.TextInput(attrs={"list": "event-types", "autocomplete": "off"})
        }
        help_texts = {
            "rate": _("Points per N roubles (1 per 100 is 1 %), or a percent paid back in points."),
            "multiplier": _("For a category or product rule: the base rate times this."),
            "cap_count": _("For an action: at most this many awards per customer per period."),
            "cooldown_minutes": _(
                "For an action: a customer's next award comes no sooner than this; "
                "a flood of messages in a chat earns what one message does."
            ),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        # Left empty: no cooldown (rules saved before the field existed post without it).
        self.fields["cooldown_minutes"].required = False

    def clean_cooldown_minutes(self) -> int:
        return int(self.cleaned_data.get("cooldown_minutes") or 0)
