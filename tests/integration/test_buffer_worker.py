"""The online buffers on a real worker, through the broker, and their beat entry."""

from decimal import Decimal

import pytest
from django.conf import settings
from django.utils import timezone

from hema.celery import app
from inventory.forecast.buffer import trading_day_of
from inventory.models import StoreProduct
from inventory.tasks import set_online_buffers_all_task, set_online_buffers_store_task
from tests.forecast_rows import demand_forecast, forecast_run
from tests.integration.conftest import requires_shared_postgres, wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

BUFFER_JOB = "inventory-set-online-buffers"


@requires_shared_postgres
def test_a_real_worker_sets_a_stores_buffers_from_its_forecast(
    real_worker, broker_app, store, make_store_product
):
    # Given a product kept back by one unit, forecast to sell 100 today in a
    # store with no sales history yet (flat over its 14 opening hours)
    store.is_24h = False  # its 14 opening hours (the factory's are 24)
    store.save(update_fields=["is_24h"])
    sp = make_store_product(online_buffer=Decimal(1))
    day = trading_day_of(store, timezone.now())
    demand_forecast(sp, day, "100", run=forecast_run(store, origin=day))

    # When the store's buffer task goes through the broker to the worker
    with broker_app.connection_for_write() as conn:
        set_online_buffers_store_task.apply_async(
            args=[store.pk], queue=real_worker.queue, connection=conn
        )

    # Then the worker sets the buffer: 100 x 15/840 = 1.79 expected, 4 at 90%
    wait_for(
        lambda: StoreProduct.objects.get(pk=sp.pk).online_buffer == Decimal(4),
        seconds=30,
        worker=real_worker,
        what="the online buffer",
    )


def test_the_beat_schedule_sets_the_buffers_nightly_on_the_forecast_queue():
    entry = settings.CELERY_BEAT_SCHEDULE[BUFFER_JOB]
    app.loader.import_default_modules()

    assert app.tasks[entry["task"]].run is set_online_buffers_all_task.run
    assert (entry["schedule"].hour, entry["schedule"].minute) == ({21}, {0})
    route = app.amqp.router.route({}, entry["task"])
    assert route["queue"].name == "forecast"
