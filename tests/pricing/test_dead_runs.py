"""Repricing runs that die: a heartbeat tells the label feed and the next run,
and a run killed between batches leaves a consistent shelf that a rerun
finishes."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import inventory.services
from inventory.models import StoreProduct
from pricing.models import PriceChange, RepricingRun, RunState, RunTrigger
from pricing.selectors import feed_as_of
from pricing.services import store_reprice
from tests.conftest import requires_postgres
from tests.factories import ProductFactory, StoreFactory
from tests.pricing.conftest import make_rule

pytestmark = pytest.mark.django_db

D = Decimal
SAT_EVENING = dt.datetime(2025, 6, 7, 10, 20, tzinfo=dt.UTC)  # 18:20 in Shanghai


class WorkerKilled(BaseException):
    """What a killed worker looks like to the run: it stops, nothing is caught
    (not even the run's own ``except Exception``), the run row stays running."""


def running_run(store, *, started_ago: int, heartbeat_ago: int) -> RepricingRun:
    now = timezone.now()
    return RepricingRun.objects.create(
        store=store,
        trigger=RunTrigger.HOURLY,
        state=RunState.RUNNING,
        priced_at=now - dt.timedelta(seconds=started_ago),
        started_at=now - dt.timedelta(seconds=started_ago),
        heartbeat_at=now - dt.timedelta(seconds=heartbeat_ago),
    )


@pytest.fixture
def stale_limit(settings) -> int:
    settings.HEMA_REPRICING_STALE_SECONDS = 60
    return 60


def test_a_run_with_a_stale_heartbeat_no_longer_holds_the_feed_back(store, stale_limit):
    # Given a run started two minutes ago whose heartbeat stopped 61 s ago
    dead = running_run(store, started_ago=120, heartbeat_ago=stale_limit + 1)
    now = timezone.now()

    # Then the feed's as_of is now, not the dead run's start
    assert feed_as_of(store=store, now=now) == now
    # and the row is left as it was: the feed only reads
    dead.refresh_from_db()
    assert dead.state == RunState.RUNNING


def test_a_run_with_a_fresh_heartbeat_holds_the_feed_at_its_start(store, stale_limit):
    alive = running_run(store, started_ago=120, heartbeat_ago=5)
    assert feed_as_of(store=store, now=timezone.now()) == alive.started_at


def test_the_next_run_marks_a_stale_run_failed_and_the_feed_moves_on(
    store, make_store_product, clear_weather, stale_limit
):
    # Given a run left running by a worker that died two minutes ago
    make_store_product(list_price=D("10.00"))
    make_rule(store, weekdays={5: "1.05"})
    dead = running_run(store, started_ago=150, heartbeat_ago=120)

    # When the next run of the store comes
    run = store_reprice(store=store, now=SAT_EVENING, provider=clear_weather)

    # Then the dead run is failed, with why and when, and the new one is done
    dead.refresh_from_db()
    assert dead.state == RunState.FAILED
    assert dead.error.startswith("abandoned: ")
    assert dead.finished_at is not None
    assert dead.finished_at <= run.started_at
    assert (run.state, run.prices_changed) == (RunState.DONE, 1)
    # and the feed's as_of is now again
    now = timezone.now()
    assert feed_as_of(store=store, now=now) == now


def test_the_next_run_leaves_a_live_run_of_another_store_alone(
    store, make_store_product, clear_weather, stale_limit
):
    other = StoreFactory(code="BJ01")
    elsewhere = running_run(other, started_ago=150, heartbeat_ago=120)
    make_store_product(list_price=D("10.00"))

    store_reprice(store=store, now=SAT_EVENING, provider=clear_weather)

    elsewhere.refresh_from_db()
    assert elsewhere.state == RunState.RUNNING


@requires_postgres
def test_on_postgresql_a_running_run_without_the_store_lock_is_dead_at_once(
    store, make_store_product, clear_weather, stale_limit
):
    """A live run holds its store's run lock from before its row exists until it
    ends, so the next run that gets the lock knows at once, heartbeat or not."""
    make_store_product(list_price=D("10.00"))
    killed_just_now = running_run(store, started_ago=3, heartbeat_ago=1)

    store_reprice(store=store, now=SAT_EVENING, provider=clear_weather)

    killed_just_now.refresh_from_db()
    assert killed_just_now.state == RunState.FAILED
    assert "run lock was free" in killed_just_now.error


def test_a_run_killed_between_batches_is_finished_by_the_next(
    store, make_store_product, clear_weather, settings, monkeypatch
):
    # Given five products a rule raises by 5%, written two per batch
    settings.HEMA_REPRICING_BATCH_SIZE = 2
    products = [
        make_store_product(
            product=ProductFactory(sku=f"P{index}"),
            list_price=D("10.00") + index,
            unit_cost=D("4.00"),
        )
        for index in range(5)
    ]
    make_rule(store, weekdays={5: "1.05"})
    expected = [D("10.50"), D("11.60"), D("12.60"), D("13.70"), D("14.70")]

    # When the worker dies while the second batch writes
    real = inventory.services.shelf_prices_set
    calls = []

    def dies_on_the_second_batch(**kwargs):
        calls.append(sorted(kwargs["prices"]))
        if len(calls) == 2:
            raise WorkerKilled
        return real(**kwargs)

    monkeypatch.setattr("pricing.services.shelf_prices_set", dies_on_the_second_batch)
    with pytest.raises(WorkerKilled):
        store_reprice(store=store, now=SAT_EVENING, provider=clear_weather)

    # Then the first batch is on the shelf with its history, nothing else is,
    # and the run row says how far it got
    ids = [p.pk for p in products]
    assert calls == [ids[:2], ids[2:4]]
    shelf = dict(StoreProduct.objects.values_list("pk", "shelf_price"))
    assert [shelf[pk] for pk in ids] == [
        *expected[:2],
        *[p.list_price for p in products[2:]],
    ]
    assert PriceChange.objects.count() == 2
    dead = RepricingRun.objects.get()
    assert dead.state == RunState.RUNNING
    assert (dead.products_priced, dead.prices_changed) == (2, 2)
    assert dead.heartbeat_at > dead.started_at

    # When the next run comes (its heartbeat long stale by then), the same hour
    monkeypatch.setattr("pricing.services.shelf_prices_set", real)
    RepricingRun.objects.filter(pk=dead.pk).update(
        heartbeat_at=timezone.now() - dt.timedelta(hours=1)
    )
    rerun = store_reprice(store=store, now=SAT_EVENING, provider=clear_weather)

    # Then it writes only the rest: every price once, the end state of one run
    assert (rerun.products_priced, rerun.prices_changed) == (5, 3)
    shelf = dict(StoreProduct.objects.values_list("pk", "shelf_price"))
    assert [shelf[pk] for pk in ids] == expected
    assert sorted(
        PriceChange.objects.values_list("store_product_id", "old_price", "new_price")
    ) == [
        (pk, p.list_price, new)
        for pk, p, new in zip(ids, products, expected, strict=True)
    ]
    dead.refresh_from_db()
    assert dead.state == RunState.FAILED


def test_queries_grow_with_the_batches_not_the_products(clear_weather, settings):
    settings.HEMA_REPRICING_BATCH_SIZE = 10

    def queries_for(code: str, count: int) -> int:
        store = StoreFactory(code=code)
        make_rule(store, weekdays={5: "1.05"})
        for index in range(count):
            StoreProduct.objects.create(
                store=store,
                product=ProductFactory(),
                list_price=D("10.00") + index,
                shelf_price=D("10.00") + index,
                unit_cost=D("4.00"),
            )
        with CaptureQueriesContext(connection) as queries:
            run = store_reprice(store=store, now=SAT_EVENING, provider=clear_weather)
        assert run.prices_changed == count
        return len(queries.captured_queries)

    one, two, three = (
        queries_for("QB1", 10),
        queries_for("QB2", 20),
        queries_for("QB3", 30),
    )
    # each batch costs the same few queries, wherever its products are
    assert two - one == three - two
    assert 0 < two - one <= 8
    # and a batch of 10 costs what a batch of 1 does
    assert queries_for("QB4", 1) == one
