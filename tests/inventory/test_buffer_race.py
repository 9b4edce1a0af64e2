"""The forecast buffer lowers the share of paid app orders that a till sale
shorts, with real concurrent checkouts (tests/benchmarks/bench_buffer.py runs
the larger experiment).

The app orders are paid first, racing each other for the shelf, and the till
purchases come while they wait to be picked, racing each other: whatever the
interleaving inside each race, a fixed buffer of one unit leaves the app
``shelf - 1`` units and every till purchase past the first shorts a paid order,
while the forecast buffer holds back what the aisle is expected to take.
"""

import pytest

from orders.models import Order, Refund
from tests.benchmarks.bench_buffer import (
    fixed_buffer,
    forecast_buffer,
    members,
    poisson_draws,
    run_wait,
    seed_history,
    wait_demand_per_unit_forecast,
)
from tests.conftest import put_crew_on_shift, requires_postgres
from tests.factories import StoreFactory

pytestmark = [
    requires_postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

SHELF, APP, EXPECTED_TILL = 10, 16, 4.2


def test_forecast_buffer_shorts_fewer_paid_app_orders_than_a_fixed_one():
    # Given a store with four weeks of sales (40% at the till, evening peak),
    # a product with 10 on the shelf, 16 app shoppers and, per wait, a Poisson
    # number of till shoppers around the 4.2 the forecast expects
    store = StoreFactory(code="SH01")
    put_crew_on_shift(store)
    seed_history(store, seed=7)
    per_unit = wait_demand_per_unit_forecast(store)
    app_members, till_members = members(APP, "app"), members(12, "till")
    tills = poisson_draws(EXPECTED_TILL, 3, seed=11)
    assert tills == [6, 4, 3]

    # When three waits run with each buffer
    def waits(arm):
        return [
            run_wait(
                store=store,
                app_members=app_members,
                till_members=till_members,
                shelf=SHELF,
                till=till,
                arm=arm,
                daily_forecast=EXPECTED_TILL / per_unit,
                mode="wait",
                seed=n,
            )
            for n, till in enumerate(tills)
        ]

    fixed, forecast = waits(fixed_buffer(1)), waits(forecast_buffer)

    # Then with one unit kept back the app sold 9 each time and every till
    # purchase after the first shorted a paid order: 10 of 27 (37%)
    assert [(t.buffer, t.paid, t.shorted) for t in fixed] == [
        ("1", 9, 5),
        ("1", 9, 3),
        ("1", 9, 2),
    ]
    # and the forecast kept back 7 (the 90% Poisson quantile of 4.2): the app
    # sold 3 each time and no till purchase reached a paid order
    assert [(t.buffer, t.paid, t.shorted) for t in forecast] == [("7", 3, 0)] * 3
    assert sum(t.shorted for t in fixed) / sum(t.paid for t in fixed) == 10 / 27
    # and every shorted order was refunded by the orders app
    assert Refund.objects.filter(state="succeeded").count() == 10
    assert Order.objects.filter(channel="app", state="cancelled").count() == 10
