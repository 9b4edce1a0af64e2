"""Test settings: the project's settings with what tests need overridden.

``DATABASE_URL`` picks the database (PostgreSQL in CI, SQLite when unset);
Celery runs eagerly except in ``tests/integration``, which starts a real worker.
"""

from hema.settings import *  # noqa: F403
from hema.settings import REST_FRAMEWORK, env

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# tests/integration starts a real worker with HEMA_TEST_EAGER=false.
CELERY_TASK_ALWAYS_EAGER = env.bool("HEMA_TEST_EAGER", default=True)
CELERY_TASK_EAGER_PROPAGATES = True
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_CLASSES": []}
HEMA_QR_BASE_URL = "https://hema.test"
