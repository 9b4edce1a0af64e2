"""The nightly forecast on a real Celery worker, through the broker: the store's
task opens the run and fans its chunks out over the forecast queue, and the
chunk that completes the run finishes it."""

import datetime as dt
from decimal import Decimal

import pytest

from inventory.forecast.demo_history import demo_history_generate
from inventory.forecast.models import DemandForecast, ForecastRun, RunKind, RunState
from inventory.forecast.tasks import predict_store_task
from tests.factories import CategoryFactory, ProductFactory, StoreFactory
from tests.integration.conftest import (
    requires_shared_postgres,
    running_worker,
    wait_for,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

NOW = dt.datetime(2026, 11, 19, 19, 0, tzinfo=dt.UTC)  # 03:00 in Shanghai
ORIGIN = dt.date(2026, 11, 20)


@requires_shared_postgres
def test_a_real_worker_runs_the_nightly_forecast_in_chunks(
    broker_app, broker_url, tmp_path
):
    # Given a store of five products with 60 days of history, committed
    from inventory.services import store_product_create

    store = StoreFactory(code="FW01")
    category = CategoryFactory(slug="fruit", name="Fruit")
    for i in range(5):
        store_product_create(
            store=store,
            product=ProductFactory(sku=f"FW-{i:03d}", category=category),
            list_price=Decimal("9.90"),
            unit_cost=Decimal("6.00"),
        )
    demo_history_generate(store=store, days=60, seed=2, now=NOW)

    # When the store's nightly task goes through the broker to a worker whose
    # forecast queue is this test's own (chunks of two products: three chunks)
    with running_worker(
        broker_app,
        broker_url,
        tmp_path,
        env={"HEMA_FORECAST_QUEUE": "{queue}", "HEMA_FORECAST_CHUNK_SIZE": "2"},
    ) as worker:
        with broker_app.connection_for_write() as conn:
            predict_store_task.apply_async(
                args=[store.pk, ORIGIN.isoformat()], queue=worker.queue, connection=conn
            )
        wait_for(
            lambda: ForecastRun.objects.filter(
                store=store, kind=RunKind.PREDICT, state=RunState.DONE
            ).exists(),
            seconds=90,
            worker=worker,
            what="the finished forecast run",
        )

    # Then every product has its week, and the run counted the three chunks
    run = ForecastRun.objects.get(store=store, kind=RunKind.PREDICT)
    assert (run.series, run.failures) == (5, 0)
    assert sorted(run.detail["chunks_done"]) == [0, 1, 2]
    assert run.seconds > 0
    assert DemandForecast.objects.filter(run=run).count() == 5 * 7
