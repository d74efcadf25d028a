"""One audit line per API write that succeeded: which key, what it called, from where.

Writes such as orders and events leave no audit line of their own, so this is how an
owner finds which integration changed something. Lines written by the services during
the request carry the key as well (see `lifelong.accounts.origin`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse

from lifelong.accounts.services import audit_record
from lifelong.api.auth import api_key_from_request


def audited(run: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Wrap an API write operation (its authentication included) to audit it when it succeeds."""

    @wraps(run)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = run(request, *args, **kwargs)
        key = api_key_from_request(request)
        if key is not None and response.status_code < 400:
            audit_record(
                actor=None,
                action="api.write",
                obj=key,
                changes={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                },
            )
        return response

    return wrapped
