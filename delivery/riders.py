"""Riders: shifts, positions from the phone, and the steps of a trip.

A rider is ``StoreStaff`` with the rider role. On shift (``RiderShift``) they
report their position, collect a trip at the store (``out_for_delivery`` for
each of its orders), and deliver or fail each stop (``delivered`` /
``delivery_failed``). A rider only ever sees their own trips: another rider's
trip or stop is "not found", never shown.

Each step locks the trip, then its stops' fulfilments (primary-key order), and
sends its signals inside its transaction, so orders moves the order in the same
commit and a failure there rolls the step back.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils import timezone

from delivery import signals
from delivery.errors import (
    NotOnShift,
    NotOutForDelivery,
    PositionRefused,
    StopNotFound,
    TripNotFound,
    TripStateRefused,
)
from delivery.models import (
    FailedDeliveryPolicy,
    Fulfilment,
    FulfilmentState,
    PickerShift,
    RiderShift,
    StopState,
    Trip,
    TripState,
    TripStop,
)
from delivery.travel import delivery_settings
from inventory.geo import distance_km
from inventory.models import Store

# A phone more than this far beyond the store's radius is not one of its riders
# at work (a GPS glitch, a forged request): refused.
POSITION_SLACK_KM = Decimal("5")
REASON_MAX = 255


# --- Shifts ---------------------------------------------------------------------------


def rider_shift_current(*, store: Store, rider: Any) -> RiderShift | None:
    return RiderShift.objects.filter(
        store=store, rider=rider, ended_at__isnull=True
    ).first()


@transaction.atomic
def rider_shift_start(
    *, store: Store, rider: Any, now: dt.datetime | None = None
) -> RiderShift:
    """On duty at the store, carrying the store's bags per trip. A rider already
    on shift here keeps that shift (a retried tap starts nothing twice); on shift
    at another store, that one is ended first."""
    current = rider_shift_current(store=store, rider=rider)
    if current is not None:
        return current
    now = now or timezone.now()
    RiderShift.objects.filter(rider=rider, ended_at__isnull=True).update(
        ended_at=now, updated_at=now
    )
    return RiderShift.objects.create(
        store=store,
        rider=rider,
        started_at=now,
        capacity_bags=delivery_settings(store).rider_capacity_bags,
    )


@transaction.atomic
def rider_shift_end(
    *, store: Store, rider: Any, now: dt.datetime | None = None
) -> RiderShift:
    """Off duty. Refused while a trip is assigned or out: its orders need them."""
    shift = _shift_or_refuse(store, rider)
    if Trip.objects.filter(
        rider=rider, state__in=[TripState.ASSIGNED, TripState.OUT]
    ).exists():
        raise TripStateRefused(
            "Finish the trip in hand before going off duty.", {"field": "shift"}
        )
    shift.ended_at = now or timezone.now()
    RiderShift.objects.filter(pk=shift.pk).update(
        ended_at=shift.ended_at, updated_at=shift.ended_at
    )
    return shift


@transaction.atomic
def picker_shift_start(
    *, store: Store, picker: Any, now: dt.datetime | None = None
) -> PickerShift:
    """A picker on duty: the promise counts them (one open shift per picker)."""
    current = PickerShift.objects.filter(picker=picker, ended_at__isnull=True).first()
    if current is not None and current.store_id == store.pk:
        return current
    now = now or timezone.now()
    PickerShift.objects.filter(picker=picker, ended_at__isnull=True).update(
        ended_at=now, updated_at=now
    )
    return PickerShift.objects.create(store=store, picker=picker, started_at=now)


@transaction.atomic
def picker_shift_end(
    *, store: Store, picker: Any, now: dt.datetime | None = None
) -> PickerShift | None:
    shift = PickerShift.objects.filter(
        store=store, picker=picker, ended_at__isnull=True
    ).first()
    if shift is not None:
        shift.ended_at = now or timezone.now()
        PickerShift.objects.filter(pk=shift.pk).update(
            ended_at=shift.ended_at, updated_at=shift.ended_at
        )
    return shift


def _shift_or_refuse(store: Store, rider: Any) -> RiderShift:
    shift = rider_shift_current(store=store, rider=rider)
    if shift is None:
        raise NotOnShift(
            f"Not on shift at {store.code}: start a shift first.", {"field": "shift"}
        )
    return shift


# --- Positions ------------------------------------------------------------------------


def position_parse(
    *, store: Store, latitude: Any, longitude: Any
) -> tuple[Decimal, Decimal]:
    """A phone's position, if plausible: a number in range, and within the
    store's radius plus ``POSITION_SLACK_KM`` of the store. Else 400 naming the
    field."""
    values = []
    for field, value, limit in (
        ("lat", latitude, 90),
        ("lng", longitude, 180),
    ):
        try:
            number = Decimal(str(value))
        except (InvalidOperation, ValueError, TypeError):
            number = None
        if number is None or not number.is_finite() or abs(number) > limit:
            raise PositionRefused(
                f"{field}: not a position (a number between -{limit} and {limit}).",
                {"field": field},
            )
        values.append(number.quantize(Decimal("0.000001")))
    lat, lng = values
    km = distance_km(
        float(store.latitude), float(store.longitude), float(lat), float(lng)
    )
    limit_km = float(store.delivery_radius_km + POSITION_SLACK_KM)
    if km > limit_km:
        raise PositionRefused(
            f"lat: {km:.1f} km from {store.code}, farther than any of its riders "
            f"goes ({limit_km:.1f} km).",
            {"field": "lat", "distance_km": f"{km:.3f}", "limit_km": f"{limit_km:.3f}"},
        )
    return lat, lng


@transaction.atomic
def rider_position_update(
    *,
    store: Store,
    rider: Any,
    latitude: Any,
    longitude: Any,
    now: dt.datetime | None = None,
) -> RiderShift:
    """Record where the rider's phone says they are (the shopper's tracking
    reads it). Refused off shift (409) or implausible (400); nothing changes."""
    lat, lng = position_parse(store=store, latitude=latitude, longitude=longitude)
    shift = _shift_or_refuse(store, rider)
    now = now or timezone.now()
    RiderShift.objects.filter(pk=shift.pk).update(
        latitude=lat, longitude=lng, position_at=now, updated_at=now
    )
    shift.latitude, shift.longitude, shift.position_at = lat, lng, now
    return shift


# --- Trips ----------------------------------------------------------------------------


def trip_current(*, store: Store, rider: Any) -> Trip | None:
    """The rider's trip in hand (assigned or out), with its stops in order."""
    return (
        Trip.objects.filter(
            store=store, rider=rider, state__in=[TripState.ASSIGNED, TripState.OUT]
        )
        .prefetch_related("stops__fulfilment")
        .order_by("planned_departure", "pk")
        .first()
    )


def _trip_locked(store: Store, rider: Any, trip_id: Any) -> Trip:
    """The rider's own trip, locked; another rider's is not found (404)."""
    try:
        return Trip.objects.select_for_update().get(
            pk=int(trip_id), store=store, rider=rider
        )
    except (Trip.DoesNotExist, TypeError, ValueError):
        raise TripNotFound(
            f"You have no trip {trip_id} at {store.code}.", {"field": "trip"}
        ) from None


def _stop_of(trip: Trip, stop_id: Any) -> TripStop:
    try:
        return TripStop.objects.select_related("fulfilment").get(
            pk=int(stop_id), trip=trip
        )
    except (TripStop.DoesNotExist, TypeError, ValueError):
        raise StopNotFound(
            f"Trip {trip.pk} has no stop {stop_id}.", {"field": "stop"}
        ) from None


def _fulfilment_locked(pk: int) -> Fulfilment:
    return Fulfilment.objects.select_for_update().get(pk=pk)


@transaction.atomic
def trip_pick_up(
    *, store: Store, rider: Any, trip_id: Any, now: dt.datetime | None = None
) -> Trip:
    """The rider collects the trip's bags at the store: the trip is out and
    every order on it is ``out_for_delivery``. Refused (409) unless the trip is
    assigned and every order on it is packed; nothing changes."""
    trip = _trip_locked(store, rider, trip_id)
    if trip.state != TripState.ASSIGNED:
        raise TripStateRefused(
            f"Trip {trip.pk} is {trip.state}: nothing to collect.",
            {"field": "trip", "state": trip.state},
        )
    stops = list(trip.stops.filter(state=StopState.PENDING).order_by("fulfilment_id"))
    fulfilments = [_fulfilment_locked(stop.fulfilment_id) for stop in stops]
    not_packed = [f.reference for f in fulfilments if f.state != FulfilmentState.PACKED]
    if not_packed:
        raise TripStateRefused(
            f"Not packed yet: {', '.join(not_packed)}.",
            {"field": "trip", "not_packed": not_packed},
        )
    now = now or timezone.now()
    Trip.objects.filter(pk=trip.pk).update(
        state=TripState.OUT, picked_up_at=now, updated_at=now
    )
    trip.state, trip.picked_up_at = TripState.OUT, now
    for fulfilment in fulfilments:
        Fulfilment.objects.filter(pk=fulfilment.pk).update(
            state=FulfilmentState.OUT_FOR_DELIVERY, updated_at=now
        )
        fulfilment.state = FulfilmentState.OUT_FOR_DELIVERY
        signals.out_for_delivery.send(
            sender=Fulfilment, fulfilment=fulfilment, actor=rider
        )
    return trip


def _stop_pending(trip: Trip, stop_id: Any) -> tuple[TripStop, Fulfilment]:
    stop = _stop_of(trip, stop_id)
    if stop.state != StopState.PENDING:
        raise TripStateRefused(
            f"Stop {stop.pk} is already {stop.state}.",
            {"field": "stop", "state": stop.state},
        )
    fulfilment = _fulfilment_locked(stop.fulfilment_id)
    if fulfilment.state != FulfilmentState.OUT_FOR_DELIVERY:
        raise NotOutForDelivery(
            f"{fulfilment.reference} is {fulfilment.state}, not out for delivery: "
            "collect the trip first.",
            {"field": "stop", "state": fulfilment.state},
        )
    return stop, fulfilment


def _trip_finish_if_done(trip: Trip, now: dt.datetime) -> None:
    if not trip.stops.filter(state=StopState.PENDING).exists():
        Trip.objects.filter(pk=trip.pk).update(
            state=TripState.FINISHED, finished_at=now, updated_at=now
        )
        trip.state, trip.finished_at = TripState.FINISHED, now


@transaction.atomic
def stop_delivered(
    *,
    store: Store,
    rider: Any,
    trip_id: Any,
    stop_id: Any,
    latitude: Any,
    longitude: Any,
    now: dt.datetime | None = None,
) -> TripStop:
    """Handed over at the door, where the phone says: the order is
    ``delivered`` and the stop records the actual time beside the promise."""
    lat, lng = position_parse(store=store, latitude=latitude, longitude=longitude)
    trip = _trip_locked(store, rider, trip_id)
    stop, fulfilment = _stop_pending(trip, stop_id)
    now = now or timezone.now()
    TripStop.objects.filter(pk=stop.pk).update(
        state=StopState.DELIVERED,
        arrived_at=now,
        latitude=lat,
        longitude=lng,
        updated_at=now,
    )
    stop.state, stop.arrived_at, stop.latitude, stop.longitude = (
        StopState.DELIVERED,
        now,
        lat,
        lng,
    )
    Fulfilment.objects.filter(pk=fulfilment.pk).update(
        state=FulfilmentState.DELIVERED,
        delivered_at=now,
        closed_at=now,
        updated_at=now,
    )
    fulfilment.state, fulfilment.delivered_at = FulfilmentState.DELIVERED, now
    RiderShift.objects.filter(pk=trip.shift_id).update(
        latitude=lat, longitude=lng, position_at=now
    )
    signals.delivered.send(sender=Fulfilment, fulfilment=fulfilment, actor=rider)
    _trip_finish_if_done(trip, now)
    return stop


@transaction.atomic
def stop_failed(
    *,
    store: Store,
    rider: Any,
    trip_id: Any,
    stop_id: Any,
    reason: str,
    now: dt.datetime | None = None,
) -> TripStop:
    """The rider could not hand it over (nobody home, refused, unsafe), with a
    reason. By the store's setting the order is refunded (the fulfilment is
    closed as failed) or delivered again (back to packed: the dispatcher puts it
    on a new trip, with its original deadline). ``delivery_failed`` tells orders
    which, in the same transaction."""
    reason = (reason or "").strip()[:REASON_MAX]
    trip = _trip_locked(store, rider, trip_id)
    stop, fulfilment = _stop_pending(trip, stop_id)
    now = now or timezone.now()
    policy = delivery_settings(store).failed_delivery
    TripStop.objects.filter(pk=stop.pk).update(
        state=StopState.FAILED, arrived_at=now, failure_reason=reason, updated_at=now
    )
    stop.state, stop.arrived_at, stop.failure_reason = StopState.FAILED, now, reason
    if policy == FailedDeliveryPolicy.REDELIVER:
        new_state, closed_at = FulfilmentState.PACKED, None
    else:
        new_state, closed_at = FulfilmentState.FAILED, now
    Fulfilment.objects.filter(pk=fulfilment.pk).update(
        state=new_state, closed_at=closed_at, updated_at=now
    )
    fulfilment.state = new_state
    signals.delivery_failed.send(
        sender=Fulfilment,
        fulfilment=fulfilment,
        reason=reason,
        outcome=policy,
        actor=rider,
    )
    _trip_finish_if_done(trip, now)
    return stop
