"""Inventory's Celery tasks: thin, idempotent wrappers around services."""

import datetime as dt
import logging

from celery import shared_task

from hema.jobs import enqueue

# The forecast's tasks live beside it; importing them here registers them with
# the worker (autodiscovery looks for <app>.tasks only).
from inventory.forecast import tasks as forecast_tasks  # noqa: F401
from inventory.forecast.buffer import online_buffers_set
from inventory.forecast.history import sales_history_fold
from inventory.models import Store
from inventory.reconcile import stock_reconcile
from inventory.selectors import stores_active
from inventory.services import reservations_release_expired

logger = logging.getLogger(__name__)


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


@shared_task(name="forecast.set_online_buffers_all")
def set_online_buffers_all_task() -> int:
    """Beat job (nightly, after the forecast): one buffer task per active store
    on the ``forecast`` queue. Returns how many stores were enqueued."""
    return sum(
        enqueue(set_online_buffers_store_task, store_id)
        for store_id in stores_active().order_by("pk").values_list("pk", flat=True)
    )


@shared_task(name="inventory.fold_sales_history")
def fold_sales_history_task() -> int:
    """Beat job (hourly, `forecast` queue): fold every open store's new sales
    into the daily history, one task per store; returns how many were sent."""
    return sum(
        enqueue(fold_sales_history_store_task, store_id)
        for store_id in stores_active().order_by("pk").values_list("pk", flat=True)
    )


@shared_task(name="forecast.set_online_buffers_store")
def set_online_buffers_store_task(store_id: int, day: str | None = None) -> int:
    """Set one store's online buffers from its forecast for ``day`` (ISO date;
    default the trading day in progress or next). Returns how many changed;
    a rerun changes nothing."""
    store = Store.objects.filter(pk=store_id, is_active=True).first()
    if store is None:
        return 0
    plan = online_buffers_set(
        store=store, day=dt.date.fromisoformat(day) if day else None
    )
    logger.info(
        "online buffers of %s for %s: %d products, %d changed, %d without forecast",
        store.code,
        plan.day,
        len(plan.lines),
        plan.written,
        plan.without_forecast,
    )
    return plan.written


@shared_task(name="inventory.fold_sales_history_store")
def fold_sales_history_store_task(store_id: int) -> int:
    """Fold one store's ledger since its watermark; returns the rows folded.
    Safe twice or at once (the watermark row is locked while folding)."""
    store = Store.objects.filter(pk=store_id).first()
    if store is None:
        return 0
    return sales_history_fold(store=store).movements
