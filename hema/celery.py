"""The Celery application: configured from Django settings (``CELERY_*``).

Every task's base class is ``hema.taskguard.GuardedTask``: a message whose
worker died under it too often is recorded and acknowledged, not run again.
"""

import logging
import os
from pathlib import Path

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hema.settings")

app = Celery("hema", task_cls="hema.taskguard:GuardedTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

_FILESYSTEM_FOLDERS = ("data_folder_in", "data_folder_out", "processed_folder")


def ensure_filesystem_broker_folders() -> None:
    """Create the filesystem broker's folders: kombu expects them to exist.

    Without this a worker started on its own (not through ``make run``) dies on
    its first poll, and a web process's first send fails, until someone creates
    ``var/broker`` by hand. Run once, when the app is imported.
    """
    if not str(app.conf.broker_url or "").startswith("filesystem"):
        return
    options = app.conf.broker_transport_options or {}
    for key in (*_FILESYSTEM_FOLDERS, "control_folder"):
        if options.get(key):
            Path(options[key]).mkdir(parents=True, exist_ok=True)


try:
    ensure_filesystem_broker_folders()
except OSError as exc:  # a read-only tree: the send or the worker will say so
    logging.getLogger(__name__).warning("filesystem broker folders: %s", exc)
