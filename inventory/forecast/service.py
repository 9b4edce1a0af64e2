"""The forecast's writes: runs, weekly refits, nightly predictions, accuracy.

A run (``ForecastRun``) covers one store, one kind and one origin. Its work is
cut into chunks of store products; each chunk fits or predicts without any lock
(no model fit under a row lock), then records its result in one short
transaction that locks the run row: the counts add up, the chunk is marked
done, and the chunk that completes the run finishes it (state, seconds). This
is the chord of the Celery jobs (``tasks.py``) kept in the database, so a
chunk delivered twice (acks late) counts once, and no result backend is needed.

Running twice for the same store, kind and origin reuses the run row (counts
reset, a new ``attempt``; chunks of the older attempt are ignored), and the
forecasts and fitted models it writes replace those of the earlier attempt.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from inventory.forecast.methods.base import MethodError
from inventory.forecast.models import (
    DailySales,
    DemandForecast,
    FittedModel,
    ForecastMethod,
    ForecastRun,
    ForecastSettings,
    RunKind,
    RunState,
)
from inventory.forecast.selection import (
    FALLBACK,
    method_fit,
    method_predict,
    select_and_fit,
    series_stats,
)
from inventory.forecast.series import (
    future_inputs,
    future_weather,
    load_history,
    store_today,
)
from inventory.models import Store, StoreProduct

logger = logging.getLogger(__name__)

KEEP_VERSIONS = 3
# The cheap methods re-run their smoothing over this much recent history.
PREDICT_HISTORY_DAYS = 182
REFIT_HISTORY_DAYS = 3 * 366
MAX_LISTED = 50
THOUSANDTH = Decimal("0.001")


@dataclass
class ChunkOutcome:
    series: int = 0
    fallbacks: int = 0
    failures: int = 0
    skipped: int = 0
    methods: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def count(self, method: str) -> None:
        key = str(method)
        self.methods[key] = self.methods.get(key, 0) + 1


def horizon_days(store: Store) -> int:
    settings_row = ForecastSettings.objects.filter(store=store).first()
    return settings_row.horizon_days if settings_row else 7


def chunked(ids: Sequence[int], size: int) -> Iterator[list[int]]:
    for i in range(0, len(ids), size):
        yield list(ids[i : i + size])


def forecast_store_products(store: Store) -> list[int]:
    """The active store products that have any sales history, by id."""
    return list(
        StoreProduct.objects.filter(
            store=store, is_active=True, daily_sales__isnull=False
        )
        .distinct()
        .order_by("pk")
        .values_list("pk", flat=True)
    )


# --- Runs ---------------------------------------------------------------------


def forecast_run_start(
    *, store: Store, kind: str, origin: dt.date, chunks: int
) -> ForecastRun:
    """The run of ``store``/``kind``/``origin``, created or reset for a new
    attempt of ``chunks`` chunks. Locks the store row while it looks, so two
    starts never make two runs."""
    with transaction.atomic():
        Store.objects.select_for_update().filter(pk=store.pk).first()
        run = (
            ForecastRun.objects.filter(store=store, kind=kind, origin=origin)
            .order_by("pk")
            .first()
        )
        fields = {
            "state": RunState.RUNNING,
            "started_at": timezone.now(),
            "finished_at": None,
            "series": 0,
            "fallbacks": 0,
            "failures": 0,
            "seconds": 0.0,
            "accuracy_wape": None,
            "accuracy_bias": None,
            "detail": {
                "attempt": uuid.uuid4().hex,
                "chunks": chunks,
                "chunks_done": [],
                "methods": {},
                "skipped": 0,
                "fallback_list": [],
                "failure_list": [],
            },
        }
        if run is None:
            run = ForecastRun.objects.create(
                store=store, kind=kind, origin=origin, **fields
            )
        else:
            for name, value in fields.items():
                setattr(run, name, value)
            run.save()
        if chunks == 0:
            _finish(run)
    return run


def _finish(run: ForecastRun) -> None:
    run.state = RunState.DONE
    run.finished_at = timezone.now()
    run.seconds = round((run.finished_at - run.started_at).total_seconds(), 3)
    run.save()


def _record_chunk(
    run_id: int, attempt: str, index: int, outcome: ChunkOutcome, write: Any
) -> bool:
    """Write the chunk's rows (``write()``) and add its counts to the run, in
    one transaction under the run's row lock; the last chunk finishes the run.
    False (nothing written) for a chunk already counted or of an older attempt."""
    with transaction.atomic():
        run = ForecastRun.objects.select_for_update().get(pk=run_id)
        detail = run.detail
        if detail.get("attempt") != attempt or index in detail["chunks_done"]:
            return False
        write()
        run.series += outcome.series
        run.fallbacks += outcome.fallbacks
        run.failures += outcome.failures
        detail["chunks_done"].append(index)
        detail["skipped"] += outcome.skipped
        for method, n in outcome.methods.items():
            detail["methods"][method] = detail["methods"].get(method, 0) + n
        for problem in outcome.problems:
            bucket = "failure_list" if problem.startswith("failed") else "fallback_list"
            if len(detail[bucket]) < MAX_LISTED:
                detail[bucket].append(problem)
        if len(detail["chunks_done"]) >= detail["chunks"]:
            _finish(run)
        else:
            run.save()
    return True


# --- Weekly refit -------------------------------------------------------------


def forecast_refit_chunk(
    *, run: ForecastRun, attempt: str, index: int, store_product_ids: Sequence[int]
) -> ChunkOutcome:
    """Choose and fit a method for each series of the chunk (history up to the
    day before the run's origin), and store the fits as each series' current
    model. A series whose method fails falls back (counted); one where every
    method fails keeps its previous model (a failure, listed)."""
    store = run.store
    last_day = run.origin - dt.timedelta(days=1)
    history = load_history(
        store=store,
        store_product_ids=store_product_ids,
        last_day=last_day,
        first_day=last_day - dt.timedelta(days=REFIT_HISTORY_DAYS),
    )
    outcome = ChunkOutcome()
    fitted: list[tuple[int, Any]] = []
    for pk in store_product_ids:
        window = history.get(pk)
        if window is None:
            outcome.skipped += 1
            continue
        outcome.series += 1
        try:
            choice = select_and_fit(window)
        except MethodError as exc:
            outcome.failures += 1
            outcome.problems.append(f"failed {pk}: {exc}"[:255])
            continue
        if choice.fallback:
            outcome.fallbacks += 1
            outcome.problems.append(f"fallback {pk}: {choice.reason}"[:255])
        outcome.count(choice.method)
        fitted.append((pk, choice))

    def write() -> None:
        ids = [pk for pk, _ in fitted]
        # A rerun of this run replaces its own fits rather than adding versions.
        FittedModel.objects.filter(store_product_id__in=ids, run=run).delete()
        latest = dict(
            FittedModel.objects.filter(store_product_id__in=ids)
            .values("store_product_id")
            .annotate(v=Max("version"))
            .values_list("store_product_id", "v")
        )
        FittedModel.objects.filter(store_product_id__in=ids, is_current=True).update(
            is_current=False
        )
        FittedModel.objects.bulk_create(
            [
                FittedModel(
                    store_product_id=pk,
                    method=choice.method,
                    version=latest.get(pk, 0) + 1,
                    is_current=True,
                    trained_until=last_day,
                    payload=choice.payload,
                    reason=choice.reason,
                    run=run,
                )
                for pk, choice in fitted
            ]
        )
        stale = Q()
        for pk in ids:
            stale |= Q(
                store_product_id=pk, version__lte=latest.get(pk, 0) + 1 - KEEP_VERSIONS
            )
        if ids:
            FittedModel.objects.filter(stale).delete()

    _record_chunk(run.pk, attempt, index, outcome, write)
    return outcome


# --- Nightly predict ----------------------------------------------------------


@dataclass(frozen=True)
class Accuracy:
    day: dt.date
    series: int
    wape: float | None
    bias: float | None
    by_method: dict[str, dict[str, float]]


def forecast_accuracy(*, store: Store, day: dt.date) -> Accuracy | None:
    """How ``day``'s forecasts (the latest made for it) compare with the sales:
    WAPE and bias over the store products that have both and did not sell out.
    None when the day has no forecasts or no sales history yet."""
    forecasts = dict(
        DemandForecast.objects.filter(store_product__store=store, day=day).values_list(
            "store_product_id", "quantity"
        )
    )
    methods = dict(
        DemandForecast.objects.filter(store_product__store=store, day=day).values_list(
            "store_product_id", "method"
        )
    )
    if not forecasts:
        return None
    sales = {
        pk: (qty, out)
        for pk, qty, out in DailySales.objects.filter(
            store_product_id__in=list(forecasts), day=day
        ).values_list("store_product_id", "quantity", "sold_out")
    }
    if not sales:
        return None
    totals: dict[str, list[float]] = {}
    for pk, forecast in forecasts.items():
        actual, sold_out = sales.get(pk, (Decimal(0), False))
        if sold_out:
            continue
        for key in ("all", methods[pk]):
            t = totals.setdefault(key, [0.0, 0.0, 0.0, 0])
            t[0] += float(actual)
            t[1] += abs(float(forecast) - float(actual))
            t[2] += float(forecast) - float(actual)
            t[3] += 1

    def ratio(t: list[float]) -> tuple[float | None, float | None]:
        return (t[1] / t[0], t[2] / t[0]) if t[0] > 0 else (None, None)

    overall = totals.get("all", [0.0, 0.0, 0.0, 0])
    wape, bias = ratio(overall)
    by_method = {}
    for key, t in totals.items():
        if key != "all":
            w, b = ratio(t)
            by_method[key] = {"wape": w, "bias": b, "series": t[3]}
    return Accuracy(
        day=day, series=int(overall[3]), wape=wape, bias=bias, by_method=by_method
    )


def forecast_predict_chunk(
    *, run: ForecastRun, attempt: str, index: int, store_product_ids: Sequence[int]
) -> ChunkOutcome:
    """Forecast the chunk's series from their current models for the run's
    horizon, and upsert the forecasts (one row per product and day: a rerun
    replaces). A series without a model yet gets a cheap one from its history
    (rule 1-3 of ``selection``); a model that fails falls back to exponential
    smoothing, then seasonal naive (counted); one where all fail is a failure."""
    store = run.store
    temperature = np.array(run.detail["future"]["temperature"])
    precipitation = np.array(run.detail["future"]["precipitation"])
    horizon = len(temperature)
    models = {
        m.store_product_id: m
        for m in FittedModel.objects.filter(
            store_product_id__in=store_product_ids, is_current=True
        ).only("store_product_id", "method", "payload")
    }
    prices = dict(
        StoreProduct.objects.filter(pk__in=store_product_ids).values_list(
            "pk", "shelf_price"
        )
    )
    last_day = run.origin - dt.timedelta(days=1)
    need_history = [
        pk
        for pk in store_product_ids
        if pk not in models or models[pk].method != ForecastMethod.PROPHET
    ]
    history = (
        load_history(
            store=store,
            store_product_ids=need_history,
            last_day=last_day,
            first_day=last_day - dt.timedelta(days=PREDICT_HISTORY_DAYS),
            weather={},
        )
        if need_history
        else {}
    )
    outcome = ChunkOutcome()
    rows: list[DemandForecast] = []
    for pk in store_product_ids:
        model = models.get(pk)
        window = history.get(pk)
        if model is None and window is None:
            outcome.skipped += 1
            continue
        outcome.series += 1
        future = future_inputs(
            first_day=run.origin,
            temperature=temperature,
            precipitation=precipitation,
            shelf_price=float(prices.get(pk) or 0),
        )
        attempts: list[tuple[str, str | None]] = []
        if model is not None:
            attempts.append((model.method, model.payload))
        elif window is not None:
            stats = series_stats(window)
            attempts.append((_cheap_rule(stats), None))
        attempts.extend(
            (m, None) for m in FALLBACK if m not in [a[0] for a in attempts]
        )
        prediction = method = None
        errors = []
        for method, payload in attempts:
            try:
                if payload is None:
                    if window is None:  # a stored model failed: its history now
                        window = load_history(
                            store=store,
                            store_product_ids=[pk],
                            last_day=last_day,
                            first_day=last_day
                            - dt.timedelta(days=PREDICT_HISTORY_DAYS),
                            weather={},
                        ).get(pk)
                    if window is None:
                        raise MethodError("no recent history")
                    payload, _ = method_fit(method, window)
                prediction = method_predict(
                    method, payload, window=window, future=future
                )
                break
            except MethodError as exc:
                errors.append(f"{method}: {exc}")
        if prediction is None:
            outcome.failures += 1
            outcome.problems.append(f"failed {pk}: {'; '.join(errors)}"[:255])
            continue
        if errors:
            outcome.fallbacks += 1
            outcome.problems.append(f"fallback {pk} to {method}: {errors[0]}"[:255])
        outcome.count(method)
        rows.extend(
            DemandForecast(
                store_product_id=pk,
                day=run.origin + dt.timedelta(days=i),
                quantity=_q(prediction.point[i]),
                lower=_q(prediction.lower[i]),
                upper=_q(prediction.upper[i]),
                method=method,
                run=run,
                made_on=run.origin,
            )
            for i in range(horizon)
        )

    def write() -> None:
        DemandForecast.objects.bulk_create(
            rows,
            batch_size=1000,
            update_conflicts=True,
            unique_fields=["store_product", "day"],
            update_fields=["quantity", "lower", "upper", "method", "run", "made_on"],
        )

    _record_chunk(run.pk, attempt, index, outcome, write)
    return outcome


def _cheap_rule(stats) -> str:
    from inventory.forecast.selection import candidates

    needs_prophet = (ForecastMethod.PROPHET, ForecastMethod.PROPHET_ETS)
    allowed = [m for m in candidates(stats) if m not in needs_prophet]
    return allowed[0] if allowed else ForecastMethod.ETS


def _q(value: float) -> Decimal:
    return Decimal(f"{max(float(value), 0.0):.3f}")


def forecast_predict_start(
    *, store: Store, origin: dt.date | None = None, chunk_size: int | None = None
) -> tuple[ForecastRun, list[list[int]]]:
    """Open the nightly run: record yesterday's accuracy, fix the days-ahead
    weather (the store's forecast, daily) on the run, and cut the chunks."""
    origin = origin or store_today(store)
    ids = forecast_store_products(store)
    chunks = list(chunked(ids, chunk_size or settings.HEMA_FORECAST_CHUNK_SIZE))
    horizon = horizon_days(store)
    temperature, precipitation = future_weather(
        store=store, first_day=origin, horizon=horizon
    )
    accuracy = forecast_accuracy(store=store, day=origin - dt.timedelta(days=1))
    run = forecast_run_start(
        store=store, kind=RunKind.PREDICT, origin=origin, chunks=len(chunks)
    )
    with transaction.atomic():
        run = ForecastRun.objects.select_for_update().get(pk=run.pk)
        run.detail["future"] = {
            "temperature": [round(float(t), 2) for t in temperature],
            "precipitation": [round(float(p), 2) for p in precipitation],
        }
        if accuracy is not None:
            run.accuracy_wape = accuracy.wape
            run.accuracy_bias = accuracy.bias
            run.detail["accuracy"] = {
                "day": accuracy.day.isoformat(),
                "series": accuracy.series,
                "by_method": accuracy.by_method,
            }
        run.save()
    return run, chunks


def forecast_refit_start(
    *, store: Store, origin: dt.date | None = None, chunk_size: int | None = None
) -> tuple[ForecastRun, list[list[int]]]:
    """Open the weekly refit run (history up to the day before ``origin``)."""
    origin = origin or store_today(store)
    size = chunk_size or settings.HEMA_FORECAST_CHUNK_SIZE
    chunks = list(chunked(forecast_store_products(store), size))
    run = forecast_run_start(
        store=store, kind=RunKind.REFIT, origin=origin, chunks=len(chunks)
    )
    return run, chunks


def forecast_predict(
    *, store: Store, origin: dt.date | None = None, chunk_size: int | None = None
) -> ForecastRun:
    """The nightly predict of a store in this process (commands, tests); the
    beat job fans the same chunks out over the ``forecast`` queue instead."""
    run, chunks = forecast_predict_start(
        store=store, origin=origin, chunk_size=chunk_size
    )
    attempt = run.detail["attempt"]
    for index, ids in enumerate(chunks):
        forecast_predict_chunk(
            run=run, attempt=attempt, index=index, store_product_ids=ids
        )
    run.refresh_from_db()
    return run


def forecast_refit(
    *, store: Store, origin: dt.date | None = None, chunk_size: int | None = None
) -> ForecastRun:
    """The weekly refit of a store in this process (commands, tests, bench)."""
    run, chunks = forecast_refit_start(
        store=store, origin=origin, chunk_size=chunk_size
    )
    attempt = run.detail["attempt"]
    for index, ids in enumerate(chunks):
        forecast_refit_chunk(
            run=run, attempt=attempt, index=index, store_product_ids=ids
        )
    run.refresh_from_db()
    return run
