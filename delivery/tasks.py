"""Delivery's Celery tasks: thin and safe to run twice.

The dispatcher's tasks go to their own ``dispatch`` queue (``CELERY_TASK_ROUTES``)
so that repricing or forecasting never delays a tick.
"""

from celery import shared_task

from delivery.api import guard


@shared_task(name="delivery.purge_idempotency_keys")
def purge_staff_idempotency_keys_task() -> int:
    """Forget staff scanners' Idempotency-Keys older than 24 hours."""
    return guard.purge()


@shared_task(name="delivery.dispatch_all", ignore_result=True)
def dispatch_all_task() -> int:
    """Every 30 seconds: one ``delivery.dispatch_store`` per store with riders on
    shift (one slow store never delays another). Returns how many were sent."""
    from delivery.dispatch import stores_to_dispatch
    from hema.jobs import enqueue

    store_ids = stores_to_dispatch()
    for store_id in store_ids:
        enqueue(dispatch_store_task, store_id)
    return len(store_ids)


@shared_task(
    name="delivery.dispatch_store",
    ignore_result=True,
    # A tick is worth doing only while fresh: the next one comes in 30 s.
    expires=25,
    soft_time_limit=20,
    time_limit=25,
)
def dispatch_store_task(store_id: int) -> int:
    """One dispatcher tick of a store; returns the trips it made. Safe to run
    twice or at once: the store's dispatch lock serialises ticks."""
    from delivery.dispatch import dispatch_store
    from inventory.models import Store

    store = Store.objects.filter(pk=store_id, is_active=True).first()
    if store is None:
        return 0
    run = dispatch_store(store=store)
    return run.trips_created if run is not None else 0
