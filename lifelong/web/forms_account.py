"""Forms of signing in and of one's own account: password, two-factor codes, staff roles."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from lifelong.accounts.models import Role
from lifelong.lib.client_ip import client_ip
from lifelong.web import ratelimit


def throttled_error(wait: float) -> ValidationError:
    minutes = max(1, -(-int(wait) // 60))
    return ValidationError(
        ngettext(
            "Too many failed attempts. Try again in %(n)d minute.",
            "Too many failed attempts. Try again in %(n)d minutes.",
            minutes,
        )
        % {"n": minutes},
        code="rate_limited",
    )


class LoginForm(AuthenticationForm):
    """Django's login form, refusing to check passwords after too many failures."""

    def clean(self) -> dict[str, Any]:
        # The field has already NFKC-normalised the username, as authentication will.
        username = self.cleaned_data.get("username") or ""
        ip = client_ip(self.request) if self.request else None
        wait = ratelimit.login_blocked_for(username=username, ip=ip)
        if wait is not None:
            raise throttled_error(wait)
        return super().clean()

    def failed_on_credentials(self) -> bool:
        """Whether a password was checked and refused (not a throttled or empty form)."""
        return self.has_error(NON_FIELD_ERRORS, "invalid_login") or self.has_error(
            NON_FIELD_ERRORS, "inactive"
        )


class TotpCodeForm(forms.Form):
    code = forms.CharField(
        label=_("Code from the app"),
        max_length=16,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class StaffRoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)


class StaffAccessForm(forms.Form):
    active = forms.TypedChoiceField(
        choices=[("1", "1"), ("0", "0")], coerce=lambda value: value == "1"
    )
