"""Riders through the API: shifts, positions, the trip in hand, collecting it,
delivering or failing each stop; the shopper's tracking; every refusal leaves
everything as it was."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from delivery.dispatch import dispatch_store
from delivery.models import (
    DeliverySettings,
    Fulfilment,
    RiderShift,
    Trip,
    TripStop,
)
from delivery.riders import picker_shift_start
from orders.models import Order, Refund
from tests.delivery.conftest import (
    delivery_snapshot,
    point_east,
    post,
    rider_client,
    sent_home,
    staff_client,
)
from tests.delivery.standin_solver import solve as standin

pytestmark = [pytest.mark.django_db, pytest.mark.no_crew]


@pytest.fixture
def crew(store):
    """A picker on duty and one rider on shift (through the API)."""
    picker_shift_start(store=store, picker=staff_client(store, "picker").user)
    return rider_client(store)


def base(store) -> str:
    return f"/api/v1/stores/{store.code}/rider"


def rider_snapshot() -> dict:
    def rows(queryset, *fields):
        return list(queryset.order_by("pk").values_list("pk", *fields))

    return {
        **delivery_snapshot(),
        "shifts": rows(
            RiderShift.objects, "ended_at", "latitude", "longitude", "position_at"
        ),
        "trips": rows(Trip.objects, "state", "picked_up_at", "finished_at"),
        "stops": rows(TripStop.objects, "state", "arrived_at", "failure_reason"),
        "fulfilment_delivery": rows(Fulfilment.objects, "delivered_at", "closed_at"),
    }


def on_a_trip(floor, shopper, packer, km: float = 1.0) -> Fulfilment:
    fulfilment = sent_home(
        shopper, floor.store, floor.apples, packer, point_east(floor.store, km)
    )
    run = dispatch_store(store=floor.store, solve=standin, max_iterations=100)
    assert run.trips_created == 1, run.notes
    return fulfilment


def test_a_rider_collects_delivers_and_the_shopper_tracks_it(
    floor, shopper, packer, crew
):
    # Given a delivery packed 1 km east, put on the rider's trip by the dispatcher
    fulfilment = on_a_trip(floor, shopper, packer)
    order = fulfilment.order
    store = floor.store

    # When the rider reads the trip in hand
    trip = crew.get(f"{base(store)}/trip").json()

    # Then it lists the stop with the order's deadline and where it goes
    assert trip["state"] == "assigned"
    [stop] = trip["stops"]
    assert stop["order"] == order.number
    assert stop["sequence"] == 1
    assert dt.datetime.fromisoformat(stop["deadline"]) == fulfilment.deadline
    assert (stop["lat"], stop["lng"]) == point_east(store, 1.0)

    # When the rider collects it, then reports a position on the way
    picked = post(crew, f"{base(store)}/trips/{trip['id']}/pick-up")
    assert picked.status_code == 200, picked.json()
    order.refresh_from_db()
    assert order.state == "out_for_delivery"
    lat, lng = point_east(store, 0.5)
    moved = post(crew, f"{base(store)}/position", {"lat": lat, "lng": lng})
    assert moved.status_code == 200, moved.json()

    # Then the shopper sees the rider's position and an arrival estimate
    detail = shopper.client.get(f"/api/v1/orders/{order.uuid}/").json()["delivery"]
    assert detail["state"] == "out_for_delivery"
    assert (detail["rider"]["lat"], detail["rider"]["lng"]) == (lat, lng)
    estimate = dt.datetime.fromisoformat(detail["estimated_arrival"])
    assert estimate >= timezone.now()
    assert dt.datetime.fromisoformat(detail["promised_by"]) == fulfilment.deadline

    # When the rider hands it over at the door
    door_lat, door_lng = point_east(store, 1.0)
    done = post(
        crew,
        f"{base(store)}/trips/{trip['id']}/stops/{stop['id']}/delivered",
        {"lat": door_lat, "lng": door_lng},
    )

    # Then the order is delivered, the stop keeps the actual time beside the
    # promise, the trip is finished and the rider has no trip in hand
    assert done.status_code == 200, done.json()
    assert done.json()["state"] == "delivered"
    order.refresh_from_db()
    assert order.state == "delivered"
    stop_row = TripStop.objects.get(pk=stop["id"])
    assert stop_row.deadline == fulfilment.deadline
    assert stop_row.arrived_at is not None
    fulfilment.refresh_from_db()
    assert fulfilment.delivered_at == stop_row.arrived_at
    assert Trip.objects.get(pk=trip["id"]).state == "finished"
    assert crew.get(f"{base(store)}/trip").status_code == 204
    tracking = shopper.client.get(f"/api/v1/orders/{order.uuid}/").json()["delivery"]
    assert tracking["delivered_at"] is not None
    assert tracking["estimated_arrival"] == tracking["delivered_at"]


def test_another_riders_trip_and_stop_are_not_found_and_nothing_changes(
    floor, shopper, packer, crew
):
    fulfilment = on_a_trip(floor, shopper, packer)
    trip = Trip.objects.get()
    stop = TripStop.objects.get()
    other = rider_client(floor.store)
    before = rider_snapshot()

    responses = [
        post(other, f"{base(floor.store)}/trips/{trip.pk}/pick-up"),
        post(
            other,
            f"{base(floor.store)}/trips/{trip.pk}/stops/{stop.pk}/delivered",
            {"lat": "31.23", "lng": "121.47"},
        ),
        post(
            other,
            f"{base(floor.store)}/trips/{trip.pk}/stops/{stop.pk}/failed",
            {"reason": "not mine"},
        ),
    ]

    assert [r.status_code for r in responses] == [404, 404, 404]
    assert [r.json()["error"] for r in responses] == ["trip_not_found"] * 3
    assert other.get(f"{base(floor.store)}/trip").status_code == 204
    assert rider_snapshot() == before
    assert Fulfilment.objects.get(pk=fulfilment.pk).state == "packed"


def test_a_stop_of_another_trip_under_ones_own_trip_is_not_found(
    floor, shopper, packer, crew
):
    # Given two riders, each with a trip
    other = rider_client(floor.store)
    sent_home(shopper, floor.store, floor.apples, packer, point_east(floor.store, 1))
    sent_home(shopper, floor.store, floor.apples, packer, point_east(floor.store, -1))
    DeliverySettings.objects.create(store=floor.store, rider_capacity_bags=1)
    RiderShift.objects.update(capacity_bags=1)
    dispatch_store(store=floor.store, solve=standin, max_iterations=100)
    mine = Trip.objects.get(rider=crew.user)
    theirs_stop = TripStop.objects.get(trip__rider=other.user)
    before = rider_snapshot()

    response = post(
        crew,
        f"{base(floor.store)}/trips/{mine.pk}/stops/{theirs_stop.pk}/failed",
        {"reason": "x"},
    )

    assert response.status_code == 404
    assert response.json()["error"] == "stop_not_found"
    assert rider_snapshot() == before


def test_delivering_an_order_not_out_for_delivery_is_409_and_nothing_changes(
    floor, shopper, packer, crew
):
    on_a_trip(floor, shopper, packer)
    trip, stop = Trip.objects.get(), TripStop.objects.get()
    before = rider_snapshot()

    response = post(
        crew,
        f"{base(floor.store)}/trips/{trip.pk}/stops/{stop.pk}/delivered",
        {"lat": "31.2304", "lng": "121.4837"},
    )

    assert response.status_code == 409
    assert response.json()["error"] == "not_out_for_delivery"
    assert response.json()["extra"] == {"field": "stop", "state": "packed"}
    assert rider_snapshot() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"lat": "91", "lng": "121.47"}, "lat"),
        ({"lat": "31.23", "lng": "-181"}, "lng"),
        ({"lat": "north", "lng": "121.47"}, "lat"),
        ({"lat": "NaN", "lng": "121.47"}, "lat"),
        ({"lat": "31.23", "lng": "Infinity"}, "lng"),
        ({"lat": "39.9042", "lng": "116.4074"}, "lat"),  # Beijing: not our rider
    ],
)
def test_implausible_positions_are_refused_400_and_nothing_changes(
    store, crew, body, field
):
    before = rider_snapshot()

    response = post(crew, f"{base(store)}/position", body)

    assert response.status_code == 400, response.json()
    assert response.json()["error"] == "position_refused"
    assert response.json()["extra"]["field"] == field
    assert rider_snapshot() == before


def test_a_position_is_recorded_and_off_shift_it_is_refused(store, crew):
    lat, lng = point_east(store, 2.0)
    ok = post(crew, f"{base(store)}/position", {"lat": lat, "lng": lng})
    assert ok.status_code == 200
    shift = RiderShift.objects.get(rider=crew.user)
    assert (str(shift.latitude), str(shift.longitude)) == (lat, lng)

    ended = post(crew, f"{base(store)}/shift/end")
    assert ended.status_code == 200
    before = rider_snapshot()
    refused = post(crew, f"{base(store)}/position", {"lat": lat, "lng": lng})

    assert refused.status_code == 409
    assert refused.json()["error"] == "not_on_shift"
    assert rider_snapshot() == before


def test_only_riders_of_the_store_use_the_rider_api_and_keys_are_required(
    floor, shopper, packer, crew, picker
):
    on_a_trip(floor, shopper, packer)
    trip = Trip.objects.get()
    before = rider_snapshot()

    as_picker = post(picker, f"{base(floor.store)}/trips/{trip.pk}/pick-up")
    anonymous_store = crew.get("/api/v1/stores/SH99/rider/trip")
    no_key = crew.post(f"{base(floor.store)}/trips/{trip.pk}/pick-up", {})

    assert as_picker.status_code == 403
    assert anonymous_store.status_code == 403
    assert no_key.status_code == 400
    assert rider_snapshot() == before


def test_a_retried_pick_up_with_its_key_replays_and_changes_nothing_twice(
    floor, shopper, packer, crew
):
    fulfilment = on_a_trip(floor, shopper, packer)
    trip = Trip.objects.get()
    url = f"{base(floor.store)}/trips/{trip.pk}/pick-up"

    first = post(crew, url, key="pick-up-1")
    events = fulfilment.order.events.count()
    again = post(crew, url, key="pick-up-1")

    assert first.status_code == again.status_code == 200
    assert again["Idempotent-Replayed"] == "true"
    assert fulfilment.order.events.count() == events


def test_a_failed_delivery_is_refunded_by_default(floor, shopper, packer, crew):
    fulfilment = on_a_trip(floor, shopper, packer)
    trip, stop = Trip.objects.get(), TripStop.objects.get()
    post(crew, f"{base(floor.store)}/trips/{trip.pk}/pick-up")

    response = post(
        crew,
        f"{base(floor.store)}/trips/{trip.pk}/stops/{stop.pk}/failed",
        {"reason": "nobody home"},
    )

    assert response.status_code == 200, response.json()
    order = Order.objects.get(pk=fulfilment.order_id)
    assert order.state == "cancelled"
    refund = Refund.objects.get(order=order)
    assert refund.amount == order.total == Decimal("12.80")
    assert "nobody home" in refund.reason
    assert Fulfilment.objects.get(pk=fulfilment.pk).state == "failed"
    assert list(order.events.order_by("pk").values_list("note", flat=True))[-2:] == [
        "delivery failed: nobody home; refunded",
        "refund 12.80: delivery failed: nobody home",
    ]
    # Failed stops keep the order off the dispatcher's list
    assert dispatch_store(store=floor.store, solve=standin) is None


def test_a_failed_delivery_goes_out_again_when_the_store_redelivers(
    floor, shopper, packer, crew
):
    DeliverySettings.objects.create(store=floor.store, failed_delivery="redeliver")
    fulfilment = on_a_trip(floor, shopper, packer)
    trip, stop = Trip.objects.get(), TripStop.objects.get()
    post(crew, f"{base(floor.store)}/trips/{trip.pk}/pick-up")

    post(
        crew,
        f"{base(floor.store)}/trips/{trip.pk}/stops/{stop.pk}/failed",
        {"reason": "road closed"},
    )
    # the rider is on the way back from the door: the order waits for them
    waiting = dispatch_store(store=floor.store, solve=standin)
    later = dispatch_store(
        store=floor.store, solve=standin, now=timezone.now() + dt.timedelta(minutes=10)
    )

    order = Order.objects.get(pk=fulfilment.order_id)
    assert order.state == "packed"
    assert not Refund.objects.filter(order=order).exists()
    assert waiting.trips_created == 0
    [decision] = waiting.decisions
    assert decision["why"].startswith("on the way back")
    assert decision["stops"] == [order.number]
    assert later.trips_created == 1
    new_stop = TripStop.objects.get(fulfilment=fulfilment, state="pending")
    assert new_stop.trip_id != trip.pk
    assert new_stop.deadline == fulfilment.deadline
