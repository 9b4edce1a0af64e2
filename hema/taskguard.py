"""A cap on redeliveries of a task message whose worker keeps dying under it.

Tasks use ``acks_late`` with ``reject_on_worker_lost``: a message is
acknowledged when its task ends, and one whose worker process died (killed,
out of memory, a crash in C code) goes back to the queue and is delivered
again. That is right for a worker that died for an outside reason; a message
that itself kills every worker that runs it would come back forever and take
a worker slot each time.

``GuardedTask`` is every task's base class (``hema.celery``). Before a task
runs it looks at the broker's ``redelivered`` flag. A first delivery costs
nothing. A redelivery is counted in ``TaskDelivery`` (one row per task id,
committed before the task runs, so the count survives the worker's death);
past ``HEMA_TASK_MAX_DELIVERIES`` deliveries the task is not run: its row gets
``gave_up_at`` (task name, arguments, count and time, listed in the admin),
an ERROR is logged, and the message is acknowledged.

Why a table rather than the cache or the broker: the count must survive the
worker dying right after it is written, the failure must stay where managers
look (the admin), and RabbitMQ counts deliveries only on quorum queues, while
its ``redelivered`` flag is set by every transport that redelivers (amqp and
Redis). Only redeliveries write a row, so the normal path adds no query.

Nothing is lost when a task is given up: the work of every task is in the
database before it is enqueued, and a periodic sweep does it (refunds:
``orders.sweep_refunds``; unpaid checkouts: ``orders.expire_unpaid``, itself a
sweep; expired reservations: the minutely release job; prices: the next hourly
``pricing.reprice_all``).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task
from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

logger = logging.getLogger(__name__)


def task_redelivery_record(
    *, task_id: str, task_name: str, args: Any, kwargs: Any
) -> int:
    """Count one more delivery of the message ``task_id``; returns the count.

    The first redelivery creates the row with 2 deliveries (the first one left
    no trace); later ones add 1 with a relative update. Runs in its own
    transaction and commits before the task starts.
    """
    from hema.models import TaskDelivery

    now = timezone.now()
    rows = TaskDelivery.objects.filter(task_id=task_id)
    with transaction.atomic():
        if not rows.update(deliveries=F("deliveries") + 1, last_delivered_at=now):
            try:
                with transaction.atomic():
                    TaskDelivery.objects.create(
                        task_id=task_id,
                        task_name=task_name,
                        args=list(args or ()),
                        kwargs=dict(kwargs or {}),
                        deliveries=2,
                        last_delivered_at=now,
                    )
            except IntegrityError:  # counted by a twin delivery meanwhile
                rows.update(deliveries=F("deliveries") + 1, last_delivered_at=now)
        return rows.values_list("deliveries", flat=True).get()


def task_delivery_give_up(*, task_id: str) -> None:
    """Record that the message ``task_id`` will not be run again."""
    from hema.models import TaskDelivery

    TaskDelivery.objects.filter(task_id=task_id, gave_up_at__isnull=True).update(
        gave_up_at=timezone.now()
    )


def delivery_refused(task: Task, args: tuple, kwargs: dict) -> bool:
    """True when the message being run was delivered too often to run again.

    Fails open: if the count cannot be written (the database is gone), the
    task runs, as it would without the cap.
    """
    request = task.request
    info = request.delivery_info or {}
    if request.called_directly or request.is_eager or not info.get("redelivered"):
        return False
    try:
        deliveries = task_redelivery_record(
            task_id=request.id, task_name=task.name, args=args, kwargs=kwargs
        )
    except DatabaseError:
        logger.warning(
            "could not count the redelivery of %s[%s]; running it",
            task.name,
            request.id,
            exc_info=True,
        )
        return False
    limit = settings.HEMA_TASK_MAX_DELIVERIES
    if deliveries <= limit:
        logger.warning(
            "%s[%s] delivered again (%s of at most %s): its last worker died under it",
            task.name,
            request.id,
            deliveries,
            limit,
        )
        return False
    try:
        task_delivery_give_up(task_id=request.id)
    except DatabaseError:
        logger.warning("could not record giving up %s", request.id, exc_info=True)
    logger.error(
        "%s[%s] args=%r kwargs=%r delivered %s times (limit %s), each time its "
        "worker died: not running it again; its periodic sweep will do the work",
        task.name,
        request.id,
        args,
        kwargs,
        deliveries,
        limit,
    )
    return True


class GuardedTask(Task):
    """Every task's base: refuses a message past its delivery cap (acked, not
    run; the task returns None)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if delivery_refused(self, args, kwargs):
            return None
        return super().__call__(*args, **kwargs)
