"""Assembly of the REST API at /api/v1."""

from ninja import NinjaAPI

api = NinjaAPI(title="Lifelong API", version="1", urls_namespace="api")


@api.get("/health", auth=None, tags=["meta"])
def health(request):  # type: ignore[no-untyped-def]
    return {"status": "ok"}
