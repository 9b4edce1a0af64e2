"""``make run`` as a new user meets it: the demo store on the embedded defaults.

Runs ``deploy/bin/run-dev.sh`` (what ``make run`` starts after seeding) on a
SQLite file and the filesystem broker, on a port of its own, and checks what a
new user would trip over: folders left outside ``var/`` and shelf QR codes that
point at another port.
"""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.test import override_settings

from inventory import qr

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 (loopback)
        return answer.status, answer.read()


@pytest.fixture
def demo_env(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if key
        not in {
            "CELERY_BROKER_URL",
            "CI_BROKER_URL",
            "DJANGO_SETTINGS_MODULE",  # pytest's test settings: make run has its own
            "HEMA_QR_BASE_URL",
            "REDIS_URL",
        }
    }
    env.update(
        DEBUG="True",
        DATABASE_URL=f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        HEMA_VAR_DIR=str(tmp_path / "var"),
        PYTHONUNBUFFERED="1",
    )
    for command in (["migrate", "--noinput", "-v0"], ["seed_demo"]):
        subprocess.run(  # noqa: S603 (our own manage.py)
            [sys.executable, "manage.py", *command],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            timeout=300,
        )
    return env


def test_make_run_serves_the_demo_and_keeps_its_folders_under_var(demo_env, tmp_path):
    port = _free_port()
    control_at_root_before = (ROOT / "control").exists()
    server = subprocess.Popen(  # noqa: S603 (our own script)
        ["/bin/bash", "deploy/bin/run-dev.sh", "127.0.0.1", str(port)],
        cwd=ROOT,
        env=demo_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        health = None
        while time.monotonic() < deadline:
            try:
                health = _get(f"http://127.0.0.1:{port}/healthz")
                break
            except OSError:
                time.sleep(0.5)
        assert health is not None, "make run never answered /healthz"
        assert health[0] == 200

        # The worker announces itself on the broadcast exchange at start.
        var = tmp_path / "var"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(
            (var / "broker-control").iterdir()
        ):
            time.sleep(0.5)
        assert any((var / "broker-control").iterdir()), "the worker never started"
        assert (var / "broker").is_dir()
        assert (var / "celery-dev.log").is_file()
        if not control_at_root_before:
            assert not (ROOT / "control").exists(), (
                "the broker wrote control/ at the root"
            )

        status, svg = _get(
            f"http://127.0.0.1:{port}/api/v1/stores/SH01/products/FRU-0001/qr.svg"
        )
        assert status == 200
        with override_settings(HEMA_QR_BASE_URL=f"http://127.0.0.1:{port}"):
            expected = qr.render_svg(qr.qr_payload(store_code="SH01", sku="FRU-0001"))
        assert svg == expected, (
            "the shelf QR does not point at the port make run serves"
        )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
