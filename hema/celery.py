"""The Celery application: configured from Django settings (``CELERY_*``).

Every task's base class is ``hema.taskguard.GuardedTask``: a message whose
worker died under it too often is recorded and acknowledged, not run again.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hema.settings")

app = Celery("hema", task_cls="hema.taskguard:GuardedTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
