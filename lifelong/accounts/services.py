"""Writes for staff accounts, two-factor sign-in, API keys and the audit log."""

from __future__ import annotations

import time
from typing import Any

from django.contrib.auth import password_validation
from django.db import transaction
from django.utils.translation import gettext as _

from lifelong import clock
from lifelong.accounts.models import ApiKey, AuditLog, Role, User
from lifelong.accounts.origin import request_origin
from lifelong.lib.errors import DomainError
from lifelong.lib.totp import totp_match


class AccountError(DomainError):
    """A change to staff accounts that would leave Lifelong without an owner, or similar."""


def audit_record(
    *,
    actor: User | None,
    action: str,
    obj: Any = None,
    object_type: str = "",
    object_id: str = "",
    changes: dict[str, Any] | None = None,
    ip: str | None = None,
) -> AuditLog:
    """Append one line to the audit log, with the address and API key of the current request."""
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
    origin = request_origin()
    return AuditLog.objects.create(
        actor=actor,
        actor_label=actor.get_username() if actor else "",
        api_key=origin.api_key if origin else None,
        action=action,
        object_type=object_type,
        object_id=object_id,
        changes=changes or {},
        ip=ip or (origin.ip if origin else None),
    )


@transaction.atomic
def staff_user_create(
    *, username: str, password: str, role: str, email: str = "", actor: User | None = None
) -> User:
    """Create a staff member; the password must pass AUTH_PASSWORD_VALIDATORS (ValidationError)."""
    if role not in Role.values:
        raise ValueError(f"unknown role {role!r}")
    user = User(username=username, email=email, role=role)
    password_validation.validate_password(password, user)
    user.set_password(password)
    user.save()
    audit_record(actor=actor, action="user.create", obj=user, changes={"role": role})
    return user


def _guard(*, user: User, actor: User, loses_an_owner: bool) -> None:
    """Refuse changes staff make to themselves, and any that would leave no active owner."""
    if user.pk == actor.pk:
        raise AccountError(_("You cannot change your own role or access; ask another owner."))
    if not loses_an_owner:
        return
    # Locking every owner's row makes two owners demoting each other at once take turns.
    owners = User.objects.select_for_update().filter(role=Role.OWNER, is_active=True)
    if set(owners.values_list("pk", flat=True)) <= {user.pk}:
        raise AccountError(_("Lifelong needs at least one active owner."))


@transaction.atomic
def staff_user_role_set(*, user: User, role: str, actor: User) -> None:
    """Give a staff member another role; it applies from their next request."""
    if role not in Role.values:
        raise ValueError(f"unknown role {role!r}")
    if role == user.role:
        return
    _guard(user=user, actor=actor, loses_an_owner=user.role == Role.OWNER and user.is_active)
    before, user.role = user.role, role
    user.save(update_fields=["role"])
    audit_record(actor=actor, action="user.role_set", obj=user, changes={"role": [before, role]})


@transaction.atomic
def staff_user_active_set(*, user: User, active: bool, actor: User) -> None:
    """Deactivate (their sessions stop working at once) or reactivate a staff member."""
    if active == user.is_active:
        return
    _guard(user=user, actor=actor, loses_an_owner=not active and user.role == Role.OWNER)
    user.is_active = active
    user.save(update_fields=["is_active"])
    audit_record(actor=actor, action="user.activate" if active else "user.deactivate", obj=user)


def totp_check(*, user: User, code: str) -> bool:
    """Whether the code is the user's current one and unused; using it spends it."""
    if not user.totp_secret:
        return False
    step = totp_match(user.totp_secret, code, at=time.time())
    if step is None:
        return False
    # A conditional update, so two requests with one code cannot both succeed.
    spent = User.objects.filter(pk=user.pk, totp_last_step__lt=step).update(totp_last_step=step)
    if spent:
        user.totp_last_step = step
    return bool(spent)


@transaction.atomic
def totp_enable(*, user: User, secret: str, code: str) -> bool:
    """Turn two-factor sign-in on once the user proves their app has the secret."""
    step = totp_match(secret, code, at=time.time())
    if step is None:
        return False
    user.totp_secret, user.totp_last_step = secret, step
    user.save(update_fields=["totp_secret", "totp_last_step"])
    audit_record(actor=user, action="user.two_factor_enable", obj=user)
    return True


@transaction.atomic
def totp_disable(*, user: User, actor: User) -> None:
    """Turn two-factor sign-in off: by the user, or by an owner when a phone is lost."""
    if not user.totp_secret:
        return
    user.totp_secret, user.totp_last_step = "", 0
    user.save(update_fields=["totp_secret", "totp_last_step"])
    audit_record(actor=actor, action="user.two_factor_disable", obj=user)


@transaction.atomic
def api_key_create(
    *, name: str, scopes: list[str], actor: User | None = None
) -> tuple[ApiKey, str]:
    """Create a key; returns it with the secret, which is never stored in clear."""
    prefix, secret = ApiKey.new_secret()
    key = ApiKey.objects.create(
        name=name,
        prefix=prefix,
        key_hash=ApiKey.hash_secret(secret),
        scopes=scopes,
        created_by=actor,
    )
    audit_record(actor=actor, action="api_key.create", obj=key, changes={"scopes": scopes})
    return key, secret


@transaction.atomic
def api_key_revoke(*, key: ApiKey, actor: User | None) -> None:
    key.revoked_at = clock.now()
    key.save(update_fields=["revoked_at"])
    audit_record(actor=actor, action="api_key.revoke", obj=key)
