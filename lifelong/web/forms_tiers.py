"""The tier editor's form: thresholds, invitation, privileges as checkboxes with their texts."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from lifelong.loyalty.models import Tier
from lifelong.loyalty.privileges import PRIVILEGES
from lifelong.loyalty.tier_editor import TIER_FIELDS


class TierForm(forms.ModelForm):
    """One tier. The code is fixed once saved: events and segments name tiers by it."""

    privileges = forms.MultipleChoiceField(
        label=_("Privileges"),
        required=False,
        choices=[(code, name) for code, (name, _text) in PRIVILEGES.items()],
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = Tier
        fields = TIER_FIELDS
        widgets = {"colour": forms.TextInput(attrs={"type": "color"})}
        help_texts = {
            "min_status_points": _("0: not used. Any threshold that is set and met is enough."),
            "min_spend": _("0: not used. Net of refunds; cancelled orders do not count."),
            "min_orders": _("0: not used."),
            "invitation_only": _("Never reached by thresholds: only set by staff."),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.fields["slug"].disabled = True

    def privilege_rows(self) -> list[dict[str, Any]]:
        """Each privilege with its description and whether it is ticked, for the template."""
        chosen = set(self["privileges"].value() or [])
        return [
            {"code": code, "name": name, "text": text, "checked": code in chosen}
            for code, (name, text) in PRIVILEGES.items()
        ]

    def draft(self) -> Tier | None:
        """The tier as typed (unsaved), when the fields are valid: what the preview counts."""
        if not self.is_valid():
            return None
        tier = Tier(pk=self.instance.pk)
        for name in TIER_FIELDS:
            setattr(tier, name, self.cleaned_data[name])
        return tier
