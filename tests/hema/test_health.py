"""/healthz: what the load balancer asks before sending traffic."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]

# Runs in a fresh interpreter whose database is a closed port: nothing is mocked,
# the connection really fails.
UNREACHABLE_SCRIPT = """
import json
import django
django.setup()
from django.test import Client
response = Client().get("/healthz")
print(json.dumps({"status": response.status_code, "body": response.json()}))
"""


@pytest.mark.django_db
def test_healthz_is_ok_when_the_database_answers(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "cache": "ok",
        "broker": "ok",
    }


@pytest.mark.slow
def test_healthz_is_503_with_a_reason_when_the_database_is_unreachable():
    env = {
        **os.environ,
        "DATABASE_URL": "postgres://postgres@127.0.0.1:1/nothing",
        "DJANGO_SETTINGS_MODULE": "tests.settings",
    }

    result = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", UNREACHABLE_SCRIPT],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["status"] == 503
    assert answer["body"] == {
        "status": "unavailable",
        "database": "error",
        "cache": "ok",
        "broker": "ok",
        "reason": "database unreachable (OperationalError)",
    }
    # The details stay in the log, where operators look.
    assert "health check: database unavailable" in result.stderr
    assert "127.0.0.1" in result.stderr
