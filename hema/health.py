"""Liveness and readiness for load balancers: 200 when the database answers."""

import logging

from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse

logger = logging.getLogger(__name__)


def healthz(request: HttpRequest) -> JsonResponse:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        logger.warning("health check: database unavailable: %s", exc)
        # The full error (host, port, user) goes to the log, not to the public.
        reason = f"database unreachable ({type(exc).__name__})"
        return JsonResponse(
            {"status": "unavailable", "database": "error", "reason": reason},
            status=503,
        )
    return JsonResponse({"status": "ok", "database": "ok"})
