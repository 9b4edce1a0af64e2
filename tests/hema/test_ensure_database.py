"""``manage.py ensure_database``: a server without the project's database yet."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from tests.conftest import requires_postgres

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [requires_postgres, pytest.mark.django_db]


def _server() -> dict[str, str]:
    s = connection.settings_dict
    return {
        "user": s["USER"],
        "host": s["HOST"] or "127.0.0.1",
        "port": s["PORT"] or "5432",
    }


def _exists(name: str) -> bool:
    srv = _server()
    with psycopg.connect(dbname="postgres", autocommit=True, **srv) as conn:
        return bool(
            conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [name]
            ).fetchone()
        )


def _ensure(name: str) -> subprocess.CompletedProcess:
    srv = _server()
    env = {
        **os.environ,
        "DEBUG": "True",
        "DATABASE_URL": f"postgres://{srv['user']}@{srv['host']}:{srv['port']}/{name}",
    }
    return subprocess.run(
        [sys.executable, "manage.py", "ensure_database"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def fresh_name():
    name = f"hema_ensure_{uuid.uuid4().hex[:10]}"
    yield name
    with psycopg.connect(dbname="postgres", autocommit=True, **_server()) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def test_creates_the_missing_database_once(fresh_name):
    assert not _exists(fresh_name)

    first = _ensure(fresh_name)
    assert first.returncode == 0, first.stderr
    assert f"database {fresh_name} created" in first.stdout
    assert _exists(fresh_name)

    again = _ensure(fresh_name)
    assert again.returncode == 0, again.stderr
    assert f"database {fresh_name} exists" in again.stdout


def test_an_unreachable_server_is_a_clear_error():
    env = {
        **os.environ,
        "DEBUG": "True",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:1/hema_nowhere",
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "ensure_database"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "cannot reach PostgreSQL to create hema_nowhere" in done.stderr
