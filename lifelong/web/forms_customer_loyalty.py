"""Forms of the customer card's loyalty section: a points adjustment, the personal manager."""

from __future__ import annotations

import re
import uuid
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from lifelong.accounts.models import User

# A staff correction is a correction, not a bulk import: far beyond any real one is a typo.
MAX_ADJUSTMENT = 1_000_000
_TOKEN = re.compile(r"[0-9a-f]{32}")


def staff_name(user: User) -> str:
    """How a staff member is named on the card and in the select: full name, else login."""
    return " ".join(user.get_full_name().split()) or user.get_username()


class PointsAdjustForm(forms.Form):
    points = forms.IntegerField(
        label=_("Points (+ to add, − to deduct)"),
        min_value=-MAX_ADJUSTMENT,
        max_value=MAX_ADJUSTMENT,
    )
    reason = forms.CharField(
        label=_("Reason"),
        max_length=500,
        widget=forms.TextInput(attrs={"placeholder": _("e.g. a goodwill gesture after a delay")}),
    )
    # One token per rendered form: the ledger's idempotency key, so a double click or a
    # resubmitted page posts the adjustment once.
    token = forms.CharField(widget=forms.HiddenInput, max_length=32)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial["token"] = uuid.uuid4().hex

    def clean_points(self) -> int:
        points = int(self.cleaned_data["points"])
        if points == 0:
            raise forms.ValidationError(_("Enter a number of points other than zero."))
        return points

    def clean_reason(self) -> str:
        reason = " ".join(str(self.cleaned_data["reason"]).split())
        if not reason:
            raise forms.ValidationError(_("Say why: the reason is shown on the entry."))
        return reason

    def clean_token(self) -> str:
        token = str(self.cleaned_data["token"])
        if not _TOKEN.fullmatch(token):
            raise forms.ValidationError(_("The form is out of date: open the card again."))
        return token


class _StaffChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return staff_name(obj)


def active_staff() -> QuerySet[User]:
    return User.objects.filter(is_active=True).order_by("last_name", "first_name", "username")


class PersonalManagerForm(forms.Form):
    manager = _StaffChoice(
        label=_("Personal manager"),
        queryset=User.objects.none(),
        required=False,
        empty_label=_("— none —"),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["manager"].queryset = active_staff()  # type: ignore[attr-defined]
        self.fields["manager"].widget.attrs["aria-label"] = _("Personal manager")
