"""Enqueueing tasks after commit, in a way that can never fail the request.

The work a task does is already written to the database (a state or an outbox
row) by the time it is enqueued, and a periodic sweep finds whatever was not
done. So a broker that is down or slow when a transaction commits is logged and
counted, never raised: the answer the client gets is the committed one.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task
from django.db import transaction

logger = logging.getLogger(__name__)

# How many sends failed since the process started (for tests and debugging;
# each failure is also logged at WARNING).
failed_sends = 0


def enqueue(task: Task, *args: Any, **kwargs: Any) -> bool:
    """Send ``task`` now; return False (logged) if the broker refused or was gone."""
    global failed_sends
    try:
        task.apply_async(args=args, kwargs=kwargs, retry=False)
    except Exception:
        failed_sends += 1
        logger.warning(
            "could not enqueue %s%r; its sweep will do the work",
            task.name,
            args,
            exc_info=True,
        )
        return False
    return True


def enqueue_on_commit(task: Task, *args: Any, **kwargs: Any) -> None:
    """Send ``task`` once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: enqueue(task, *args, **kwargs))
