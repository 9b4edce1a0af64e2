"""Writes of the pricing app: repricing a store, watching its weather.

``store_reprice`` is the job. Per run it refreshes the store's weather (outside
any transaction: no network call under a lock), then, holding the store's
repricing lock, prices every active product with the pure engine, records a
``PriceChange`` where the price moved, a ``MarkdownStep`` where a daily-fresh
markdown deepened, and pushes the new shelf prices through inventory's
``shelf_prices_set`` in one bulk update. The number of queries does not grow
with the number of products.

It is safe to run twice: the step limit is measured from the price in force when
the hour began (``selectors.with_previous_price``), so a rerun in the same hour
computes the same prices, finds them already on the shelf and writes nothing
but its own ``RepricingRun`` row.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from inventory.models import Store, StoreProduct
from inventory.services import shelf_prices_set
from inventory.weather import (
    WeatherProvider,
    WeatherSnapshot,
    hour_floor,
    store_weather_for_hour,
    store_weather_refresh,
)
from pricing.engine import Markdown, compute_price, weather_class
from pricing.markdowns import (
    expected_remaining_demand,
    markdown_percent_needed,
    markdown_window,
)
from pricing.models import (
    MarkdownStep,
    PriceChange,
    RepricingRun,
    RunState,
    RunTrigger,
)
from pricing.selectors import (
    demand_recent,
    local_weekday_hour,
    markdown_floors,
    markdown_percents,
    previous_price_of,
    price_settings_for,
    rulebook_load,
    with_previous_price,
)

logger = logging.getLogger(__name__)

PERCENT_STEP = Decimal("0.01")
_ROW_FIELDS = (
    "pk",
    "product_id",
    "product__category_id",
    "product__is_daily_fresh",
    "list_price",
    "unit_cost",
    "shelf_price",
    "on_hand",
    "reserved",
    "prev_price",
    "prev_kind",
    "hour_old",
)


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def _lock_store(store: Store) -> None:
    """Serialise repricing runs of one store (a rerun waits for the first).

    ``FOR NO KEY UPDATE`` on PostgreSQL, so rows that merely reference the store
    (orders, stock rows) are never blocked by it.
    """
    no_key = connection.features.has_select_for_no_key_update
    list(
        Store.objects.select_for_update(no_key=no_key)
        .filter(pk=store.pk)
        .values_list("pk", flat=True)
    )


def _abandon_dead_runs(store: Store, now: dt.datetime) -> None:
    """A run still "running" after the hard task time limit died with its worker."""
    limit = dt.timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
    RepricingRun.objects.filter(
        store=store, state=RunState.RUNNING, started_at__lt=now - limit
    ).update(
        state=RunState.FAILED,
        error="abandoned: still running after the task time limit",
        finished_at=now,
    )


def store_reprice(
    *,
    store: Store,
    trigger: str = RunTrigger.MANUAL,
    now: dt.datetime | None = None,
    provider: WeatherProvider | None = None,
    refresh_weather: bool = True,
) -> RepricingRun:
    """Reprice every active product of ``store`` for the moment ``now``.

    ``trigger`` markdown reprices only the daily-fresh products. Returns the
    ``RepricingRun`` row (committed before the work starts, so the label feed
    knows a run is in flight; finished with counts and timings, or marked
    failed with the error before the exception propagates).
    """
    started = timezone.now()
    _abandon_dead_runs(store, started)
    run = RepricingRun.objects.create(
        store=store, trigger=trigger, priced_at=now or started, started_at=started
    )
    # Stamped after the run row exists: see selectors.feed_as_of.
    at = now or timezone.now()
    try:
        clock = time.perf_counter()
        if refresh_weather:
            refresh = store_weather_refresh(store=store, provider=provider, now=at)
            run.weather_error = refresh.error
        weather = store_weather_for_hour(store=store, hour=at, now=at)
        run.weather_source = weather.source if weather is not None else "neutral"
        run.weather_ms = _ms(time.perf_counter() - clock)
        with transaction.atomic():
            _lock_store(store)
            _reprice_locked(store=store, run=run, at=at, weather=weather)
    except Exception as exc:
        RepricingRun.objects.filter(pk=run.pk).update(
            state=RunState.FAILED, error=repr(exc)[:2000], finished_at=timezone.now()
        )
        logger.exception("repricing store %s failed", store.code)
        raise
    run.state = RunState.DONE
    run.priced_at = at
    run.finished_at = timezone.now()
    run.save()
    logger.info(
        "store %s repriced (%s): %s products, %s changed, %s markdown steps, "
        "weather %s, %s ms",
        store.code,
        trigger,
        run.products_priced,
        run.prices_changed,
        run.markdowns_stepped,
        run.weather_source,
        run.duration_ms,
    )
    return run


def _reprice_locked(
    *,
    store: Store,
    run: RepricingRun,
    at: dt.datetime,
    weather: WeatherSnapshot | None,
) -> None:
    clock = time.perf_counter()
    price_settings = price_settings_for(store)
    book = rulebook_load(store=store, price_settings=price_settings)
    queryset = StoreProduct.objects.filter(store=store, is_active=True)
    if run.trigger == RunTrigger.MARKDOWN:
        queryset = queryset.filter(product__is_daily_fresh=True)
    rows = list(
        with_previous_price(queryset, hour_start=hour_floor(at)).values_list(
            *_ROW_FIELDS, named=True
        )
    )
    weekday, hour = local_weekday_hour(store, at)

    window = markdown_window(
        store=store, starts_at=price_settings.markdown_starts_at, at=at
    )
    percents: dict[int, Decimal] = {}
    floors: dict[int, Decimal] = {}
    steps: list[MarkdownStep] = []
    if window is not None:
        percents = markdown_percents(store=store, trading_day=window.trading_day, at=at)
        demand = demand_recent(store=store, window=window, at=at)
        store_floor, own_floors = markdown_floors(
            store=store, price_settings=price_settings
        )
        hours_open, hours_left = window.hours_open(at), window.hours_left(at)
        pace_hours = window.pace_hours(at)
        for row in rows:
            if not row.product__is_daily_fresh:
                continue
            pk = row.pk
            floors[pk] = own_floors.get(row.product__category_id, store_floor)
            stock_left = row.on_hand - row.reserved
            today, recent = demand.get(pk, (Decimal(0), Decimal(0)))
            expected = expected_remaining_demand(
                recent=recent,
                recent_hours=pace_hours,
                today=today,
                hours_open=hours_open,
                hours_left=hours_left,
            )
            current = percents.get(pk, Decimal(0))
            needed = markdown_percent_needed(
                stock_left=stock_left,
                expected_demand=expected,
                current_percent=current,
                elasticity=price_settings.markdown_elasticity,
                step_percent=price_settings.markdown_step_percent,
                floor=floors[pk],
            ).quantize(PERCENT_STEP)
            if needed > current:
                percents[pk] = needed
                steps.append(
                    MarkdownStep(
                        store=store,
                        store_product_id=pk,
                        trading_day=window.trading_day,
                        percent=needed,
                        stock_left=stock_left,
                        expected_demand=expected,
                        decided_at=at,
                        run=run,
                    )
                )

    changes: list[PriceChange] = []
    prices: dict[int, Decimal] = {}
    for row in rows:
        rules = book.for_product(
            product_id=row.product_id,
            category_id=row.product__category_id,
            weekday=weekday,
            hour=hour,
        )
        percent = percents.get(row.pk)
        markdown = None
        if percent and row.product__is_daily_fresh:
            markdown = Markdown(percent=percent, floor=floors[row.pk])
        previous = previous_price_of(
            prev_price=row.prev_price,
            prev_kind=row.prev_kind,
            hour_old=row.hour_old,
            shelf_price=row.shelf_price,
        )
        result = compute_price(
            row.list_price, row.unit_cost, rules, weather, markdown, previous
        )
        if result.amount != row.shelf_price:
            prices[row.pk] = result.amount
            changes.append(
                PriceChange(
                    store=store,
                    store_product_id=row.pk,
                    run=run,
                    kind=result.kind,
                    old_price=row.shelf_price,
                    new_price=result.amount,
                    reasons=list(result.reasons),
                    changed_at=at,
                )
            )
    run.compute_ms = _ms(time.perf_counter() - clock)

    clock = time.perf_counter()
    if changes:
        PriceChange.objects.bulk_create(changes)
        shelf_prices_set(store=store, prices=prices)
    if steps:
        MarkdownStep.objects.bulk_create(steps, ignore_conflicts=True)
    run.write_ms = _ms(time.perf_counter() - clock)
    run.products_priced = len(rows)
    run.prices_changed = len(changes)
    run.markdowns_stepped = len(steps)


def store_weather_watch(
    *,
    store: Store,
    now: dt.datetime | None = None,
    provider: WeatherProvider | None = None,
) -> bool:
    """Refresh the store's weather; True when the current hour's weather class
    changed (another set of the store's weather rules now matches), which is
    when its prices must be recomputed before the next hourly run."""
    now = now or timezone.now()
    book = rulebook_load(store=store)
    before = weather_class(book, store_weather_for_hour(store=store, hour=now, now=now))
    refresh = store_weather_refresh(store=store, provider=provider, now=now)
    if not refresh.ok:
        return False
    after = weather_class(book, store_weather_for_hour(store=store, hour=now, now=now))
    if before != after:
        logger.info(
            "store %s weather class %r -> %r", store.code, before or "none", after
        )
    return before != after
