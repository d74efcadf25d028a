"""Assembly of the REST API at /api/v1 (OpenAPI at /api/v1/openapi.json, docs at /api/v1/docs)."""

import json
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.parser import Parser

from lifelong.api import errors
from lifelong.api.ingest import NotFound
from lifelong.api.routers import (
    customers,
    early_access,
    events,
    journeys,
    loyalty,
    orders,
    products,
    reviews,
    segments,
)


class ObjectBodyParser(Parser):
    """Every request body of this API is a JSON object.

    ninja's Schema reads attributes off any value, so a bare `[]` would otherwise
    validate as an empty object and, on an upsert, create a record.
    """

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        data = json.loads(request.body)
        if not isinstance(data, dict):
            raise ValueError("the request body must be a JSON object")
        return data


api = NinjaAPI(
    title="Lifelong API",
    parser=ObjectBodyParser(),
    version="1",
    urls_namespace="api",
    description=(
        "Push customers, orders, products and events from your shop. Authenticate with "
        "`Authorization: Bearer <key>` or `X-API-Key: <key>`; send `Idempotency-Key` on "
        "writes to retry them safely."
    ),
)
errors.install(api)


@api.exception_handler(NotFound)
def not_found(request: HttpRequest, exc: NotFound) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc)}, status=404)


api.add_router("", customers.router)
api.add_router("", orders.router)
api.add_router("", products.router)
api.add_router("", journeys.router)
api.add_router("", events.router)
api.add_router("", segments.router)
api.add_router("", loyalty.router)
api.add_router("", reviews.router)
api.add_router("", early_access.router)


@api.get("/health", auth=None, tags=["meta"])
def health(request: HttpRequest) -> dict[str, str]:
    return {"status": "ok"}
