"""Assembly of the REST API at /api/v1 (OpenAPI at /api/v1/openapi.json, docs at /api/v1/docs)."""

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI

from lifelong.api import errors
from lifelong.api.ingest import NotFound
from lifelong.api.routers import customers, events, orders, products

api = NinjaAPI(
    title="Lifelong API",
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
api.add_router("", events.router)


@api.get("/health", auth=None, tags=["meta"])
def health(request: HttpRequest) -> dict[str, str]:
    return {"status": "ok"}
