"""The forecast's Celery jobs, on their own ``forecast`` queue.

Beat runs ``forecast.predict_due`` and ``forecast.refit_due`` every hour
(``CELERY_BEAT_SCHEDULE``); each starts the stores whose local hour has come
(predict nightly at ``HEMA_FORECAST_PREDICT_HOUR``, 02:00; refit weekly on
``HEMA_FORECAST_REFIT_WEEKDAY`` at ``HEMA_FORECAST_REFIT_HOUR``, Sunday 00:00),
so every store forecasts in its own night. A store's task opens the run and
fans its chunks of products out over the queue; the chunk that completes the
run finishes it (``service``: the chord's callback, counted in the database).
``CELERY_TASK_ROUTES`` sends every ``forecast.*`` task to the queue named by
``HEMA_FORECAST_QUEUE``, so forecasting never delays dispatch or pricing.

Every task is safe to run twice: a rerun of a store reuses its run and
replaces its rows; a chunk delivered twice is counted once.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from hema.jobs import enqueue, enqueue_on_commit
from inventory.models import Store
from inventory.selectors import stores_active


def _stores_at_local(hour: int, weekday: int | None = None) -> list[int]:
    now = timezone.now()
    due = []
    for store_id, zone in stores_active().order_by("pk").values_list("pk", "time_zone"):
        local = now.astimezone(zoneinfo.ZoneInfo(zone))
        if local.hour == hour and (weekday is None or local.weekday() == weekday):
            due.append(store_id)
    return due


@shared_task(name="forecast.predict_due")
def predict_due_task() -> int:
    """Hourly: start the nightly predict of every store whose local hour is
    ``HEMA_FORECAST_PREDICT_HOUR``. Returns how many stores were started."""
    due = _stores_at_local(settings.HEMA_FORECAST_PREDICT_HOUR)
    return sum(enqueue(predict_store_task, store_id) for store_id in due)


@shared_task(name="forecast.refit_due")
def refit_due_task() -> int:
    """Hourly: start the weekly refit of every store whose local weekday and
    hour are the refit's. Returns how many stores were started."""
    due = _stores_at_local(
        settings.HEMA_FORECAST_REFIT_HOUR, settings.HEMA_FORECAST_REFIT_WEEKDAY
    )
    return sum(enqueue(refit_store_task, store_id) for store_id in due)


def _origin(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


@shared_task(name="forecast.predict_store")
def predict_store_task(store_id: int, origin: str | None = None) -> int:
    """Open a store's nightly run and send its chunks; returns the chunks sent."""
    from inventory.forecast.service import forecast_predict_start

    store = Store.objects.filter(pk=store_id, is_active=True).first()
    if store is None:
        return 0
    run, chunks = forecast_predict_start(store=store, origin=_origin(origin))
    attempt = run.detail["attempt"]
    for index, ids in enumerate(chunks):
        enqueue_on_commit(predict_chunk_task, run.pk, attempt, index, ids)
    return len(chunks)


@shared_task(name="forecast.predict_chunk")
def predict_chunk_task(run_id: int, attempt: str, index: int, ids: list[int]) -> int:
    """Forecast one chunk of a run; returns the series forecast."""
    from inventory.forecast.models import ForecastRun
    from inventory.forecast.service import forecast_predict_chunk

    run = ForecastRun.objects.select_related("store").filter(pk=run_id).first()
    if run is None:
        return 0
    return forecast_predict_chunk(
        run=run, attempt=attempt, index=index, store_product_ids=ids
    ).series


@shared_task(name="forecast.refit_store")
def refit_store_task(store_id: int, origin: str | None = None) -> int:
    """Open a store's weekly refit and send its chunks; returns the chunks sent."""
    from inventory.forecast.service import forecast_refit_start

    store = Store.objects.filter(pk=store_id, is_active=True).first()
    if store is None:
        return 0
    run, chunks = forecast_refit_start(store=store, origin=_origin(origin))
    attempt = run.detail["attempt"]
    for index, ids in enumerate(chunks):
        enqueue_on_commit(refit_chunk_task, run.pk, attempt, index, ids)
    return len(chunks)


@shared_task(name="forecast.refit_chunk")
def refit_chunk_task(run_id: int, attempt: str, index: int, ids: list[int]) -> int:
    """Fit one chunk of a refit run; returns the series fitted."""
    from inventory.forecast.models import ForecastRun
    from inventory.forecast.service import forecast_refit_chunk

    run = ForecastRun.objects.select_related("store").filter(pk=run_id).first()
    if run is None:
        return 0
    return forecast_refit_chunk(
        run=run, attempt=attempt, index=index, store_product_ids=ids
    ).series
