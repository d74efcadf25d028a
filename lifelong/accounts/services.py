"""Writes for staff accounts, API keys and the audit log."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from lifelong import clock
from lifelong.accounts.models import ApiKey, AuditLog, Role, User


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
    """Append one line to the audit log."""
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
    return AuditLog.objects.create(
        actor=actor,
        actor_label=actor.get_username() if actor else "",
        action=action,
        object_type=object_type,
        object_id=object_id,
        changes=changes or {},
        ip=ip,
    )


@transaction.atomic
def staff_user_create(
    *, username: str, password: str, role: str, email: str = "", actor: User | None = None
) -> User:
    if role not in Role.values:
        raise ValueError(f"unknown role {role!r}")
    user = User.objects.create_user(
        username=username,
        password=password,
        email=email,
        role=role,
        is_staff=role == Role.OWNER,
        is_superuser=role == Role.OWNER,
    )
    audit_record(actor=actor, action="user.create", obj=user, changes={"role": role})
    return user


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
