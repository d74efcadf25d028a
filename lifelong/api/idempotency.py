"""`Idempotency-Key` for the API's POST and PUT operations.

Same key and same request: the first response is replayed (status and body).
Same key, other request: 422. Same key while the first is still running: the twin
waits for it and gets its response. The request runs in one transaction with its
key (see `lifelong.events.idempotency`), so a 5xx, an exception or a crash keeps
neither the work nor the key, and the client can retry.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja import Router
from ninja.decorators import decorate_view

from lifelong.api.audit import audited
from lifelong.api.auth import api_key_from_request, key_auth
from lifelong.api.errors import ErrorOut, ValidationErrorOut, field_error
from lifelong.events.idempotency import idempotent_request_claim, idempotent_request_complete
from lifelong.events.models import IdempotentRequest

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255

HEADER_DOC = {
    "name": HEADER,
    "in": "header",
    "required": False,
    "description": (
        "Any unique string (a UUID is good). Retrying with the same key returns the first "
        "response instead of doing the work twice; keys are kept for 24 hours."
    ),
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
}

# What every write may answer besides its own success codes.
WRITE_ERRORS: dict[Any, Any] = {
    frozenset({400, 401, 403, 404, 409}): ErrorOut,
    422: ValidationErrorOut,
}


def _request_hash(request: HttpRequest) -> str:
    digest = hashlib.sha256()
    for part in (request.method or "", request.get_full_path()):
        digest.update(part.encode())
        digest.update(b"\n")
    digest.update(request.body)
    return digest.hexdigest()


def _key_error(msg: str) -> JsonResponse:
    error = field_error(("header", HEADER), msg)
    return JsonResponse({"detail": [error]}, status=422)


def _replay(row: IdempotentRequest, request_hash: str) -> HttpResponse:
    if row.request_hash != request_hash:
        return _key_error("this key was already used with a different request")
    replay = HttpResponse(
        bytes(row.response_body or b""),
        status=row.status_code or 200,
        content_type="application/json; charset=utf-8",
    )
    replay["Idempotent-Replayed"] = "true"
    return replay


def idempotent(scope: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Wrap an operation's view so that it honours `Idempotency-Key`."""

    def decorator(run: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(run)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            key = request.headers.get(HEADER)
            api_key = api_key_from_request(request) if key is not None else None
            if key is None or api_key is None or not api_key.has_scope(scope):
                # Nothing to remember; authentication answers 401/403 as usual.
                return run(request, *args, **kwargs)
            if not 1 <= len(key) <= MAX_KEY_LENGTH:
                return _key_error(f"must be 1 to {MAX_KEY_LENGTH} characters long")
            request_hash = _request_hash(request)
            with transaction.atomic():
                row, claimed = idempotent_request_claim(
                    api_key=api_key, key=key, request_hash=request_hash
                )
                if not claimed:
                    return _replay(row, request_hash)
                response = run(request, *args, **kwargs)
                if response.status_code >= 500:
                    # Nothing of a failed request is kept, its key included: retry runs afresh.
                    transaction.set_rollback(True)
                else:
                    idempotent_request_complete(
                        row=row, status_code=response.status_code, body=response.content
                    )
            return response

        return wrapped

    return decorator


def write_operation(
    router: Router, method: str, path: str, *, scope: str, response: dict[Any, Any], **kwargs: Any
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a POST/PUT operation: key with `scope`, Idempotency-Key, documented errors."""

    def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
        # Audited inside the idempotency wrapper: a replayed response writes nothing new.
        func = decorate_view(audited, idempotent(scope))(func)
        return router.api_operation(
            [method],
            path,
            auth=key_auth(scope),
            response={**response, **WRITE_ERRORS},
            openapi_extra={"parameters": [HEADER_DOC]},
            **kwargs,
        )(func)

    return decorator
