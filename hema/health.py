"""Liveness and readiness for load balancers: each dependency's state.

``/healthz`` answers 503 only when the database is gone: without it nothing
works. A cache or broker that is gone degrades the service (throttles fail
open, tasks wait for the sweeps), so the answer stays 200 with
``"status": "degraded"`` and names the part that is away. The database is
asked on every call; the cache and the broker at most once per
``HEMA_HEALTH_PROBE_SECONDS`` per process, so that a load balancer polling
every second costs them nothing much.
"""

import logging
import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse

logger = logging.getLogger(__name__)

_probes: dict[str, tuple[float, str]] = {}
_probes_lock = threading.Lock()


def _probe(name: str, check: Callable[[], None]) -> str:
    """``"ok"`` or ``"error"`` for one dependency, remembered for a few seconds."""
    now = time.monotonic()
    with _probes_lock:
        seen = _probes.get(name)
    if seen is not None and now - seen[0] < settings.HEMA_HEALTH_PROBE_SECONDS:
        return seen[1]
    try:
        check()
        state = "ok"
    except Exception as exc:  # any failure means "not usable" here
        logger.warning("health check: %s unavailable: %s", name, exc)
        state = "error"
    with _probes_lock:
        _probes[name] = (time.monotonic(), state)
    return state


def _check_cache() -> None:
    ping = getattr(cache, "ping", None)
    if ping is not None and not ping():
        raise ConnectionError("the cache does not answer")
    # Local memory (the embedded default) is always there.


def _check_broker() -> None:
    from hema.celery import app

    with app.connection_for_write() as conn:
        conn.connect_timeout = settings.HEMA_HEALTH_BROKER_TIMEOUT_SECONDS
        conn.ensure_connection(max_retries=0)


def healthz(request: HttpRequest) -> JsonResponse:
    states = {
        "cache": _probe("cache", _check_cache),
        "broker": _probe("broker", _check_broker),
    }
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        logger.warning("health check: database unavailable: %s", exc)
        # The full error (host, port, user) goes to the log, not to the public.
        reason = f"database unreachable ({type(exc).__name__})"
        return JsonResponse(
            {"status": "unavailable", "database": "error", **states, "reason": reason},
            status=503,
        )
    status = "ok" if set(states.values()) == {"ok"} else "degraded"
    return JsonResponse({"status": status, "database": "ok", **states})
