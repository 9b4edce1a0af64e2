"""Repricing against other transactions on PostgreSQL: two runs of one store
at once (the store's run lock serialises them, so the second finds the first's
prices on the shelf and writes no history), and a checkout's row lock taken
while a run writes (it waits at most one batch)."""

import threading
import time
from decimal import Decimal

import pytest
from django.db import connection, transaction

from inventory.models import Product, StoreProduct
from inventory.weather import FixedWeatherProvider
from pricing.models import PriceChange, RepricingRun, RunState
from pricing.services import store_reprice
from tests.conftest import requires_postgres
from tests.factories import CategoryFactory, ProductFactory, StoreFactory
from tests.pricing.conftest import make_rule
from tests.pricing.test_services import SAT_EVENING

pytestmark = [
    requires_postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

D = Decimal
PRODUCTS = 40
ROUNDS = 3


def test_concurrent_runs_of_one_store_write_each_change_once():
    store = StoreFactory(code="RACE1")
    make_rule(store, hours={18: "0.80", 19: "1.20", 20: "0.80"})  # moves hourly
    for index in range(PRODUCTS):
        StoreProduct.objects.create(
            store=store,
            product=ProductFactory(),
            list_price=D("10.00") + index,
            shelf_price=D("10.00") + index,
            unit_cost=D("4.00"),
        )
    provider = FixedWeatherProvider()
    for round_number in range(ROUNDS):
        barrier = threading.Barrier(2, timeout=60)
        changed: list[int] = []
        errors: list[BaseException] = []

        def run(
            round_number=round_number, barrier=barrier, changed=changed, errors=errors
        ):
            try:
                connection.ensure_connection()
                barrier.wait()
                at = SAT_EVENING.replace(hour=10 + round_number)
                changed.append(
                    store_reprice(store=store, now=at, provider=provider).prices_changed
                )
            except BaseException as exc:
                errors.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == []
        # one run moved every price, the other found nothing left to do
        assert sorted(changed) == [0, PRODUCTS], round_number

    assert PriceChange.objects.count() == PRODUCTS * ROUNDS
    assert RepricingRun.objects.filter(state=RunState.DONE).count() == 2 * ROUNDS


LOCK_PRODUCTS = 4_000
LOCK_BATCH = 250


def test_a_checkout_waits_at_most_one_batch_behind_a_repricing(settings):
    """While a repricing of a few thousand products writes, a checkout-style row
    lock on one of its rows (taken again and again, a few ms apart) never waits
    for more than a batch: counted in rows the run committed while it waited,
    not in seconds (a wall-clock bound failed on a loaded machine)."""
    settings.HEMA_REPRICING_BATCH_SIZE = LOCK_BATCH
    store = StoreFactory(code="LOCK1")
    make_rule(store, weekdays={5: "1.05"})
    category = CategoryFactory()
    products = Product.objects.bulk_create(
        ProductFactory.build(sku=f"LOCK-{index:05d}", category=category)
        for index in range(LOCK_PRODUCTS)
    )
    StoreProduct.objects.bulk_create(
        StoreProduct(
            store=store,
            product=product,
            list_price=D("10.00"),
            unit_cost=D("4.00"),
            shelf_price=D("10.00"),
        )
        for product in products
    )
    ids = list(
        StoreProduct.objects.filter(store=store)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    # rows of the first, a middle and the last batch
    targets = [ids[0], ids[len(ids) // 2], ids[-1]]
    provider = FixedWeatherProvider()
    done = threading.Event()
    started = threading.Event()
    waits: list[float] = []
    # Rows the run committed while each lock waited.
    committed_meanwhile: list[int] = []
    errors: list[BaseException] = []
    timing: dict[str, float] = {}

    def reprice():
        try:
            started.set()
            clock = time.perf_counter()
            run = store_reprice(store=store, now=SAT_EVENING, provider=provider)
            timing["run"] = time.perf_counter() - clock
            timing["changed"] = run.prices_changed
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()
            connection.close()

    # Locks granted on a row of the first batch, already repriced, while the last
    # batch was not yet written: the run let go of its rows between batches.
    granted_mid_run: list[int] = []

    def checkout():
        try:
            started.wait(30)
            attempt = 0
            while not done.is_set():
                target = targets[attempt % len(targets)]
                attempt += 1
                repriced = StoreProduct.objects.filter(
                    store=store, shelf_price=D("10.50")
                )
                with transaction.atomic():
                    before = repriced.count()
                    clock = time.perf_counter()
                    list(
                        StoreProduct.objects.select_for_update(of=("self",))
                        .filter(pk=target)
                        .order_by("pk")
                        .values_list("pk", flat=True)
                    )
                    waits.append(time.perf_counter() - clock)
                    committed_meanwhile.append(repriced.count() - before)
                    if target == targets[0]:
                        prices = dict(
                            StoreProduct.objects.filter(
                                pk__in=(targets[0], targets[-1])
                            ).values_list("pk", "shelf_price")
                        )
                        if prices == {
                            targets[0]: D("10.50"),
                            targets[-1]: D("10.00"),
                        }:
                            granted_mid_run.append(attempt)
                time.sleep(0.002)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=reprice), threading.Thread(target=checkout)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert errors == []
    assert timing["changed"] == LOCK_PRODUCTS
    assert set(
        StoreProduct.objects.filter(store=store).values_list("shelf_price", flat=True)
    ) == {D("10.50")}
    longest = max(waits)
    print(
        f"run {timing['run']:.3f} s, {len(waits)} checkout locks, "
        f"longest wait {longest * 1000:.1f} ms, at most "
        f"{max(committed_meanwhile)} rows committed during one wait"
    )
    assert len(waits) > 20
    # Written in one transaction, the run held every row until its end: no lock
    # on a repriced row could be granted while the last batch was still to come.
    assert granted_mid_run
    # While a lock waited, at most the batch holding its row committed (and one
    # more that was committing as it asked): never more than two batches of the
    # sixteen. In one transaction a wait on the first batch's row lasts the
    # whole run: 4,000 rows.
    assert max(committed_meanwhile) <= 2 * LOCK_BATCH
