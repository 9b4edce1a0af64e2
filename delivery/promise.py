"""Coverage and the delivery promise (3 km / 30 minutes by default, per store).

``quote`` says what the store can really promise a point now: it estimates
when the order would be packed (the pick tasks ahead of it and the pickers on
duty, then pick times and rail-and-pack times from the store's recent timers: the
mean for the queue ahead, the 95th percentile for the order's own steps; the
store's defaults when there is no history) and when a rider could be at the
door (riders on shift, free or on their way back, after the deliveries already
promised that ride first, each taking its share of a round trip as recent
trips pooled, and a dispatcher tick's wait), plus the ride from the travel
model. If that fits the store's promise it offers express with a deadline;
otherwise it refuses express with the reason and offers the earliest windows
(``slot_minutes`` long) that end after that arrival and still have room.
Every estimate errs late: a promise broken is worse than one not made.

Each offer carries a signed token (``HEMA_QUOTE_TTL_SECONDS``) naming the
store, the point and the window. ``book(token)``, inside the checkout's
transaction, takes a place with ``UPDATE ... SET booked = booked + 1 WHERE
booked < capacity`` on the window's ``DeliverySlot`` row (express windows are
slots too), so two checkouts never take the last place. A forged, expired,
other store's or other address's token, or a full window, is a 409 with a fresh
offer.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core import signing
from django.db.models import Count, F, Max, Q
from django.db.models.functions import Greatest
from django.utils import timezone

from delivery.errors import NoDeliveryCapacity, OutsideDeliveryArea, QuoteRefused
from delivery.hours import next_opening, open_through
from delivery.models import (
    DeliveryBooking,
    DeliverySettings,
    DeliverySlot,
    Fulfilment,
    FulfilmentMode,
    FulfilmentState,
    PickerShift,
    PickTask,
    PickTaskState,
    RiderShift,
    SlotKind,
    StopState,
    TripState,
    TripStop,
)
from delivery.selectors import riders_last_doors
from delivery.travel import TravelModel, delivery_settings, store_point, travel_model
from inventory.geo import distance_km, distance_km_decimal
from inventory.models import Store

QUOTE_SALT = "delivery.quote"
# Medians over the store's recent history only: the floor changes during a day.
HISTORY = dt.timedelta(hours=3)
HISTORY_ROWS = 50
# A quote's point and the checkout's address may differ by a geocoder's noise.
SAME_POINT_KM = 0.05
SLOTS_OFFERED = 3
SLOTS_SEARCHED = 12


@dataclass(frozen=True)
class Offer:
    """One promise the store can keep: express, or a delivery window."""

    kind: str  # "express" or "window"
    starts: dt.datetime
    ends: dt.datetime  # the deadline
    available: int
    token: str


@dataclass(frozen=True)
class Quote:
    store_code: str
    mode: str  # "express", "slot", or "unavailable" (no offer: pickup only)
    distance_km: Decimal
    deadline: dt.datetime | None
    token: str
    refused_reason: str = ""
    estimated_arrival: dt.datetime | None = None
    offers: tuple[Offer, ...] = field(default=())


@dataclass(frozen=True)
class Booking:
    slot_id: int
    kind: str
    deadline: dt.datetime
    distance_km: Decimal


# --- Coverage -------------------------------------------------------------------------


def coverage_check(*, store: Store, latitude: Decimal, longitude: Decimal) -> Decimal:
    """The distance to the store, or a refusal naming distance and radius."""
    distance = distance_km_decimal(store.latitude, store.longitude, latitude, longitude)
    if distance > store.delivery_radius_km:
        raise OutsideDeliveryArea(
            f"{distance} km from {store.code}: the store delivers within "
            f"{store.delivery_radius_km} km. Pickup in store is available.",
            {
                "field": "address",
                "distance_km": str(distance),
                "radius_km": str(store.delivery_radius_km),
                "alternatives": ["pickup"],
            },
        )
    return distance


# --- The floor and the riders ---------------------------------------------------------


def _durations(pairs: Iterable[tuple[Any, Any]]) -> list[float]:
    return [
        (end - start).total_seconds()
        for start, end in pairs
        if start is not None and end is not None and end >= start
    ]


# A slow pick or pack is the 95th percentile of the recent timers; without
# history, the 95th percentile of a lognormal with the store's default as its
# mean and this spread (what the timers show). With the 90th percentile, one
# express order in sixty was late in the simulation, every one of them behind a
# pick in the long tail.
SLOW_QUANTILE = 0.95
TIMER_SIGMA = 0.5
# A new order waits up to one dispatcher tick before a rider is assigned.
DISPATCH_DELAY = dt.timedelta(seconds=30)
# Express is offered only when the estimate arrives this long before the
# promise: slack for a pick or a pack far in the tail, which the 95th
# percentile does not cover (the simulation's late express orders were 2 to 6
# minutes late, each behind one such step).
EXPRESS_MARGIN = dt.timedelta(minutes=3)


@dataclass(frozen=True)
class Stage:
    """One floor step's recent times: the mean (a queue of many) and the slow
    end (the step this order will take)."""

    mean: float
    ordered: tuple[float, ...] = ()  # the recent times, sorted; none: no history

    @classmethod
    def of(cls, values: list[float], default: float) -> Stage:
        if not values:
            return cls(mean=float(default))
        return cls(mean=statistics.fmean(values), ordered=tuple(sorted(values)))

    def slow(self, steps: int = 1) -> float:
        """The slowest of ``steps`` done side by side (an order's pick tasks in
        several zones), at ``SLOW_QUANTILE``: each step at the quantile
        ``SLOW_QUANTILE ** (1 / steps)``, since the order waits for the last."""
        q = SLOW_QUANTILE ** (1 / max(1, steps))
        if not self.ordered:
            z = statistics.NormalDist().inv_cdf(q)
            return self.mean * math.exp(z * TIMER_SIGMA - TIMER_SIGMA**2 / 2)
        at = self.ordered[min(len(self.ordered) - 1, int(q * len(self.ordered)))]
        return max(at, statistics.median(self.ordered))


@dataclass(frozen=True)
class FloorTimes:
    pick: Stage  # one pick task, claim to bag
    to_packed: Stage  # the order's last bag hung on the rail to packed


def floor_times(
    *, store: Store, now: dt.datetime, config: DeliverySettings
) -> FloorTimes:
    """The store's recent timers (the last ``HISTORY``, at most ``HISTORY_ROWS``
    each), the store's defaults without any. The rail is inside ``to_packed``
    (its timer runs from the last bag hung), so it is never counted twice."""
    since = now - HISTORY
    tasks = PickTask.objects.filter(store=store, bagged_at__gte=since).order_by(
        "-bagged_at"
    )[:HISTORY_ROWS]
    packed = Fulfilment.objects.filter(
        store=store, packed_at__gte=since, skips_picking=False
    ).order_by("-packed_at")[:HISTORY_ROWS]
    return FloorTimes(
        pick=Stage.of(
            _durations(tasks.values_list("claimed_at", "bagged_at")),
            config.default_pick_seconds,
        ),
        to_packed=Stage.of(
            _durations(packed.values_list("last_hung_at", "packed_at")),
            config.default_pack_seconds,
        ),
    )


def ready_estimate(
    *,
    store: Store,
    now: dt.datetime,
    config: DeliverySettings,
    deadline: dt.datetime | None = None,
    line_count: int = 1,
) -> tuple[dt.datetime | None, str]:
    """When a new order would be packed. Pickers take the task with the
    earliest deadline first, so the tasks ahead of this order are those waiting
    with a deadline before ``deadline`` (all of them without one). With this
    order's own tasks (a task per zone: at most ``line_count``) they go to the
    idle pickers first; those beyond wait a round of the mean pick time for
    each ``pickers`` of them. Then the slowest of its own picks (at the 95th
    percentile) and a slow ride on the rail and packing. None (with the
    reason) when no picker is on duty."""
    pickers = PickerShift.objects.filter(store=store, ended_at__isnull=True).count()
    if pickers == 0:
        return None, f"no picker is on duty at {store.code}"
    ahead = Q(state=PickTaskState.OPEN)
    if deadline is not None:
        ahead &= Q(deadline__lte=deadline)
    # The tasks in hand and those ahead of this order, counted in one query.
    tasks = PickTask.objects.filter(
        store=store, state__in=[PickTaskState.CLAIMED, PickTaskState.OPEN]
    ).aggregate(
        in_hand=Count("pk", filter=Q(state=PickTaskState.CLAIMED)),
        waiting=Count("pk", filter=ahead),
    )
    zones = max(1, store.zones.count())
    own = max(1, min(line_count, zones))
    idle = max(0, pickers - tasks["in_hand"])
    queue = tasks["waiting"] + own - idle
    times = floor_times(store=store, now=now, config=config)
    # Tasks beyond the idle pickers wait for a picker to finish: a round of
    # the mean pick time per ``pickers`` of them (late: pickers in the middle
    # of a task finish sooner than a whole one).
    wait = math.ceil(queue / pickers) * times.pick.mean if queue > 0 else 0.0
    seconds = wait + times.pick.slow(own) + times.to_packed.slow()
    return now + dt.timedelta(seconds=seconds), ""


def _rider_free_times(
    store: Store, now: dt.datetime, model: TravelModel | None = None
) -> list[dt.datetime]:
    """When each rider on shift is next at the store and free: back from the
    trip in hand, else from their last door, else now. Two queries whatever
    the riders: a quote runs at each checkout."""
    model = model or travel_model(store)
    home = store_point(store)
    shifts = list(
        RiderShift.objects.filter(store=store, ended_at__isnull=True).annotate(
            trip_return=Max(
                "trips__planned_return",
                filter=Q(trips__state__in=[TripState.ASSIGNED, TripState.OUT]),
            ),
        )
    )
    doors = riders_last_doors(shift.pk for shift in shifts)
    free = []
    for shift in shifts:
        at = now
        if shift.trip_return is not None:
            at = max(now, shift.trip_return)
        elif shift.pk in doors:
            arrived, lat, lng = doors[shift.pk]
            back = arrived + dt.timedelta(seconds=model.seconds((lat, lng), home))
            at = max(now, back)
        free.append(at)
    return sorted(free)


# Pooling never counts for more than this: a backlog order takes at least
# this share of its own round trip, however well recent trips pooled.
POOLING_SHARE_FLOOR = 0.5
POOLING_HISTORY_STOPS = 300


def pooling_share(
    *, store: Store, now: dt.datetime, model: TravelModel | None = None
) -> float:
    """How much of a rider's time an order takes, pooled, against a round trip
    of its own: the recent trips' planned time over the sum of their stops'
    own round trips (1.0 without history: no pooling assumed; never below
    ``POOLING_SHARE_FLOOR``). Assuming no pooling at all refused express
    to most orders while riders stood idle (42% busy at 300 orders an hour)."""
    model = model or travel_model(store)
    home = store_point(store)
    rows = (
        TripStop.objects.filter(
            trip__store=store, trip__planned_departure__gte=now - HISTORY
        )
        .order_by("-trip__planned_departure", "trip_id")
        .values_list(
            "trip_id",
            "trip__planned_departure",
            "trip__planned_return",
            "fulfilment__latitude",
            "fulfilment__longitude",
        )[:POOLING_HISTORY_STOPS]
    )
    pooled: dict[int, float] = {}
    alone: dict[int, float] = {}
    for trip_id, departs, returns, lat, lng in rows:
        if lat is None or lng is None:
            continue
        pooled[trip_id] = (returns - departs).total_seconds()
        ride = model.seconds(home, (float(lat), float(lng)))
        alone[trip_id] = alone.get(trip_id, 0.0) + 2 * ride + model.handover_seconds
    total_alone = sum(alone.values())
    if total_alone <= 0:
        return 1.0
    return min(1.0, max(POOLING_SHARE_FLOOR, sum(pooled.values()) / total_alone))


def rider_at_door_estimate(
    *,
    store: Store,
    now: dt.datetime,
    ready_at: dt.datetime,
    point: tuple[float, float],
    deadline: dt.datetime | None = None,
    model: TravelModel | None = None,
) -> tuple[dt.datetime | None, str]:
    """When a rider could hand a new order over: every delivery already promised
    and not yet on a trip that rides before this one takes the earliest free
    rider for its share of a round trip (``pooling_share``: what pooling has
    saved lately, never counted as more than half); then this one, ridden
    straight there, a dispatcher tick after it is ready. Riding before it: the
    express orders, and the window orders whose window opens before
    ``deadline`` (the dispatcher sends the others when their window is near).
    None (with the reason) when no rider is on shift."""
    model = model or travel_model(store)
    free = _rider_free_times(store, now, model)
    if not free:
        return None, f"no rider is on shift at {store.code}"
    home = store_point(store)
    live = TripStop.objects.filter(state__in=[StopState.PENDING, StopState.DELIVERED])
    backlog = (
        Fulfilment.objects.filter(
            store=store,
            mode=FulfilmentMode.DELIVERY,
            latitude__isnull=False,
            state__in=[
                FulfilmentState.OPEN,
                FulfilmentState.PICKING,
                FulfilmentState.PACKED,
            ],
        )
        .exclude(pk__in=live.values("fulfilment_id"))
        .order_by("deadline", "pk")
        .values_list("latitude", "longitude")
    )
    if deadline is not None:
        backlog = backlog.exclude(
            slot__kind=SlotKind.WINDOW, slot__starts__gte=deadline
        )
    share = pooling_share(store=store, now=now, model=model)
    for lat, lng in backlog:
        ride = model.seconds(home, (float(lat), float(lng)))
        round_trip = dt.timedelta(seconds=(2 * ride + model.handover_seconds) * share)
        free[0] = free[0] + round_trip
        free.sort()
    depart = max(free[0], ready_at) + DISPATCH_DELAY
    ride = dt.timedelta(seconds=model.seconds(home, point) + model.handover_seconds)
    return depart + ride, ""


# --- Slots ----------------------------------------------------------------------------


def slot_capacity(*, store: Store, config: DeliverySettings) -> int:
    """Places per window: the riders on shift, each taking a few orders."""
    riders = RiderShift.objects.filter(store=store, ended_at__isnull=True).count()
    return riders * config.orders_per_rider_slot


def _window_start(at: dt.datetime, minutes: int) -> dt.datetime:
    """The start of the ``minutes``-long window holding ``at`` (aligned to the
    hour, in UTC: every zone in use is a whole or half hour from it)."""
    at = at.astimezone(dt.UTC).replace(second=0, microsecond=0)
    return at - dt.timedelta(minutes=at.minute % minutes)


def slot_row(
    *,
    store: Store,
    kind: str,
    starts: dt.datetime,
    ends: dt.datetime,
    capacity: int,
) -> DeliverySlot:
    """The window's row, created with ``capacity``; an existing row follows the
    riders on shift now but never drops below what is booked."""
    slot, created = DeliverySlot.objects.get_or_create(
        store=store,
        kind=kind,
        starts=starts,
        defaults={"ends": ends, "capacity": capacity},
    )
    if not created and slot.capacity != capacity:
        DeliverySlot.objects.filter(pk=slot.pk).update(
            capacity=Greatest(F("booked"), capacity)
        )
        slot.refresh_from_db(fields=["capacity", "booked"])
    return slot


def _token(
    store: Store, kind: str, starts: dt.datetime, ends: dt.datetime, point
) -> str:
    return signing.dumps(
        {
            "store": store.code,
            "kind": kind,
            "starts": starts.isoformat(),
            "ends": ends.isoformat(),
            "lat": str(point[0]),
            "lng": str(point[1]),
        },
        salt=QUOTE_SALT,
        compress=True,
    )


def quote(
    *,
    store: Store,
    latitude: Decimal,
    longitude: Decimal,
    line_count: int,
    at: dt.datetime,
) -> Quote:
    """What the store can promise the point now (see the module docstring)."""
    distance = coverage_check(store=store, latitude=latitude, longitude=longitude)
    config = delivery_settings(store)
    point = (float(latitude), float(longitude))
    promise = dt.timedelta(minutes=store.delivery_promise_minutes)
    window = dt.timedelta(minutes=config.slot_minutes)
    capacity = slot_capacity(store=store, config=config)
    ready_at, reason = ready_estimate(
        store=store,
        now=at,
        config=config,
        deadline=at + promise,
        line_count=line_count,
    )
    arrival = None
    if ready_at is not None:
        arrival, reason = rider_at_door_estimate(
            store=store,
            now=at,
            ready_at=ready_at,
            point=point,
            deadline=at + promise,
            model=travel_model(store, config),
        )
    offers: list[Offer] = []
    closed = not open_through(store=store, starts=at, ends=at + promise)
    if arrival is not None and closed:
        opens = timezone.localtime(next_opening(store=store, at=at), store.tz)
        reason = (
            f"express is not offered outside the store's hours: it closes at "
            f"{store.closes_at:%H:%M} and opens at {opens:%H:%M}"
        )
    elif arrival is not None and arrival <= at + promise - EXPRESS_MARGIN:
        starts = _window_start(at, config.slot_minutes)
        slot = slot_row(
            store=store,
            kind=SlotKind.EXPRESS,
            starts=starts,
            ends=starts + window,
            capacity=capacity,
        )
        if slot.booked < slot.capacity:
            offers.append(
                Offer(
                    kind=SlotKind.EXPRESS,
                    starts=at,
                    ends=at + promise,
                    available=slot.capacity - slot.booked,
                    token=_token(store, SlotKind.EXPRESS, starts, at + promise, point),
                )
            )
        else:
            reason = "express is fully booked for now"
    elif arrival is not None:
        minutes = math.ceil((arrival - at).total_seconds() / 60)
        reason = (
            f"the earliest arrival is in {minutes} minutes, too close to or beyond "
            f"the {store.delivery_promise_minutes}-minute promise"
        )
    if arrival is not None and not offers:
        starts = _window_start(arrival, config.slot_minutes)
        searched = 0
        # Bounded: two days of windows at most, whatever the hours say.
        for _ in range(SLOTS_SEARCHED + 2 * 24 * 60 // config.slot_minutes):
            if searched == SLOTS_SEARCHED or len(offers) == SLOTS_OFFERED:
                break
            if not open_through(store=store, starts=starts, ends=starts + window):
                # Closed then: on from the window of its next opening (the
                # night's closed windows are not counted as searched).
                after = _window_start(
                    next_opening(store=store, at=starts), config.slot_minutes
                )
                starts = after if after > starts else starts + window
                continue
            searched += 1
            slot = slot_row(
                store=store,
                kind=SlotKind.WINDOW,
                starts=starts,
                ends=starts + window,
                capacity=capacity,
            )
            if slot.booked < slot.capacity and slot.ends >= arrival:
                offers.append(
                    Offer(
                        kind=SlotKind.WINDOW,
                        starts=slot.starts,
                        ends=slot.ends,
                        available=slot.capacity - slot.booked,
                        token=_token(
                            store, SlotKind.WINDOW, slot.starts, slot.ends, point
                        ),
                    )
                )
            starts += window
    first = offers[0] if offers else None
    if first is None:
        mode = "unavailable"
    else:
        mode = "express" if first.kind == SlotKind.EXPRESS else "slot"
    return Quote(
        store_code=store.code,
        mode=mode,
        distance_km=distance,
        deadline=first.ends if first else None,
        token=first.token if first else "",
        refused_reason="" if mode == "express" else reason,
        estimated_arrival=arrival,
        offers=tuple(offers),
    )


def quote_data(q: Quote) -> dict[str, Any]:
    """A quote as the API shows it (also the fresh offer of a refusal)."""
    return {
        "store": q.store_code,
        "mode": q.mode,
        "express": q.mode == "express",
        "distance_km": str(q.distance_km),
        "deadline": q.deadline.isoformat() if q.deadline else None,
        "token": q.token,
        "refused_reason": q.refused_reason,
        "estimated_arrival": (
            q.estimated_arrival.isoformat() if q.estimated_arrival else None
        ),
        "offers": [
            {
                "kind": offer.kind,
                "starts": offer.starts.isoformat(),
                "ends": offer.ends.isoformat(),
                "available": offer.available,
                "token": offer.token,
            }
            for offer in q.offers
        ],
        "alternatives": ["pickup"],
    }


# --- Booking --------------------------------------------------------------------------


def quote_read(token: str) -> dict:
    """A quote's content, if the token is ours and still fresh; else why not."""
    try:
        return signing.loads(
            token or "", salt=QUOTE_SALT, max_age=settings.HEMA_QUOTE_TTL_SECONDS
        )
    except signing.SignatureExpired:
        raise _Refusal("the delivery quote has expired") from None
    except signing.BadSignature:
        raise _Refusal("not a valid delivery quote") from None


class _Refusal(Exception):
    pass


def book(
    *,
    token: str,
    store: Store,
    latitude: Decimal,
    longitude: Decimal,
    reference: str,
    at: dt.datetime,
    line_count: int = 1,
) -> Booking:
    """Take a place in the quote's window for order ``reference``. Caller holds
    the checkout's transaction: a refused payment gives the place back. A bad
    token (forged, expired, another store's or another address's) or a full
    window is a ``QuoteRefused`` (409) whose ``extra.offer`` is a fresh quote."""
    try:
        content = quote_read(token)
        if content.get("store") != store.code:
            raise _Refusal(f"the quote is not for {store.code}")
        km = distance_km(
            float(content["lat"]),
            float(content["lng"]),
            float(latitude),
            float(longitude),
        )
        if km > SAME_POINT_KM:
            raise _Refusal("the quote is for another address")
        kind = content["kind"]
        starts = dt.datetime.fromisoformat(content["starts"])
        deadline = dt.datetime.fromisoformat(content["ends"])
        config = delivery_settings(store)
        slot = slot_row(
            store=store,
            kind=kind,
            starts=starts,
            ends=starts + dt.timedelta(minutes=config.slot_minutes),
            capacity=slot_capacity(store=store, config=config),
        )
        taken = DeliverySlot.objects.filter(
            pk=slot.pk, booked__lt=F("capacity")
        ).update(booked=F("booked") + 1, updated_at=timezone.now())
        if not taken:
            raise _Refusal(
                "express is fully booked"
                if kind == SlotKind.EXPRESS
                else f"the window from {starts:%H:%M} UTC is full"
            )
    except (_Refusal, KeyError, ValueError, TypeError) as exc:
        reason = str(exc) if isinstance(exc, _Refusal) else "not a valid delivery quote"
        fresh = quote(
            store=store,
            latitude=latitude,
            longitude=longitude,
            line_count=line_count,
            at=at,
        )
        raise QuoteRefused(
            f"delivery_quote: {reason}; here is a fresh offer.",
            {"field": "delivery_quote", "reason": reason, "offer": quote_data(fresh)},
        ) from None
    DeliveryBooking.objects.create(slot=slot, reference=reference, deadline=deadline)
    distance = distance_km_decimal(store.latitude, store.longitude, latitude, longitude)
    return Booking(slot_id=slot.pk, kind=kind, deadline=deadline, distance_km=distance)


def book_best(
    *,
    store: Store,
    latitude: Decimal,
    longitude: Decimal,
    reference: str,
    at: dt.datetime,
    line_count: int = 1,
) -> Booking:
    """A checkout without a quote token: quote now and book the first offer
    (express when it can be kept, else the earliest window). No offer at all
    is a ``NoDeliveryCapacity`` (409) that offers pickup."""
    q = quote(
        store=store,
        latitude=latitude,
        longitude=longitude,
        line_count=line_count,
        at=at,
    )
    if not q.token:
        raise NoDeliveryCapacity(
            f"{store.code} cannot deliver there now: {q.refused_reason}. Pickup in "
            "store is available.",
            {"field": "fulfilment_mode", "offer": quote_data(q)},
        )
    return book(
        token=q.token,
        store=store,
        latitude=latitude,
        longitude=longitude,
        reference=reference,
        at=at,
        line_count=line_count,
    )


def booking_release(*, reference: str) -> bool:
    """Give a cancelled order's place back to its window (a conditional UPDATE
    that never takes ``booked`` below zero). Caller holds a transaction;
    returns whether there was a booking."""
    booking = (
        DeliveryBooking.objects.select_for_update().filter(reference=reference).first()
    )
    if booking is None:
        return False
    DeliverySlot.objects.filter(pk=booking.slot_id, booked__gt=0).update(
        booked=F("booked") - 1, updated_at=timezone.now()
    )
    booking.delete()
    return True
