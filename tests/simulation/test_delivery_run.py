"""The simulation's building blocks: the simulated clock reaches the real
services, the seeded draws are deterministic and shaped as the issue asks,
and the figures add up."""

import datetime as dt
import random

import pytest
from django.utils import timezone

from delivery.models import RiderShift
from delivery.riders import rider_shift_start
from inventory.geo import distance_km
from simulation.delivery_run import (
    Outcome,
    SimClock,
    figures_from,
    figures_text,
    floor_seconds,
    percentile,
    point_within,
    poisson_arrivals,
    simulated_time,
)
from tests.factories import StoreStaffFactory

START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@pytest.mark.django_db
@pytest.mark.no_crew
def test_a_service_without_now_stamps_the_simulated_time_and_the_clock_goes_back(
    store,
):
    rider = StoreStaffFactory(store=store, role="rider").user
    clock = SimClock(START)
    with simulated_time(clock):
        clock.advance_to(START + dt.timedelta(minutes=7))
        clock.advance_to(START)  # never backwards
        shift = rider_shift_start(store=store, rider=rider)
    assert RiderShift.objects.get(pk=shift.pk).started_at == START + dt.timedelta(
        minutes=7
    )
    assert abs(timezone.now() - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)


def test_arrivals_are_a_seeded_poisson_process_of_the_asked_rate():
    first = poisson_arrivals(random.Random(1), per_hour=300, hours=2)
    again = poisson_arrivals(random.Random(1), per_hour=300, hours=2)
    other = poisson_arrivals(random.Random(2), per_hour=300, hours=2)
    assert first == again
    assert first != other
    assert first == sorted(first)
    assert first[0] > 0
    assert first[-1] < 7200
    assert 540 <= len(first) <= 660  # 600 expected, about 4 standard deviations
    assert poisson_arrivals(random.Random(1), per_hour=0, hours=2) == []


def test_points_fall_within_the_radius_and_spread_over_the_disc():
    rng = random.Random(1)
    points = [
        point_within(rng, latitude=31.23, longitude=121.47, radius_km=3.0)
        for _ in range(2000)
    ]
    distances = [distance_km(31.23, 121.47, lat, lng) for lat, lng in points]
    assert max(distances) <= 3.0 + 1e-3
    # uniform over the area: a quarter of the points within half the radius
    inner = sum(1 for d in distances if d <= 1.5) / len(distances)
    assert 0.21 < inner < 0.29


def test_floor_times_are_lognormal_around_the_default():
    rng = random.Random(1)
    draws = [floor_seconds(rng, mean=240) for _ in range(5000)]
    assert min(draws) > 0
    assert 225 < sum(draws) / len(draws) < 255
    assert floor_seconds(rng, mean=0) == 0.0


def test_the_figures_add_up_and_measure_lateness_against_the_deadline():
    at = START
    minute = dt.timedelta(minutes=1)
    outcomes = [
        Outcome("express", at + 30 * minute, at + 20 * minute),  # 10 min early
        Outcome("express", at + 30 * minute, at + 34 * minute),  # 4 min late
        Outcome("slot", at + 90 * minute, at + 80 * minute),
        Outcome("express", at + 30 * minute, None),  # still out at the end
        Outcome("refused"),
    ]
    figures = figures_from(
        outcomes, trips=2, rider_busy_seconds=1800, rider_shift_seconds=3600
    )
    assert (figures.orders, figures.express, figures.moved_to_slot) == (5, 3, 1)
    assert figures.refused == 1
    assert figures.delivered + figures.undelivered + figures.refused == 5
    assert (figures.delivered, figures.on_time) == (3, 2)
    assert figures.on_time_rate == pytest.approx(2 / 3)
    assert figures.express_on_time_rate == pytest.approx(1 / 3)
    assert figures.mean_lateness_seconds == 240
    assert figures.p95_lateness_seconds == pytest.approx(percentile([0, 240, 0], 95))
    assert figures.trips_per_order == pytest.approx(2 / 3)
    assert figures.rider_utilisation == 0.5
    assert "refused 1" in figures_text(figures)


def test_percentile_interpolates():
    assert percentile([], 95) == 0.0
    assert percentile([0, 10], 50) == 5
    assert percentile(list(range(101)), 95) == 95


# --- A small run through the real services ----------------------------------------


@pytest.fixture
def shelves(store, make_store_product):
    """Two zones of piece products, as a store the simulation can sell from."""
    from tests.factories import ZoneFactory

    produce = ZoneFactory(store=store, code="PRODUCE", name="Produce", sort_order=1)
    dairy = ZoneFactory(store=store, code="DAIRY", name="Dairy", sort_order=2)
    for n, zone in enumerate([produce, produce, dairy, dairy]):
        make_store_product(list_price="9.90", zone=zone, shelf_location=f"A{n}")
    return store


def counts() -> dict[str, int]:
    from delivery.models import (
        DeliverySlot,
        DispatchRun,
        Fulfilment,
        PickTask,
        RiderShift,
        Trip,
    )
    from orders.models import Order

    return {
        model.__name__: model.objects.count()
        for model in (
            Order,
            Fulfilment,
            PickTask,
            Trip,
            RiderShift,
            DispatchRun,
            DeliverySlot,
        )
    }


def small_run(store):
    from simulation.delivery_run import simulate

    return simulate(
        store=store,
        orders_per_hour=60,
        riders=5,
        hours=0.5,
        seed=1,
        pickers=3,
        max_iterations=100,
        start=START,
    )


@pytest.mark.django_db
@pytest.mark.no_crew
@pytest.mark.slow
def test_a_small_run_adds_up_is_deterministic_and_leaves_the_store_as_it_was(
    shelves,
):
    before = counts()
    figures = small_run(shelves)
    assert counts() == before
    assert figures.orders == len(
        poisson_arrivals(random.Random(1), per_hour=60, hours=0.5)
    )
    assert figures.orders > 20
    parts = figures.delivered + figures.undelivered + figures.refused
    assert parts == figures.orders
    assert figures.express + figures.moved_to_slot + figures.refused == figures.orders
    assert figures.delivered == figures.orders - figures.refused  # all drained
    assert figures.trips >= 1
    assert 0 < figures.rider_utilisation <= 1
    print(figures_text(figures))
    assert small_run(shelves) == figures


@pytest.mark.django_db
@pytest.mark.no_crew
@pytest.mark.slow
def test_the_command_prints_and_writes_the_figures_and_keeps_nothing(
    shelves, tmp_path, capsys
):
    import json

    from django.core.management import call_command

    before = counts()
    out = tmp_path / "figures.json"
    call_command(
        "simulate_delivery",
        "--store",
        shelves.code,
        "--orders-per-hour",
        "40",
        "--riders",
        "3",
        "--hours",
        "0.25",
        "--json",
        str(out),
    )
    printed = capsys.readouterr().out
    figures = json.loads(out.read_text())
    assert counts() == before
    assert f"orders: {figures['orders']} " in printed
    assert "riders' utilisation:" in printed
    assert (
        figures["delivered"] + figures["undelivered"] + figures["refused"]
        == (figures["orders"])
    )


@pytest.mark.django_db
def test_the_command_names_a_bad_argument(store):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="No store 'XX99'"):
        call_command("simulate_delivery", "--store", "XX99")
    with pytest.raises(CommandError, match="--riders must be positive"):
        call_command("simulate_delivery", "--store", store.code, "--riders", "0")
