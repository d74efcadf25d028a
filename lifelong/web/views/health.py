"""`/healthz` and `/metrics`: for the proxy, a load balancer, a process supervisor or Prometheus.

`/healthz` answers without a session and is exempt from the HTTPS redirect, so a probe on the
local port gets an answer. It is 503 only when the database is unreachable or not migrated (the
node cannot serve); a broker it cannot reach (Celery mode) or a sweep waiting longer than
`SWEEP_LATE` (lifelong.jobs.schedule) makes it "degraded" with 200, since the node still serves
and taking it out of a load balancer would not help.

`/metrics` answers only a request bearing LIFELONG_METRICS_TOKEN, and is 404 while it is unset.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache

BROKER_TIMEOUT_SECONDS = 2


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    from lifelong.jobs.schedule import sweeps_status

    try:
        statuses = sweeps_status()
    except DatabaseError:
        return JsonResponse({"status": "database unavailable"}, status=503)
    late = {s.sweep.name: round(s.lag.total_seconds()) for s in statuses if s.late}
    broker = _broker_check() if settings.SCHEDULER == "celery" else "not used"
    healthy = not late and broker in {"ok", "not used"}
    return JsonResponse(
        {
            "status": "ok" if healthy else "degraded",
            "database": "ok",
            "broker": broker,
            "sweeps_late_seconds": late,
        }
    )


def _broker_check() -> str:
    from kombu import Connection

    try:
        with Connection(settings.CELERY_BROKER_URL, connect_timeout=BROKER_TIMEOUT_SECONDS) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception:
        # Whatever kombu raises for this transport, the answer is the same.
        return "unavailable"
    return "ok"


@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    from prometheus_client import CONTENT_TYPE_LATEST

    from lifelong.jobs.metrics import metrics_render

    token = settings.METRICS_TOKEN
    if not token:
        raise Http404
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        response = HttpResponse("a bearer token is required\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(metrics_render(), content_type=CONTENT_TYPE_LATEST)
