"""Test settings: the project's settings with what tests need overridden.

``DATABASE_URL`` picks the database (PostgreSQL in CI, SQLite when unset);
Celery runs eagerly except in ``tests/integration``, which starts a real worker.
Tests run with the development defaults (``DEBUG`` on unless the environment
says otherwise, as under ``make run``); the sandbox payment provider is named
here so that it exists either way.
"""

import os

os.environ.setdefault("DEBUG", "True")

from hema.settings import *  # noqa: F403
from hema.settings import (
    HEMA_PAYMENT_PROVIDERS,
    REST_FRAMEWORK,
    SANDBOX_WEBHOOK_SECRET,
    env,
)

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# tests/integration starts a real worker with HEMA_TEST_EAGER=false.
CELERY_TASK_ALWAYS_EAGER = env.bool("HEMA_TEST_EAGER", default=True)
CELERY_TASK_EAGER_PROPAGATES = True
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_CLASSES": []}
HEMA_QR_BASE_URL = "https://hema.test"
HEMA_PAYMENT_PROVIDERS = {"sandbox": SANDBOX_WEBHOOK_SECRET, **HEMA_PAYMENT_PROVIDERS}
