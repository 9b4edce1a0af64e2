"""Gunicorn settings for the web process (``deploy/bin/start-web.sh``).

Every value can be changed from the environment, like ``hema/settings.py``:
``GUNICORN_BIND`` (default ``0.0.0.0:$PORT``, ``PORT`` default 8000),
``WEB_CONCURRENCY`` (worker processes), ``GUNICORN_THREADS``, ``GUNICORN_TIMEOUT``,
``FORWARDED_ALLOW_IPS`` and ``LOG_LEVEL``.
"""

import multiprocessing
import os
from pathlib import Path

wsgi_app = "hema.wsgi:application"

# In a container the process must listen on every interface; `make serve` binds
# 127.0.0.1 through GUNICORN_BIND.
_port = os.environ.get("PORT", "8000")
bind = [os.environ.get("GUNICORN_BIND", f"0.0.0.0:{_port}")]

# Web processes are stateless; scale with replicas, not with huge pods. Each
# thread may hold one database connection (CONN_MAX_AGE), so workers x threads
# is what PostgreSQL sees per pod.
workers = int(
    os.environ.get("WEB_CONCURRENCY", min(2 * multiprocessing.cpu_count() + 1, 8))
)
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "2"))

# A request that takes longer than this is a bug or a stuck dependency.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then so that a slow leak never takes a pod down. A
# worker answers 1,000+ requests a second under load: 2,000 restarted one every
# few seconds; 100,000 (+/- 10%, so that workers do not restart together) is
# minutes apart even at full load.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "100000"))
max_requests_jitter = max_requests // 10
# Load Django once in the master and fork the workers from it: a worker that is
# recycled is ready at once instead of importing the project again (a second of
# CPU taken from the workers that are answering). Nothing opens a database or
# broker connection at import, so no socket is shared across the fork. A code
# change needs a restart of the master, not a HUP.
preload_app = os.environ.get("GUNICORN_PRELOAD", "true").lower() not in {"0", "false"}


def when_ready(server) -> None:
    """With the app preloaded, also load what Django leaves to the first request
    (the URLconf and, through it, every view module), so that a new worker's
    first answer is as quick as any other."""
    if server.cfg.preload_app:
        from django.urls import get_resolver

        get_resolver().resolve("/healthz")


# Proxies whose X-Forwarded-* headers gunicorn trusts (nginx, the ingress).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
proc_name = "hema-web"

# Heartbeat files on tmpfs (a container's disk may be slow or read-only); the
# directory is the kernel's shared-memory mount, not a world-writable scratch path.
_SHM = "/dev/shm"  # noqa: S108
if Path(_SHM).is_dir():
    worker_tmp_dir = _SHM

# Gunicorn 25+ opens a control socket under $HOME by default; the image's user
# has a read-only home and several servers may share one machine, so it stays
# off unless GUNICORN_CONTROL_SOCKET names a path.
if os.environ.get("GUNICORN_CONTROL_SOCKET"):
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]
else:
    control_socket_disable = True
