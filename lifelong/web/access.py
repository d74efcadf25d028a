"""The security choke point of the staff UI: role checks and fetching objects by id.

Every view is wrapped in `require(permission)`, and every object a user reaches by
id comes through `object_get`, so per-object rules (e.g. a support agent seeing
only their own customers) can be added here once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import get_object_or_404

from lifelong.accounts.models import User

View = Callable[..., HttpResponseBase]
M = TypeVar("M", bound=Model)


def require(permission: str) -> Callable[[View], View]:
    """Let the view run only for a signed-in user whose role grants `permission` (else 403)."""

    def decorator(view: View) -> View:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            user = request.user
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            assert isinstance(user, User)
            if not user.can(permission):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        wrapped.required_permission = permission  # type: ignore[attr-defined]
        return wrapped

    return decorator


def staff_user(request: HttpRequest) -> User:
    """The signed-in staff member (views behind `require` always have one)."""
    assert isinstance(request.user, User)
    return request.user


def object_get(request: HttpRequest, source: type[M] | QuerySet[M], pk: int, permission: str) -> M:
    """Fetch one object by id for this user, or 404; 403 when the role may not act on it."""
    obj = get_object_or_404(source, pk=pk)
    if not staff_user(request).can(permission):
        raise PermissionDenied
    return obj
