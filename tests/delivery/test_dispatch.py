"""The dispatcher: which orders it takes, pooling, a fixed scenario whose
deadlines can all be met, the record of each decision, the lock under
concurrent ticks, and its Celery wiring (its own queue, a beat entry fanning
out per store).

Solvers run with a seed and an iteration limit, never a wall-clock budget.
The stand-in solver always runs; the real one joins once it is importable.
"""

import datetime as dt
import importlib.util

import pytest
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from delivery.dispatch import dispatch_store
from delivery.models import (
    DeliverySettings,
    DeliverySlot,
    DispatchRun,
    Fulfilment,
    RiderShift,
    Trip,
    TripStop,
)
from delivery.riders import picker_shift_start, rider_shift_end, rider_shift_start
from delivery.tasks import dispatch_all_task
from hema.celery import app
from tests.conftest import requires_postgres
from tests.delivery.conftest import point_east, sent_home
from tests.delivery.standin_solver import solve as standin
from tests.factories import StoreFactory, StoreStaffFactory
from tests.orders.conftest import race

pytestmark = [pytest.mark.django_db, pytest.mark.no_crew]

SOLVERS = [pytest.param(standin, id="standin")]
if importlib.util.find_spec("delivery.routing.solve") is not None:
    from delivery.routing.solve import solve as real_solve

    SOLVERS.append(pytest.param(real_solve, id="real"))


def riders_on_shift(store, count: int) -> list[RiderShift]:
    picker_shift_start(
        store=store, picker=StoreStaffFactory(store=store, role="picker").user
    )
    return [
        rider_shift_start(
            store=store, rider=StoreStaffFactory(store=store, role="rider").user
        )
        for _ in range(count)
    ]


@pytest.fixture
def roomy(store):
    """Enough places per window for every order these tests place."""
    return DeliverySettings.objects.create(store=store, orders_per_rider_slot=20)


def tick(store, solve, **kwargs):
    return dispatch_store(
        store=store, solve=solve, max_iterations=200, seed=1, **kwargs
    )


@pytest.mark.parametrize("solve", SOLVERS)
def test_two_neighbouring_orders_are_pooled_into_one_trip(
    solve, floor, shopper, packer, roomy
):
    # Given two riders and two orders 1.0 and 1.1 km east of the store
    riders_on_shift(floor.store, 2)
    first = sent_home(
        shopper, floor.store, floor.apples, packer, point_east(floor.store, 1.0)
    )
    second = sent_home(
        shopper, floor.store, floor.apples, packer, point_east(floor.store, 1.1)
    )

    run = tick(floor.store, solve)

    # Then one rider takes both, each on time
    trip = Trip.objects.get()
    stops = list(trip.stops.order_by("sequence"))
    assert {s.fulfilment_id for s in stops} == {first.pk, second.pk}
    assert all(s.planned_arrival <= s.deadline for s in stops)
    assert (run.trips_created, run.stops_pooled) == (1, 2)
    [decision] = run.decisions
    assert decision["pooled"] is True
    assert sorted(decision["stops"]) == sorted([first.reference, second.reference])
    assert decision["why"] == "at the store"
    assert decision["trip"] == trip.pk
    assert run.solver in ("standin", "pyvrp", "greedy")


@pytest.mark.parametrize("solve", SOLVERS)
def test_twelve_orders_and_three_riders_meet_every_deadline(
    solve, floor, shopper, packer, roomy
):
    # Given three riders and twelve orders, three in each direction at 0.5, 1.0
    # and 1.5 km, each due in 30 minutes. By hand: one rider doing two
    # directions rides 156 + 216 + 216 s out, 624 s across, 216 + 216 s on, with
    # a minute at each door: the last door at 1,704 s < 1,800 s. So every
    # deadline can be met with two riders; three have room.
    riders_on_shift(floor.store, 3)
    store = floor.store
    base_lat, base_lng = float(store.latitude), float(store.longitude)
    created = []
    for direction in range(4):
        for km in (0.5, 1.0, 1.5):
            lat, lng = point_east(store, km if direction in (0, 1) else -km)
            if direction in (1, 3):  # north and south: swap the offset onto lat
                offset = float(lng) - base_lng
                lat = f"{base_lat + offset * 0.855:.6f}"
                lng = f"{base_lng:.6f}"
            created.append(sent_home(shopper, store, floor.apples, packer, (lat, lng)))
    now = timezone.now()
    # all twelve promised express (checkout moved the later ones to windows,
    # which the dispatcher would hold until their window is near)
    Fulfilment.objects.update(deadline=now + dt.timedelta(minutes=30), slot=None)

    run = tick(store, solve, now=now)

    stops = list(TripStop.objects.select_related("trip"))
    assert len(stops) == 12
    assert {s.fulfilment_id for s in stops} == {f.pk for f in created}
    late = [s for s in stops if s.planned_arrival > s.deadline]
    assert late == []
    assert 1 <= Trip.objects.count() <= 3
    assert run.trips_created == Trip.objects.count()
    assert all(max(d["lateness_seconds"]) == 0 for d in run.decisions)


def test_a_window_order_waits_for_its_window_and_never_arrives_before_it(
    floor, shopper, packer, roomy
):
    # Given a packed order booked for the window 14:00-14:30 (now is 12:00),
    # 2 km east (a 624 s ride), and an idle rider
    riders_on_shift(floor.store, 1)
    order = sent_home(
        shopper, floor.store, floor.apples, packer, point_east(floor.store, 2.0)
    )
    now = timezone.now().replace(hour=12, minute=0, second=0, microsecond=0)
    window = DeliverySlot.objects.create(
        store=floor.store,
        kind="window",
        starts=now + dt.timedelta(hours=2),
        ends=now + dt.timedelta(hours=2, minutes=30),
        capacity=5,
        booked=1,
    )
    Fulfilment.objects.filter(pk=order.pk).update(slot=window, deadline=window.ends)

    # Then at 12:00 and at 13:40 it is not in the problem: the rider stays free
    assert tick(floor.store, standin, now=now) is None
    assert tick(floor.store, standin, now=now + dt.timedelta(minutes=100)) is None
    assert not Trip.objects.exists()

    # And at 13:48 (within five minutes of 13:49:36, when it must leave to be
    # there at 14:00) it is planned to leave then, arriving as the window opens
    run = tick(floor.store, standin, now=now + dt.timedelta(minutes=108))
    assert run.stops_considered == 1
    [decision] = run.decisions
    assert decision["trip"] is None  # it leaves after this tick
    assert 90 <= decision["departs_in_seconds"] <= 100
    run = tick(floor.store, standin, now=now + dt.timedelta(minutes=109, seconds=30))
    stop = TripStop.objects.get()
    assert window.starts <= stop.planned_arrival <= window.ends


def test_a_run_records_what_it_considered_and_orders_on_a_trip_are_not_taken_again(
    floor, shopper, packer, roomy
):
    riders_on_shift(floor.store, 1)
    sent_home(shopper, floor.store, floor.apples, packer, point_east(floor.store, 1))

    first = tick(floor.store, standin)
    second = tick(floor.store, standin)

    assert (first.stops_considered, first.riders_considered) == (1, 1)
    assert first.solver == "standin"
    assert first.finished_at is not None
    assert first.cost > 0
    assert second is None  # nothing left to deliver
    assert TripStop.objects.count() == 1


def test_orders_still_picking_wait_and_without_riders_the_run_says_so(
    floor, shopper, packer, roomy
):
    # Given an order packed, and then its rider gone off shift
    [shift] = riders_on_shift(floor.store, 1)
    sent_home(shopper, floor.store, floor.apples, packer, point_east(floor.store, 1))
    rider_shift_end(store=floor.store, rider=shift.rider)

    run = tick(floor.store, standin)

    assert run.trips_created == 0
    assert run.notes == "no rider free: every order waits for the next tick"
    assert not Trip.objects.exists()


def test_the_database_refuses_an_order_on_two_live_trips(floor, shopper, packer, roomy):
    riders_on_shift(floor.store, 2)
    fulfilment = sent_home(
        shopper, floor.store, floor.apples, packer, point_east(floor.store, 1)
    )
    tick(floor.store, standin)
    other = RiderShift.objects.exclude(trips__isnull=False).get()
    now = timezone.now()
    trip = Trip.objects.create(
        store=floor.store,
        rider=other.rider,
        shift=other,
        planned_departure=now,
        planned_return=now,
    )

    with pytest.raises(IntegrityError), transaction.atomic():
        TripStop.objects.create(
            trip=trip,
            fulfilment=fulfilment,
            sequence=1,
            deadline=now,
            planned_arrival=now,
        )


@requires_postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_concurrent_dispatcher_runs_never_put_an_order_on_two_trips(
    floor, make_shopper, packer, roomy
):
    riders_on_shift(floor.store, 4)
    buyer = make_shopper(balance="500.00")
    created = [
        sent_home(buyer, floor.store, floor.apples, packer, point_east(floor.store, km))
        for km in (0.5, -0.5, 1.5, -1.5)
    ]

    for _ in range(3):
        outcomes = race(*(lambda: tick(floor.store, standin) for _ in range(4)))
        assert not [o for o in outcomes if isinstance(o, Exception)], outcomes

    on_trips = list(TripStop.objects.values_list("fulfilment_id", flat=True))
    assert sorted(on_trips) == sorted(f.pk for f in created)
    assert DispatchRun.objects.filter(trips_created__gt=0).count() == 1


# --- Celery wiring --------------------------------------------------------------------


def test_the_dispatcher_runs_on_its_own_queue_every_30_seconds():
    entry = settings.CELERY_BEAT_SCHEDULE["delivery-dispatch"]
    app.loader.import_default_modules()

    assert entry["task"] == "delivery.dispatch_all"
    assert entry["schedule"] == 30.0
    assert app.tasks[entry["task"]].run is dispatch_all_task.run
    assert settings.CELERY_TASK_ROUTES["delivery.dispatch_all"] == {"queue": "dispatch"}
    assert settings.CELERY_TASK_ROUTES["delivery.dispatch_store"] == {
        "queue": "dispatch"
    }
    assert app.amqp.router.route({}, "delivery.dispatch_store")["queue"].name == (
        "dispatch"
    )


def test_the_fan_out_ticks_each_store_with_riders_on_shift(
    floor, shopper, packer, roomy, settings
):
    settings.HEMA_DISPATCH_SOLVER = "tests.delivery.standin_solver.solve"
    riders_on_shift(floor.store, 1)
    StoreFactory(code="SH02")  # nobody on shift: not ticked
    sent_home(shopper, floor.store, floor.apples, packer, point_east(floor.store, 1))

    sent = dispatch_all_task.delay().get()

    assert sent == 1
    assert Trip.objects.filter(store=floor.store).count() == 1


def test_the_manager_reads_trips_and_dispatch_runs_of_their_store_only(
    floor, shopper, packer, roomy, client
):
    from tests.factories import UserFactory

    riders_on_shift(floor.store, 1)
    fulfilment = sent_home(
        shopper, floor.store, floor.apples, packer, point_east(floor.store, 1)
    )
    run = tick(floor.store, standin)
    trip = Trip.objects.get()
    manager = UserFactory(is_staff=True)
    StoreStaffFactory(user=manager, store=floor.store, role="manager")
    other = UserFactory(is_staff=True)
    StoreStaffFactory(user=other, store=StoreFactory(code="SH02"), role="manager")

    client.force_login(manager)
    trip_page = client.get(f"/admin/delivery/trip/{trip.pk}/change/")
    runs = client.get("/admin/delivery/dispatchrun/")
    settings_page = client.get("/admin/delivery/deliverysettings/")
    client.force_login(other)
    refused = client.get(f"/admin/delivery/trip/{trip.pk}/change/")
    their_runs = client.get("/admin/delivery/dispatchrun/")

    assert trip_page.status_code == 200
    assert fulfilment.reference in trip_page.content.decode()
    assert runs.status_code == 200
    assert f"/admin/delivery/dispatchrun/{run.pk}/change/" in runs.content.decode()
    assert settings_page.status_code == 200
    assert refused.status_code == 403
    assert f"/admin/delivery/dispatchrun/{run.pk}/change/" not in (
        their_runs.content.decode()
    )


def test_an_order_whose_bags_are_on_the_rail_joins_with_its_ready_time_and_waits(
    floor, shopper, picker, roomy
):
    # Given an app delivery whose one bag is picked and bagged but not packed
    from delivery.dispatch import problem_build
    from tests.delivery.conftest import bag_it, claim, confirm, shelf_code

    riders_on_shift(floor.store, 1)
    order = shopper.order(
        floor.store,
        [(floor.apples, "1")],
        mode="delivery",
        address_id=shopper.add_address(*point_east(floor.store, 1.0)),
    )
    task = claim(picker, floor.store, "PRODUCE").json()
    line = task["lines"][0]
    confirm(picker, floor.store, task, line, code=shelf_code(floor.apples))
    assert bag_it(picker, floor.store, task, floor.bags[0]).status_code == 200
    now = timezone.now()

    problem, candidates, _, _ = problem_build(store=floor.store, now=now)

    # Then it is a stop, ready once packed (the store's 150 s packing default at
    # least), and the tick makes no trip: the route cannot leave within the tick
    [stop] = problem.stops
    assert candidates[stop.id].fulfilment.order_id == order.pk
    assert stop.ready_at >= 150
    run = tick(floor.store, standin, now=now)
    assert run.trips_created == 0
    assert run.decisions[0]["waits"] == "departs after this tick: decided next tick"
