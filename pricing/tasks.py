"""Pricing's Celery tasks: thin, idempotent, fanned out per store.

Beat runs ``pricing.reprice_all`` at the top of each hour, ``pricing.markdown_all``
at half past and ``pricing.watch_weather`` at a quarter past and to (see
``CELERY_BEAT_SCHEDULE``). Each fans out one task per store, enqueued on commit.
A lost task needs no sweep: the next hourly run recomputes every price.
"""

from celery import shared_task
from django.utils import timezone

from hema.jobs import enqueue_on_commit
from inventory.models import Store
from inventory.selectors import stores_active
from pricing.models import RunTrigger
from pricing.selectors import stores_in_markdown_window
from pricing.services import store_reprice, store_weather_watch


@shared_task(name="pricing.reprice_all")
def reprice_all_task() -> int:
    """Hourly: one repricing task per active store. Returns how many."""
    store_ids = list(stores_active().values_list("pk", flat=True))
    for store_id in store_ids:
        enqueue_on_commit(reprice_store_task, store_id, RunTrigger.HOURLY.value)
    return len(store_ids)


@shared_task(name="pricing.markdown_all")
def markdown_all_task() -> int:
    """Half past each hour: a markdown run for each store in its markdown window."""
    store_ids = stores_in_markdown_window(at=timezone.now())
    for store_id in store_ids:
        enqueue_on_commit(reprice_store_task, store_id, RunTrigger.MARKDOWN.value)
    return len(store_ids)


@shared_task(name="pricing.watch_weather")
def watch_weather_task() -> int:
    """Between hourly runs: refresh every store's weather, one task per store."""
    store_ids = list(stores_active().values_list("pk", flat=True))
    for store_id in store_ids:
        enqueue_on_commit(watch_store_weather_task, store_id)
    return len(store_ids)


@shared_task(name="pricing.reprice_store")
def reprice_store_task(store_id: int, trigger: str = RunTrigger.HOURLY.value) -> int:
    """Reprice one store; returns how many prices changed (0 on a rerun)."""
    store = Store.objects.filter(pk=store_id, is_active=True).first()
    if store is None:
        return 0
    if trigger not in RunTrigger.values:
        trigger = RunTrigger.MANUAL.value
    return store_reprice(store=store, trigger=trigger).prices_changed


@shared_task(name="pricing.watch_store_weather")
def watch_store_weather_task(store_id: int) -> bool:
    """Refresh one store's weather; reprice it if the weather changed class."""
    store = Store.objects.filter(pk=store_id, is_active=True).first()
    if store is None:
        return False
    changed = store_weather_watch(store=store)
    if changed:
        enqueue_on_commit(reprice_store_task, store_id, RunTrigger.WEATHER.value)
    return changed
