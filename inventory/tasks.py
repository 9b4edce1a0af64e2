"""Inventory's Celery tasks: thin, idempotent wrappers around services."""

from celery import shared_task

from hema.jobs import enqueue

# The forecast's tasks live beside it; importing them here registers them with
# the worker (autodiscovery looks for <app>.tasks only).
from inventory.forecast import tasks as forecast_tasks  # noqa: F401
from inventory.models import Store
from inventory.reconcile import stock_reconcile
from inventory.selectors import stores_active
from inventory.services import reservations_release_expired


@shared_task(name="inventory.release_expired_reservations")
def release_expired_reservations_task() -> int:
    """Beat job (every minute): give back the stock of checkouts left unpaid."""
    return reservations_release_expired()


@shared_task(name="inventory.reconcile")
def reconcile_task() -> int:
    """Beat job (nightly): reconcile every open store, one task per store.

    Returns how many stores were enqueued. A store whose task could not be sent
    (broker gone) is logged by ``enqueue`` and checked the next night; running
    this twice records a second, identical observation and changes no count.
    """
    return sum(
        enqueue(reconcile_store_task, store_id)
        for store_id in stores_active().order_by("pk").values_list("pk", flat=True)
    )


@shared_task(name="inventory.reconcile_store")
def reconcile_store_task(store_id: int) -> int:
    """Compare one store's counts with its ledger; returns the drift found."""
    store = Store.objects.filter(pk=store_id).first()
    if store is None:
        return 0
    return stock_reconcile(store=store).drift_count
