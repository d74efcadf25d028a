"""`/healthz`: for the proxy, a load balancer or a process supervisor to ask "are you up?".

It answers without a session and is exempt from the HTTPS redirect, so a probe on the local
port gets an answer; "up" means the app serves and reaches its database.
"""

from __future__ import annotations

from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse


def healthz(request: HttpRequest) -> JsonResponse:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return JsonResponse({"status": "database unavailable"}, status=503)
    return JsonResponse({"status": "ok"})
