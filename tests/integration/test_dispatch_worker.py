"""The dispatcher on a real Celery worker, through the broker: a packed delivery
and a rider on shift become a trip, decided by the worker."""

import pytest

from delivery.models import DispatchRun, Trip
from delivery.riders import picker_shift_start, rider_shift_start
from delivery.tasks import dispatch_store_task
from tests.delivery.conftest import (  # noqa: F401 (fixtures, by name below)
    floor,
    make_shopper,
    packer,
    point_east,
    sent_home,
    shopper,
)
from tests.factories import StoreStaffFactory
from tests.integration.conftest import (
    requires_shared_postgres,
    running_worker,
    wait_for,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.no_crew,
    pytest.mark.django_db(transaction=True),
]


@requires_shared_postgres
def test_a_real_worker_dispatches_a_packed_delivery_to_a_rider(
    broker_app, broker_url, tmp_path, request
):
    # Given a rider on shift and a delivery packed 1 km east, committed
    layout, buyer, counter = (
        request.getfixturevalue(name) for name in ("floor", "shopper", "packer")
    )
    store = layout.store
    picker_shift_start(store=store, picker=StoreStaffFactory(store=store).user)
    shift = rider_shift_start(
        store=store, rider=StoreStaffFactory(store=store, role="rider").user
    )
    fulfilment = sent_home(buyer, store, layout.apples, counter, point_east(store, 1))

    # When the store's tick goes through the broker to a worker of the dispatch
    # task (its solver: the tests' stand-in until the routing package lands)
    with running_worker(
        broker_app,
        broker_url,
        tmp_path,
        env={"HEMA_DISPATCH_SOLVER": "tests.delivery.standin_solver.solve"},
    ) as worker:
        with broker_app.connection_for_write() as conn:
            dispatch_store_task.apply_async(
                args=[store.pk], queue=worker.queue, connection=conn
            )
        wait_for(
            lambda: Trip.objects.filter(store=store).exists(),
            seconds=30,
            worker=worker,
            what="the dispatcher's trip",
        )

    # Then the worker put the order on the rider's trip and recorded why
    trip = Trip.objects.get()
    assert trip.shift_id == shift.pk
    assert [s.fulfilment_id for s in trip.stops.all()] == [fulfilment.pk]
    run = DispatchRun.objects.get()
    assert run.trips_created == 1
    assert run.decisions[0]["why"] == "at the store"
