"""One error shape for the API and the webhooks.

Validation problems answer 422 with `detail` as a list of
`{loc, field, msg, type}`; everything else answers `{"detail": "<message>"}`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pydantic
from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja import NinjaAPI, Schema
from ninja.errors import ValidationError

from lifelong.lib.errors import DomainError


class ErrorOut(Schema):
    detail: str


class FieldError(Schema):
    loc: list[str | int]
    field: str
    msg: str
    type: str


class ValidationErrorOut(Schema):
    detail: list[FieldError]


def field_error(loc: Sequence[str | int], msg: str, type: str = "value_error") -> dict[str, Any]:
    # `field` drops the location ("body", "query", ...) and the parameter name,
    # so clients can map it straight onto their own form fields.
    inner = loc[2:] or loc[1:] or loc[:1]
    return {"loc": list(loc), "field": ".".join(map(str, inner)), "msg": msg, "type": type}


def field_errors(errors: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pydantic/ninja error dicts as FieldError dicts."""
    return [field_error(tuple(e["loc"]), str(e["msg"]), str(e.get("type", ""))) for e in errors]


def pydantic_field_errors(exc: pydantic.ValidationError, *prefix: str) -> list[dict[str, Any]]:
    """Errors of a model validated outside ninja (webhooks), located like ninja's."""
    return [
        field_error((*prefix, *e["loc"]), e["msg"], e["type"])
        for e in exc.errors(include_url=False)
    ]


def domain_error(exc: DomainError, *prefix: str) -> dict[str, Any]:
    return field_error((*prefix, exc.field) if exc.field else prefix, exc.message)


def validation_response(errors: list[dict[str, Any]]) -> JsonResponse:
    return JsonResponse({"detail": errors}, status=422)


def install(api: NinjaAPI) -> None:
    """Register the handlers that turn bad input into 422 instead of 500."""

    def on_validation(request: HttpRequest, exc: Any) -> HttpResponse:
        return api.create_response(request, {"detail": field_errors(exc.errors)}, status=422)

    def on_domain(request: HttpRequest, exc: Any) -> HttpResponse:
        # Services name the field; the body parameter is always called `payload`.
        error = domain_error(exc, "body", "payload")
        return api.create_response(request, {"detail": [error]}, status=422)

    api.add_exception_handler(ValidationError, on_validation)
    api.add_exception_handler(DomainError, on_domain)


# What every read may answer besides 200.
READ_ERRORS: dict[Any, Any] = {
    frozenset({401, 403, 404}): ErrorOut,
    422: ValidationErrorOut,
}
