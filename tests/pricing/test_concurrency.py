"""Two repricing runs of one store at once: the store lock serialises them, so
the second finds the first's prices on the shelf and writes no history."""

import threading
from decimal import Decimal

import pytest
from django.db import connection

from inventory.models import StoreProduct
from inventory.weather import FixedWeatherProvider
from pricing.models import PriceChange, RepricingRun, RunState
from pricing.services import store_reprice
from tests.conftest import requires_postgres
from tests.factories import ProductFactory, StoreFactory
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
