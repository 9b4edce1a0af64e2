"""Under ``CI=true`` a skipped test fails the run: CI never goes green without them.

The probe is a real PostgreSQL-only test run on SQLite, where it skips.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
POSTGRES_ONLY = (
    "tests/hema/test_ensure_database.py::test_creates_the_missing_database_once"
)


def _pytest_on_sqlite(ci: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CI"}}
    env.update(DEBUG="True", CI=ci)
    return subprocess.run(  # noqa: S603 (our own test run)
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", POSTGRES_ONLY],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_a_skip_fails_the_run_only_under_ci():
    elsewhere = _pytest_on_sqlite(ci="")
    assert elsewhere.returncode == 0, elsewhere.stdout
    assert "1 skipped" in elsewhere.stdout

    in_ci = _pytest_on_sqlite(ci="true")
    assert in_ci.returncode == pytest.ExitCode.TESTS_FAILED, in_ci.stdout
    assert f"SKIPPED (fails under CI) {POSTGRES_ONLY}" in in_ci.stdout
