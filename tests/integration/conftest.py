"""A real Celery worker on a real broker, against the test database.

The worker is a subprocess (``celery -A hema worker``) with ``tests.settings``,
eager mode off, the test database as its ``DATABASE_URL`` and the broker from
``CI_BROKER_URL``. It consumes a queue named for this run only, so it never takes
a message another run left behind; the queue is deleted afterwards.
"""

import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from kombu import Connection

from hema.celery import app

DEFAULT_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672//"

BROKER_CONNECT_SECONDS = 5
WORKER_STOP_SECONDS = 20

requires_shared_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="the worker is another process: it needs a PostgreSQL test database "
    "it can share (set DATABASE_URL to a PostgreSQL database)",
)


def database_url(settings_dict: dict) -> str:
    """A ``DATABASE_URL`` for the database this connection uses (the test one)."""
    user = quote(settings_dict.get("USER") or "", safe="")
    password = quote(settings_dict.get("PASSWORD") or "", safe="")
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "localhost"
    port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
    name = quote(settings_dict["NAME"], safe="")
    return f"postgres://{credentials}{host}{port}/{name}"


def broker_unreachable(url: str) -> str | None:
    """Why the broker at ``url`` cannot be used, or None when it answers."""
    with Connection(url, connect_timeout=BROKER_CONNECT_SECONDS) as conn:
        try:
            conn.connect()
        except (OSError, *conn.connection_errors, *conn.channel_errors) as exc:
            return f"broker {conn.as_uri()} unusable: {exc}"
    return None


@pytest.fixture(scope="session")
def broker_url() -> str:
    url = os.environ.get("CI_BROKER_URL", DEFAULT_BROKER_URL)
    reason = broker_unreachable(url)
    if reason:
        pytest.skip(f"{reason} (set CI_BROKER_URL to a running RabbitMQ)")
    return url


@pytest.fixture
def broker_app(broker_url):
    """The project's Celery app sending to the real broker, restored afterwards."""
    changes = {
        "broker_url": broker_url,
        "broker_transport_options": {},
        "task_always_eager": False,
    }
    saved = {key: app.conf[key] for key in changes}
    app.conf.update(changes)
    try:
        yield app
    finally:
        app.conf.update(saved)


@dataclass(frozen=True)
class Worker:
    process: subprocess.Popen
    queue: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def stop(process: subprocess.Popen) -> None:
    """Warm shutdown (SIGTERM lets the solo pool finish its task), then kill."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(WORKER_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(WORKER_STOP_SECONDS)


@contextlib.contextmanager
def running_worker(
    broker_app,
    broker_url: str,
    tmp_path: Path,
    *,
    pool: str = "solo",
    imports: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> Iterator[Worker]:
    """A worker subprocess on a queue of its own (deleted afterwards), with the
    test database and eager mode off; stopped when the block ends."""
    queue = f"hema-test-{uuid.uuid4().hex[:12]}"
    worker_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "HEMA_TEST_EAGER": "false",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "DATABASE_URL": database_url(connection.settings_dict),
        # The worker keeps no connection between tasks, so the flush after the
        # test never waits for it.
        "CONN_MAX_AGE": "0",
        "CELERY_BROKER_URL": broker_url,
        # "{queue}" in a value is this worker's queue (e.g. a task route to it).
        **{key: value.replace("{queue}", queue) for key, value in (env or {}).items()},
    }
    log = tmp_path / "worker.log"
    command = [
        sys.executable, "-m", "celery", "-A", "hema", "worker",
        f"--pool={pool}", "--concurrency=1", "--loglevel=INFO",
        *(arg for module in imports for arg in ("-I", module)),
        "-Q", queue, "-n", f"{queue}@%h",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip
    with log.open("wb") as log_file:
        process = subprocess.Popen(  # noqa: S603 (our own interpreter, fixed arguments)
            command,
            cwd=settings.BASE_DIR,
            env=worker_env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        yield Worker(process=process, queue=queue, log=log)
    finally:
        stop(process)
        with broker_app.connection_for_write() as conn:
            conn.default_channel.queue_delete(queue)


@pytest.fixture
def real_worker(transactional_db, broker_app, broker_url, tmp_path) -> Iterator[Worker]:
    """A worker subprocess on its own queue, stopped before the database is flushed.

    Tests using it carry ``requires_shared_postgres``.
    """
    with running_worker(broker_app, broker_url, tmp_path) as worker:
        yield worker


def wait_for(condition, *, seconds: float, worker: Worker, what: str) -> None:
    """Poll ``condition`` until it holds; fail with the worker log if it never does."""
    deadline = time.monotonic() + seconds
    while not condition():
        if worker.process.poll() is not None:
            pytest.fail(f"the worker exited before {what}:\n{worker.output()}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} after {seconds} s; worker log:\n{worker.output()}")
        time.sleep(0.25)
