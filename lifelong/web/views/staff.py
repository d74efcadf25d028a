"""Staff accounts, API keys and the audit log: the owner's pages."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from lifelong.accounts import services as account_services
from lifelong.accounts.models import ApiKey, AuditLog, Role, User
from lifelong.accounts.permissions import MANAGE_ACCOUNTS
from lifelong.events import webhooks
from lifelong.events.models import WebhookSource
from lifelong.web.access import object_get, require, staff_user
from lifelong.web.forms import ApiKeyForm, StaffUserForm, WebhookRotateForm, WebhookSourceForm
from lifelong.web.forms_account import StaffAccessForm, StaffRoleForm
from lifelong.web.listing import page_number, page_slice

AUDIT_PER_PAGE = 50
# The new API key's secret travels to the next page in the session and is removed
# as soon as it is shown: it is never stored anywhere else in clear.
NEW_KEY_SESSION_FIELD = "web:new-api-key"


def _staff_page(
    request: HttpRequest,
    *,
    user_form: StaffUserForm | None = None,
    key_form: ApiKeyForm | None = None,
    hook_form: WebhookSourceForm | None = None,
    status: int = 200,
) -> HttpResponse:
    context = {
        "users": list(User.objects.order_by("-is_active", "username")),
        "roles": Role.choices,
        "keys": list(ApiKey.objects.select_related("created_by").order_by("-created_at", "-pk")),
        "user_form": user_form or StaffUserForm(),
        "key_form": key_form or ApiKeyForm(),
        "new_secret": request.session.pop(NEW_KEY_SESSION_FIELD, None),
        "hooks": list(WebhookSource.objects.order_by("slug")),
        "hook_form": hook_form or WebhookSourceForm(),
        "rotate_form": WebhookRotateForm(),
        "site_url": settings.SITE_URL,
    }
    return render(request, "web/staff/index.html", context, status=status)


@require(MANAGE_ACCOUNTS)
def staff_index(request: HttpRequest) -> HttpResponse:
    return _staff_page(request)


@require(MANAGE_ACCOUNTS)
@require_POST
def staff_user_create(request: HttpRequest) -> HttpResponse:
    form = StaffUserForm(request.POST)
    if not form.is_valid():
        return _staff_page(request, user_form=form, status=400)
    user = account_services.staff_user_create(
        username=form.cleaned_data["username"],
        password=form.cleaned_data["password"],
        role=form.cleaned_data["role"],
        email=form.cleaned_data["email"],
        actor=staff_user(request),
    )
    messages.success(request, _("Staff member %(name)s created.") % {"name": user.username})
    return redirect("web:staff")


def _account_change(request: HttpRequest, change: Callable[[], None], done: str) -> HttpResponse:
    try:
        change()
    except account_services.AccountError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, done)
    return redirect("web:staff")


@require(MANAGE_ACCOUNTS)
@require_POST
def staff_user_role(request: HttpRequest, pk: int) -> HttpResponse:
    user = object_get(request, User, pk, MANAGE_ACCOUNTS)
    form = StaffRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a role from the list."))
        return redirect("web:staff")
    role = form.cleaned_data["role"]
    return _account_change(
        request,
        lambda: account_services.staff_user_role_set(
            user=user, role=role, actor=staff_user(request)
        ),
        _("%(name)s is now: %(role)s.") % {"name": user.username, "role": Role(role).label},
    )


@require(MANAGE_ACCOUNTS)
@require_POST
def staff_user_access(request: HttpRequest, pk: int) -> HttpResponse:
    user = object_get(request, User, pk, MANAGE_ACCOUNTS)
    form = StaffAccessForm(request.POST)
    if not form.is_valid():
        return redirect("web:staff")
    active = form.cleaned_data["active"]
    done = _("%(name)s can sign in again.") if active else _("%(name)s can no longer sign in.")
    return _account_change(
        request,
        lambda: account_services.staff_user_active_set(
            user=user, active=active, actor=staff_user(request)
        ),
        done % {"name": user.username},
    )


@require(MANAGE_ACCOUNTS)
@require_POST
def staff_user_two_factor_reset(request: HttpRequest, pk: int) -> HttpResponse:
    """For a lost phone: the staff member signs in with the password and sets it up again."""
    user = object_get(request, User, pk, MANAGE_ACCOUNTS)
    actor = staff_user(request)
    if user.pk == actor.pk:
        messages.error(request, _("Turn off your own two-factor sign-in on your account page."))
        return redirect("web:staff")
    account_services.totp_disable(user=user, actor=actor)
    messages.success(request, _("Two-factor sign-in of %(name)s is off.") % {"name": user.username})
    return redirect("web:staff")


@require(MANAGE_ACCOUNTS)
@require_POST
def api_key_create(request: HttpRequest) -> HttpResponse:
    form = ApiKeyForm(request.POST)
    if not form.is_valid():
        return _staff_page(request, key_form=form, status=400)
    key, secret = account_services.api_key_create(
        name=form.cleaned_data["name"],
        scopes=form.cleaned_data["scopes"],
        actor=staff_user(request),
    )
    request.session[NEW_KEY_SESSION_FIELD] = {"name": key.name, "secret": secret}
    return redirect("web:staff")


@require(MANAGE_ACCOUNTS)
@require_POST
def api_key_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    key = object_get(request, ApiKey, pk, MANAGE_ACCOUNTS)
    if key.revoked_at is None:
        account_services.api_key_revoke(key=key, actor=staff_user(request))
        messages.success(request, _("API key %(name)s revoked.") % {"name": key.name})
    return redirect("web:staff")


@require(MANAGE_ACCOUNTS)
@require_POST
def webhook_source_create(request: HttpRequest) -> HttpResponse:
    form = WebhookSourceForm(request.POST)
    if not form.is_valid():
        return _staff_page(request, hook_form=form, status=400)
    source = webhooks.webhook_source_create(
        slug=form.cleaned_data["slug"], actor=staff_user(request)
    )
    request.session[NEW_KEY_SESSION_FIELD] = {"name": source.slug, "secret": source.secret}
    return redirect("web:staff")


@require(MANAGE_ACCOUNTS)
@require_POST
def webhook_source_rotate(request: HttpRequest, pk: int) -> HttpResponse:
    source = object_get(request, WebhookSource, pk, MANAGE_ACCOUNTS)
    form = WebhookRotateForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("The old secret can keep working for 0 to 720 hours."))
        return _staff_page(request, status=400)
    source = webhooks.webhook_source_rotate(
        source=source,
        overlap=dt.timedelta(hours=form.cleaned_data["overlap_hours"]),
        actor=staff_user(request),
    )
    request.session[NEW_KEY_SESSION_FIELD] = {
        "name": source.slug,
        "secret": source.secret,
        "rotated": True,
    }
    return redirect("web:staff")


def audit_log_queryset() -> QuerySet[AuditLog]:
    """The audit log as the page and its CSV export show it, newest first."""
    return AuditLog.objects.select_related("api_key").order_by("-at", "-pk")


@require(MANAGE_ACCOUNTS)
def audit_log(request: HttpRequest) -> HttpResponse:
    page = page_slice(
        audit_log_queryset(),
        number=page_number(request.GET.get("page")),
        per_page=AUDIT_PER_PAGE,
    )
    return render(request, "web/staff/audit.html", {"page": page})
