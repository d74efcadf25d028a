"""One's own account: the password and two-factor sign-in."""

from __future__ import annotations

import io
from typing import Any

import segno
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import PasswordChangeForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from lifelong.accounts.permissions import VIEW
from lifelong.accounts.services import audit_record, totp_check, totp_disable, totp_enable
from lifelong.lib.totp import otpauth_uri, totp_secret_new
from lifelong.web.access import require, staff_user
from lifelong.web.forms_account import TotpCodeForm

# The secret being enrolled lives in the session until a code proves the app has it.
ENROL_SESSION_FIELD = "web:totp-enrol"
ISSUER = "Lifelong"


@require(VIEW)
def account(request: HttpRequest) -> HttpResponse:
    user = staff_user(request)
    context = {"required": user.two_factor_required, "disable_form": TotpCodeForm()}
    return render(request, "web/account/index.html", context)


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "web/account/password_change.html"
    success_url = reverse_lazy("web:account")

    def form_valid(self, form: PasswordChangeForm) -> HttpResponse:
        response = super().form_valid(form)
        audit_record(actor=form.user, action="user.password_change", obj=form.user)
        messages.success(
            self.request,
            _("Password changed. Other browsers signed in as you have been signed out."),
        )
        return response


password_change = require(VIEW)(PasswordChangeView.as_view())


def _qr_svg(uri: str) -> str:
    out = io.BytesIO()
    segno.make(uri, error="m").save(
        out, kind="svg", xmldecl=False, svgclass="qr", lineclass=None, scale=4, border=2
    )
    # segno writes the SVG from the URI's bits alone: no text of ours or the user's is in it.
    return mark_safe(out.getvalue().decode())  # noqa: S308


def _enrol_page(request: HttpRequest, *, form: TotpCodeForm, status: int = 200) -> HttpResponse:
    user = staff_user(request)
    secret = request.session.get(ENROL_SESSION_FIELD) or totp_secret_new()
    request.session[ENROL_SESSION_FIELD] = secret
    uri = otpauth_uri(secret=secret, account=user.get_username(), issuer=ISSUER)
    context: dict[str, Any] = {
        "form": form,
        "secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        "uri": uri,
        "qr": _qr_svg(uri),
        "required": user.two_factor_required,
    }
    return render(request, "web/account/two_factor.html", context, status=status)


@require(VIEW)
def two_factor(request: HttpRequest) -> HttpResponse:
    """Set up two-factor sign-in: scan the code, then prove it with the first code."""
    user = staff_user(request)
    if user.has_two_factor:
        return redirect("web:account")
    if request.method != "POST":
        return _enrol_page(request, form=TotpCodeForm())
    form = TotpCodeForm(request.POST)
    secret = request.session.get(ENROL_SESSION_FIELD)
    if form.is_valid() and secret:
        if totp_enable(user=user, secret=secret, code=form.cleaned_data["code"]):
            del request.session[ENROL_SESSION_FIELD]
            messages.success(request, _("Two-factor sign-in is on."))
            return redirect("web:account")
        form.add_error("code", _("This code does not match. Enter the current one from the app."))
    return _enrol_page(request, form=form, status=400)


@require(VIEW)
@require_POST
def two_factor_disable(request: HttpRequest) -> HttpResponse:
    user = staff_user(request)
    form = TotpCodeForm(request.POST)
    if user.two_factor_required:
        messages.error(request, _("Owners must keep two-factor sign-in on."))
    elif form.is_valid() and totp_check(user=user, code=form.cleaned_data["code"]):
        totp_disable(user=user, actor=user)
        messages.success(request, _("Two-factor sign-in is off."))
    else:
        messages.error(
            request, _("This code is wrong or already used; two-factor sign-in stays on.")
        )
    return redirect("web:account")
