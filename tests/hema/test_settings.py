"""Settings read from the environment, checked in fresh interpreters.

Each test starts ``python`` in a subprocess with an environment built from
scratch (pytest's own ``DJANGO_SETTINGS_MODULE`` and any local variables stay
out), from the repository root, as a deployment would.
"""

import json
import os
import secrets
import string
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow

no_dotenv = pytest.mark.skipif(
    (REPO_ROOT / ".env").exists(),
    reason="a local .env file supplies values; these tests need a bare environment",
)


def run_python(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(REPO_ROOT)),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    return subprocess.run(  # noqa: S603 (our own interpreter and arguments)
        [sys.executable, *args],
        cwd=REPO_ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def production_secret_key() -> str:
    alphabet = string.ascii_letters + string.digits + "!@#%^&*(-_=+)"
    return "".join(secrets.choice(alphabet) for _ in range(50))


def test_deploy_checks_pass_with_production_settings():
    env = {
        "DEBUG": "False",
        "SECRET_KEY": production_secret_key(),
        "ALLOWED_HOSTS": "hema.example.com",
    }
    if os.environ.get("DATABASE_URL"):
        env["DATABASE_URL"] = os.environ["DATABASE_URL"]

    result = run_python(
        "manage.py", "check", "--deploy", "--fail-level", "WARNING", env=env
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@no_dotenv
def test_production_without_a_secret_key_refuses_to_start():
    result = run_python("-c", "import hema.settings", env={"DEBUG": "False"})

    assert result.returncode != 0
    assert "django.core.exceptions.ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY must be set when DEBUG is False." in result.stderr


@no_dotenv
def test_production_with_an_empty_secret_key_refuses_to_start():
    result = run_python("manage.py", "check", env={"DEBUG": "False", "SECRET_KEY": ""})

    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is False." in result.stderr


@no_dotenv
def test_a_bare_machine_is_not_in_debug_and_needs_a_secret_key():
    result = run_python("manage.py", "check", env={})

    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is False." in result.stderr


@no_dotenv
def test_a_development_machine_gets_the_embedded_defaults():
    """``make run`` (deploy/bin/run-dev.sh) and .env.example turn DEBUG on."""
    script = """
import json
from hema import settings as s
print(json.dumps({
    "debug": s.DEBUG,
    "engine": s.DATABASES["default"]["ENGINE"],
    "name": str(s.DATABASES["default"]["NAME"]),
    "broker": s.CELERY_BROKER_URL,
    "broker_folder": s.CELERY_BROKER_TRANSPORT_OPTIONS.get("data_folder_in"),
    "cache": s.CACHES["default"]["BACKEND"],
    "storage": s.STORAGES["staticfiles"]["BACKEND"],
}))
"""
    result = run_python("-c", script, env={"DEBUG": "True"})

    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found == {
        "debug": True,
        "engine": "django.db.backends.sqlite3",
        "name": str(REPO_ROOT / "db.sqlite3"),
        "broker": "filesystem://",
        "broker_folder": str(REPO_ROOT / "var" / "broker"),
        "cache": "django.core.cache.backends.locmem.LocMemCache",
        "storage": "django.contrib.staticfiles.storage.StaticFilesStorage",
    }


@no_dotenv
def test_service_urls_come_from_the_environment():
    script = """
import json
from hema import settings as s
print(json.dumps({
    "engine": s.DATABASES["default"]["ENGINE"],
    "name": s.DATABASES["default"]["NAME"],
    "broker": s.CELERY_BROKER_URL,
    "broker_options": s.CELERY_BROKER_TRANSPORT_OPTIONS,
    "cache": s.CACHES["default"],
    "hosts": s.ALLOWED_HOSTS,
    "storage": s.STORAGES["staticfiles"]["BACKEND"],
    "ssl_redirect": s.SECURE_SSL_REDIRECT,
    "proxy_header": list(s.SECURE_PROXY_SSL_HEADER),
}))
"""
    env = {
        "DEBUG": "False",
        "SECRET_KEY": production_secret_key(),
        "ALLOWED_HOSTS": "hema.example.com,www.hema.example.com",
        "DATABASE_URL": "postgres://hema:pw@db.internal:5432/hema",
        "CELERY_BROKER_URL": "amqp://hema:pw@mq.internal:5672//",
        "REDIS_URL": "redis://cache.internal:6379/0",
        "SECURE_SSL_REDIRECT": "False",
    }

    result = run_python("-c", script, env=env)

    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found == {
        "engine": "django.db.backends.postgresql",
        "name": "hema",
        "broker": "amqp://hema:pw@mq.internal:5672//",
        # A send to a gone broker gives up at once (no filesystem folders).
        "broker_options": {"max_retries": 1, "interval_start": 0, "interval_step": 0.2},
        "cache": {
            "BACKEND": "hema.cache.FailOpenRedisCache",
            "LOCATION": "redis://cache.internal:6379/0",
            "OPTIONS": {
                "socket_connect_timeout": 0.25,
                "socket_timeout": 0.25,
                "breaker_seconds": 5.0,
            },
        },
        "hosts": ["hema.example.com", "www.hema.example.com"],
        "storage": "whitenoise.storage.CompressedManifestStaticFilesStorage",
        "ssl_redirect": False,
        "proxy_header": ["HTTP_X_FORWARDED_PROTO", "https"],
    }


PROVIDERS_SCRIPT = """
import json
from hema import settings as s
print(json.dumps(s.HEMA_PAYMENT_PROVIDERS))
"""


@no_dotenv
@pytest.mark.parametrize(
    ("env", "providers"),
    [
        ({"DEBUG": "True"}, {"sandbox": "sandbox-webhook-secret"}),
        ({"DEBUG": "False"}, {}),
        ({"DEBUG": "False", "HEMA_PAYMENT_PROVIDERS": "card=c-1"}, {"card": "c-1"}),
        (
            {"DEBUG": "False", "HEMA_PAYMENT_PROVIDERS": "sandbox=s-2,card=c-1"},
            {"sandbox": "s-2", "card": "c-1"},
        ),
    ],
)
def test_the_sandbox_provider_exists_only_in_debug_or_when_named(env, providers):
    if env["DEBUG"] == "False":
        env = {**env, "SECRET_KEY": production_secret_key()}

    result = run_python("-c", PROVIDERS_SCRIPT, env=env)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == providers


@no_dotenv
@pytest.mark.parametrize(
    ("debug", "providers", "named"),
    [
        ("False", "card=", "card"),
        ("True", "card=c-1,alipay= ", "alipay"),
        ("False", "sandbox=sandbox-webhook-secret", "sandbox"),
    ],
)
def test_a_provider_with_a_blank_or_public_secret_is_refused(debug, providers, named):
    """Anyone can sign a webhook with an empty key (or the sandbox's public one
    outside development) and mark any order of that provider paid."""
    env = {"DEBUG": debug, "HEMA_PAYMENT_PROVIDERS": providers}
    if debug == "False":
        env["SECRET_KEY"] = production_secret_key()

    result = run_python("-c", PROVIDERS_SCRIPT, env=env)

    assert result.returncode != 0
    assert f"HEMA_PAYMENT_PROVIDERS: the webhook secret of {named} " in result.stderr


@no_dotenv
@pytest.mark.parametrize("given", ["warning", "WARNING", " Warning "])
def test_log_level_in_any_case(given):
    script = """
import json, logging
import django
django.setup()
from django.conf import settings
print(json.dumps([settings.LOGGING["root"]["level"], logging.getLogger().level]))
"""
    env = {
        "DEBUG": "True",
        "LOG_LEVEL": given,
        "DJANGO_SETTINGS_MODULE": "hema.settings",
    }

    result = run_python("-c", script, env=env)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == ["WARNING", 30]


@no_dotenv
def test_an_unknown_log_level_names_the_choices():
    result = run_python(
        "-c", "import hema.settings", env={"DEBUG": "True", "LOG_LEVEL": "loud"}
    )

    assert result.returncode != 0
    assert (
        "LOG_LEVEL must be one of debug, info, warning, error or critical, "
        "not 'loud'." in result.stderr
    )
