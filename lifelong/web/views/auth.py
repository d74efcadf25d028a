"""Signing in (password, then a two-factor code when it is on), out, and password reset.

Every failed check counts in `ratelimit` and lands in the audit log with the
normalised login (never the password); every sign-in and sign-out is audited.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import PasswordResetForm, SetPasswordForm
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
)
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.translation import gettext as _

from lifelong.accounts.models import User
from lifelong.accounts.services import audit_record, totp_check
from lifelong.lib.client_ip import client_ip
from lifelong.web import ratelimit
from lifelong.web.forms_account import LoginForm, TotpCodeForm, throttled_error
from lifelong.web.staff_session import session_stamp

# Who passed the password step and now owes a code: kept in the (not yet signed-in) session.
PENDING_SESSION_FIELD = "web:login-pending"
PENDING_SECONDS = 5 * 60


def _login_failed(request: HttpRequest, *, username: str, step: str) -> None:
    ratelimit.login_failed(username=username, ip=client_ip(request))
    audit_record(
        actor=None,
        action="user.login_failed",
        object_type="accounts.user",
        changes={"username": ratelimit.username_normalize(username), "step": step},
    )


def _login_complete(
    request: HttpRequest, *, user: User, backend: str, two_factor: bool, next_url: str
) -> HttpResponse:
    auth_login(request, user, backend=backend)
    session_stamp(request)
    ratelimit.login_succeeded(username=user.get_username(), ip=client_ip(request))
    audit_record(actor=user, action="user.login", obj=user, changes={"two_factor": two_factor})
    return HttpResponseRedirect(next_url)


class LoginView(auth_views.LoginView):
    template_name = "web/login.html"
    form_class = LoginForm
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["password_reset"] = bool(settings.EMAIL_HOST)
        return context

    def form_valid(self, form: LoginForm) -> HttpResponse:  # type: ignore[override]
        user = form.get_user()
        assert isinstance(user, User)
        backend: str = user.backend  # type: ignore[attr-defined]  # set by authenticate()
        if not user.has_two_factor:
            return _login_complete(
                self.request,
                user=user,
                backend=backend,
                two_factor=False,
                next_url=self.get_success_url(),
            )
        self.request.session[PENDING_SESSION_FIELD] = {
            "user": user.pk,
            "backend": backend,
            "next": self.get_success_url(),
            "since": time.time(),
        }
        return redirect("web:login_verify")

    def form_invalid(self, form: LoginForm) -> HttpResponse:  # type: ignore[override]
        if form.failed_on_credentials():
            username = form.cleaned_data.get("username", "")
            _login_failed(self.request, username=username, step="password")
        return super().form_invalid(form)


def login_verify(request: HttpRequest) -> HttpResponse:
    """The second step: the current code from the authenticator app."""
    pending: dict[str, Any] = request.session.get(PENDING_SESSION_FIELD) or {}
    user = None
    if pending and time.time() - pending["since"] < PENDING_SECONDS:
        user = User.objects.filter(pk=pending["user"], is_active=True).first()
    if user is None or not user.has_two_factor:
        request.session.pop(PENDING_SESSION_FIELD, None)
        return redirect("web:login")
    form = TotpCodeForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        wait = ratelimit.login_blocked_for(username=user.get_username(), ip=client_ip(request))
        if wait is not None:
            form.add_error(None, throttled_error(wait))
        elif totp_check(user=user, code=form.cleaned_data["code"]):
            del request.session[PENDING_SESSION_FIELD]
            return _login_complete(
                request,
                user=user,
                backend=pending["backend"],
                two_factor=True,
                next_url=pending["next"],
            )
        else:
            _login_failed(request, username=user.get_username(), step="two_factor")
            form.add_error(
                "code", _("This code is wrong or already used. Enter the current one from the app.")
            )
    status = 400 if form.errors else 200
    return render(request, "web/login_verify.html", {"form": form}, status=status)


class LogoutView(auth_views.LogoutView):
    """POST only (Django's default): a link or an image tag cannot sign staff out."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if isinstance(request.user, User):
            audit_record(actor=request.user, action="user.logout", obj=request.user)
        return super().post(request, *args, **kwargs)


def _require_staff_mail(request: HttpRequest) -> None:
    if not settings.EMAIL_HOST:
        raise Http404("password reset by email is off: LIFELONG_EMAIL_HOST is not set")


class PasswordResetView(auth_views.PasswordResetView):
    """Mails a one-time link to a staff member who has forgotten their password."""

    template_name = "web/account/password_reset.html"
    email_template_name = "web/account/password_reset_email.txt"
    subject_template_name = "web/account/password_reset_subject.txt"
    success_url = reverse_lazy("web:password_reset_sent")

    @property
    def extra_email_context(self) -> dict[str, str]:
        # Links point at the configured address, never at the Host header of the request.
        return {"site_url": settings.SITE_URL}

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        _require_staff_mail(request)
        return super().dispatch(request, *args, **kwargs)

    def form_valid(self, form: PasswordResetForm) -> HttpResponse:
        email = form.cleaned_data["email"]
        if not ratelimit.password_reset_allowed(email=email, ip=client_ip(self.request)):
            form.add_error(None, _("Too many reset requests. Try again later."))
            return self.form_invalid(form)
        audit_record(
            actor=None,
            action="user.password_reset_request",
            object_type="accounts.user",
            changes={"email": email},
        )
        return super().form_valid(form)


def password_reset_sent(request: HttpRequest) -> HttpResponse:
    _require_staff_mail(request)
    return render(request, "web/account/password_reset_sent.html")


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "web/account/password_reset_confirm.html"
    success_url = reverse_lazy("web:login")

    def form_valid(self, form: SetPasswordForm) -> HttpResponse:
        response = super().form_valid(form)
        audit_record(actor=form.user, action="user.password_reset", obj=form.user)
        messages.success(self.request, _("Password changed. Sign in with the new one."))
        return response
