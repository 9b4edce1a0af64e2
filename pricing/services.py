"""Writes of the pricing app: repricing a store, watching its weather.

``store_reprice`` is the job. A run holds its store's run lock from before its
``RepricingRun`` row exists until it ends, so runs of one store never overlap
and a ``running`` row whose store lock is free belongs to a dead run. Per run
it refreshes the store's weather (outside any transaction: no network call
under a row lock), prices every active product with the pure engine, and
writes in batches of ``HEMA_REPRICING_BATCH_SIZE`` products in primary-key
order, one short transaction each: a ``PriceChange`` where the price moved, a
``MarkdownStep`` where a daily-fresh markdown deepened, the new shelf prices
through inventory's ``shelf_prices_set`` (which locks that batch's rows), and
the run's heartbeat and counts. A checkout waits at most one batch behind a
run; the number of queries grows with the number of batches, not products.

It is safe to run twice, and to kill between batches: the step limit is
measured from the price in force when the hour began
(``selectors.with_previous_price``), so a rerun in the same hour computes the
same prices, finds those already on the shelf and writes only the rest.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction
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
from pricing.engine import Markdown, RuleBook, compute_price, weather_class
from pricing.errors import RepricingInFlight
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
    day_profile,
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
# The first key of the stores' repricing advisory locks ("pr"); the second is
# the store's id.
ADVISORY_LOCK_CLASS = 0x7072
# A batch that writes nothing touches the run's heartbeat at most this often.
HEARTBEAT_EVERY = dt.timedelta(seconds=5)
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


def _store_lock_key(store: Store) -> tuple[int, int]:
    """The PostgreSQL advisory lock key of a store's repricing runs."""
    return ADVISORY_LOCK_CLASS, store.pk


@contextmanager
def _store_run_lock(store: Store) -> Iterator[bool]:
    """Hold the store's repricing lock for a whole run; a rerun waits for it.

    On PostgreSQL a session advisory lock, so it spans the run's batch
    transactions, blocks no row (checkouts never wait on it), and is released
    by the server when the run's connection ends, also when its worker is
    killed. Yields True there: while it is held no other run of the store is
    alive. Other databases have no such lock (SQLite serialises every write
    anyway): yields False and runs are told apart by their heartbeat only.
    Waits at most the task soft time limit, then raises ``RepricingInFlight``.
    """
    if connection.vendor != "postgresql":
        yield False
        return
    key = _store_lock_key(store)
    deadline = time.monotonic() + settings.CELERY_TASK_SOFT_TIME_LIMIT
    pause = 0.02
    with connection.cursor() as cursor:
        while True:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", key)
            if cursor.fetchone()[0]:
                break
            if time.monotonic() > deadline:
                raise RepricingInFlight(
                    f"another repricing run of store {store.code} is still in flight",
                    extra={"store": store.code},
                )
            time.sleep(pause)
            pause = min(pause * 2, 0.25)
    try:
        yield True
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", key)
        except DatabaseError:
            # The connection is gone, and with it the lock.
            logger.warning("could not unlock store %s's repricing", store.code)


def _abandon_dead_runs(*, store: Store, now: dt.datetime, lock_held: bool) -> int:
    """Mark the store's dead ``running`` runs failed; returns how many.

    With the store's run lock held (PostgreSQL) every other running run is
    dead: a live one would hold the lock. Without it, a run whose heartbeat is
    older than ``HEMA_REPRICING_STALE_SECONDS`` is.
    """
    dead = RepricingRun.objects.filter(store=store, state=RunState.RUNNING)
    if lock_held:
        reason = "abandoned: its worker died (the store's run lock was free)"
    else:
        stale = dt.timedelta(seconds=settings.HEMA_REPRICING_STALE_SECONDS)
        dead = dead.filter(heartbeat_at__lt=now - stale)
        reason = "abandoned: no heartbeat for more than the stale limit"
    count = dead.update(state=RunState.FAILED, error=reason, finished_at=now)
    if count:
        logger.warning(
            "store %s: %s running repricing run(s) marked failed (%s)",
            store.code,
            count,
            reason,
        )
    return count


def store_reprice(
    *,
    store: Store,
    trigger: str = RunTrigger.MANUAL,
    now: dt.datetime | None = None,
    provider: WeatherProvider | None = None,
    refresh_weather: bool = True,
) -> RepricingRun:
    """Reprice every active product of ``store`` for the moment ``now``.

    ``trigger`` markdown reprices only the daily-fresh products. Takes the
    store's run lock first (waiting for a run in flight), marks the store's
    dead runs failed, then returns the ``RepricingRun`` row (committed before
    the work starts, so the label feed knows a run is in flight; its heartbeat
    and counts move as batches commit; finished with counts and timings, or
    marked failed with the error before the exception propagates). A run
    killed between batches leaves the earlier batches written and consistent;
    the next run marks it failed and writes the rest.
    """
    with _store_run_lock(store) as lock_held:
        started = timezone.now()
        _abandon_dead_runs(store=store, now=started, lock_held=lock_held)
        run = RepricingRun.objects.create(
            store=store,
            trigger=trigger,
            priced_at=now or started,
            started_at=started,
            heartbeat_at=started,
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
            _reprice_in_batches(store=store, run=run, at=at, weather=weather)
        except Exception as exc:
            RepricingRun.objects.filter(pk=run.pk).update(
                state=RunState.FAILED,
                error=repr(exc)[:2000],
                finished_at=timezone.now(),
            )
            logger.exception("repricing store %s failed", store.code)
            raise
        run.state = RunState.DONE
        run.priced_at = at
        run.finished_at = run.heartbeat_at = timezone.now()
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


def _reprice_in_batches(
    *,
    store: Store,
    run: RepricingRun,
    at: dt.datetime,
    weather: WeatherSnapshot | None,
) -> None:
    """Price the store's products, then write them batch by batch.

    The reads (rules, previous prices, markdown pace) are one snapshot taken
    before any write; only pricing writes shelf prices and the store's run lock
    keeps other runs out, so the snapshot holds until the last batch.
    """
    clock = time.perf_counter()
    price_settings = price_settings_for(store)
    book = rulebook_load(store=store, price_settings=price_settings)
    queryset = StoreProduct.objects.filter(store=store, is_active=True)
    if run.trigger == RunTrigger.MARKDOWN:
        queryset = queryset.filter(product__is_daily_fresh=True)
    rows = list(
        with_previous_price(queryset, hour_start=hour_floor(at))
        .order_by("pk")
        .values_list(*_ROW_FIELDS, named=True)
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
        profile = day_profile(store=store, before=window.day_opens)
        hours_open = window.hours_open(at, profile)
        hours_left = window.hours_left(at, profile)
        pace_hours = window.pace_hours(at, profile)
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

    run.compute_ms = _ms(time.perf_counter() - clock)

    pricer = _Pricer(
        store=store,
        run=run,
        at=at,
        weather=weather,
        book=book,
        weekday=weekday,
        hour=hour,
        percents=percents,
        floors=floors,
    )
    steps_of = {step.store_product_id: step for step in steps}
    size = max(1, settings.HEMA_REPRICING_BATCH_SIZE)
    for first in range(0, len(rows), size):
        batch = rows[first : first + size]
        clock = time.perf_counter()
        changes = [change for row in batch if (change := pricer.change(row))]
        run.compute_ms += _ms(time.perf_counter() - clock)
        clock = time.perf_counter()
        _write_batch(
            store=store,
            run=run,
            priced=len(batch),
            changes=changes,
            steps=[steps_of[row.pk] for row in batch if row.pk in steps_of],
        )
        run.write_ms += _ms(time.perf_counter() - clock)


@dataclass(frozen=True)
class _Pricer:
    """What every product of one run is priced with."""

    store: Store
    run: RepricingRun
    at: dt.datetime
    weather: WeatherSnapshot | None
    book: RuleBook
    weekday: int
    hour: int
    percents: dict[int, Decimal]
    floors: dict[int, Decimal]

    def change(self, row: Any) -> PriceChange | None:
        """The row's new price as an unsaved ``PriceChange``; None if unmoved."""
        rules = self.book.for_product(
            product_id=row.product_id,
            category_id=row.product__category_id,
            weekday=self.weekday,
            hour=self.hour,
        )
        percent = self.percents.get(row.pk)
        markdown = None
        if percent and row.product__is_daily_fresh:
            markdown = Markdown(percent=percent, floor=self.floors[row.pk])
        previous = previous_price_of(
            prev_price=row.prev_price,
            prev_kind=row.prev_kind,
            hour_old=row.hour_old,
            shelf_price=row.shelf_price,
        )
        result = compute_price(
            row.list_price, row.unit_cost, rules, self.weather, markdown, previous
        )
        if result.amount == row.shelf_price:
            return None
        return PriceChange(
            store=self.store,
            store_product_id=row.pk,
            run=self.run,
            kind=result.kind,
            old_price=row.shelf_price,
            new_price=result.amount,
            reasons=list(result.reasons),
            changed_at=self.at,
        )


def _write_batch(
    *,
    store: Store,
    run: RepricingRun,
    priced: int,
    changes: list[PriceChange],
    steps: list[MarkdownStep],
) -> None:
    """One batch in one short transaction: its history rows, its shelf prices
    (``shelf_prices_set`` locks its rows in primary-key order), and the run's
    heartbeat and counts, so what the run row says is what has committed. A
    batch with nothing to write (a rerun) touches the heartbeat only when it is
    ``HEARTBEAT_EVERY`` old."""
    run.products_priced += priced
    if (
        not changes
        and not steps
        and timezone.now() - run.heartbeat_at < (HEARTBEAT_EVERY)
    ):
        return
    with transaction.atomic():
        if changes:
            PriceChange.objects.bulk_create(changes)
            shelf_prices_set(
                store=store,
                prices={c.store_product_id: c.new_price for c in changes},
            )
        if steps:
            MarkdownStep.objects.bulk_create(steps, ignore_conflicts=True)
        run.prices_changed += len(changes)
        run.markdowns_stepped += len(steps)
        run.heartbeat_at = timezone.now()
        RepricingRun.objects.filter(pk=run.pk).update(
            heartbeat_at=run.heartbeat_at,
            products_priced=run.products_priced,
            prices_changed=run.prices_changed,
            markdowns_stepped=run.markdowns_stepped,
        )


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
