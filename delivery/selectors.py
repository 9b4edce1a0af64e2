"""Reads of delivery that more than one caller needs: the 10-minute timers."""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections.abc import Iterable

from django.db.models import QuerySet
from django.utils import timezone

from delivery.models import Fulfilment, FulfilmentState
from inventory.models import Store

# Paid to packed, the store's target for every order that is picked.
PACK_TARGET = dt.timedelta(minutes=10)
# An order still unpacked this long after payment is listed at risk.
AT_RISK_AFTER = dt.timedelta(minutes=7)
IN_PROGRESS = (FulfilmentState.OPEN, FulfilmentState.PICKING)


def minutes(delta: dt.timedelta | None) -> float | None:
    return None if delta is None else round(delta.total_seconds() / 60, 1)


def fulfilment_timers(fulfilment: Fulfilment) -> dict[str, float | None]:
    """Minutes from payment to the first pick, to the last bag on the rail and
    to packed (None while a step has not happened)."""
    paid = fulfilment.paid_at
    return {
        "first_pick": minutes(
            fulfilment.first_pick_at and fulfilment.first_pick_at - paid
        ),
        "on_rail": minutes(fulfilment.last_hung_at and fulfilment.last_hung_at - paid),
        "packed": minutes(fulfilment.packed_at and fulfilment.packed_at - paid),
    }


def fulfilments_at_risk(
    *, stores: Iterable[int] | None = None, now: dt.datetime | None = None
) -> QuerySet[Fulfilment]:
    """Orders being picked (or waiting) whose payment is 7 minutes old or more:
    the 10-minute target is close or gone."""
    now = now or timezone.now()
    queryset = Fulfilment.objects.filter(
        state__in=IN_PROGRESS, skips_picking=False, paid_at__lte=now - AT_RISK_AFTER
    )
    if stores is not None:
        queryset = queryset.filter(store_id__in=list(stores))
    return queryset.order_by("paid_at")


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (the value at least ``share`` of them reach)."""
    ordered = sorted(values)
    return ordered[max(math.ceil(share * len(ordered)) - 1, 0)]


def pack_times_of_day(*, store: Store, day: dt.date | None = None) -> dict:
    """Paid-to-packed minutes of the store's local day: how many, the median,
    the 90th percentile, and how many beat the 10-minute target."""
    tz = store.tz
    day = day or timezone.now().astimezone(tz).date()
    start = dt.datetime.combine(day, dt.time(), tzinfo=tz)
    end = start + dt.timedelta(days=1)
    durations = [
        (packed - paid).total_seconds() / 60
        for paid, packed in Fulfilment.objects.filter(
            store=store,
            skips_picking=False,
            packed_at__gte=start,
            packed_at__lt=end,
        ).values_list("paid_at", "packed_at")
    ]
    if not durations:
        return {
            "store": store.code,
            "day": day,
            "count": 0,
            "median": None,
            "p90": None,
            "on_target": 0,
        }
    target = PACK_TARGET.total_seconds() / 60
    return {
        "store": store.code,
        "day": day,
        "count": len(durations),
        "median": round(statistics.median(durations), 1),
        "p90": round(percentile(durations, 0.9), 1),
        "on_target": sum(d <= target for d in durations),
    }


def delivery_tracking(*, order_id: int, now: dt.datetime | None = None) -> dict | None:
    """What the shopper sees of a delivery: the promise, the rider's last
    position while out, the arrival estimate (the plan, or later if the rider's
    position says so: never earlier) and, once done, the actual time.
    None for an order that is not delivered by the store."""
    from delivery.models import FulfilmentMode, StopState, TripState, TripStop
    from delivery.travel import travel_model

    fulfilment = (
        Fulfilment.objects.filter(order_id=order_id, mode=FulfilmentMode.DELIVERY)
        .select_related("store")
        .first()
    )
    if fulfilment is None:
        return None
    now = now or timezone.now()
    stop = (
        TripStop.objects.filter(fulfilment=fulfilment)
        .select_related("trip__shift")
        .order_by("-pk")
        .first()
    )
    data: dict = {
        "state": fulfilment.state,
        "promised_by": fulfilment.deadline,
        "estimated_arrival": fulfilment.deadline,
        "delivered_at": fulfilment.delivered_at,
        "rider": None,
    }
    if stop is None:
        return data
    if stop.state == StopState.DELIVERED:
        data["estimated_arrival"] = stop.arrived_at
        return data
    if stop.state == StopState.FAILED:
        data["failure_reason"] = stop.failure_reason
        return data
    estimate = stop.planned_arrival
    shift = stop.trip.shift
    if stop.trip.state == TripState.OUT and shift.position_at is not None:
        data["rider"] = {
            "lat": str(shift.latitude),
            "lng": str(shift.longitude),
            "at": shift.position_at,
        }
        if fulfilment.latitude is not None:
            ride = travel_model(fulfilment.store).seconds(
                (float(shift.latitude), float(shift.longitude)),
                (float(fulfilment.latitude), float(fulfilment.longitude)),
            )
            estimate = max(estimate, now + dt.timedelta(seconds=ride))
    data["estimated_arrival"] = estimate
    return data


def riders_last_doors(
    shift_ids: Iterable[int],
) -> dict[int, tuple[dt.datetime, float, float]]:
    """Each shift's last door: when its rider last handed an order over, and
    where (shifts without one, or whose last order has no point, are left
    out). One query for every rider, a window over the shifts' delivered
    stops: the promise asks at every quote and the dispatcher at every tick,
    and a correlated subquery per rider grew with the day's stops."""
    from django.db.models import F, Window
    from django.db.models.functions import RowNumber

    from delivery.models import TripStop

    ids = list(shift_ids)
    if not ids:
        return {}
    rows = (
        TripStop.objects.filter(trip__shift_id__in=ids, arrived_at__isnull=False)
        .annotate(
            latest=Window(
                RowNumber(),
                partition_by=F("trip__shift_id"),
                order_by=F("arrived_at").desc(),
            )
        )
        .filter(latest=1)
        .values_list(
            "trip__shift_id",
            "arrived_at",
            "fulfilment__latitude",
            "fulfilment__longitude",
        )
    )
    return {
        shift: (arrived, float(lat), float(lng))
        for shift, arrived, lat, lng in rows
        if lat is not None and lng is not None
    }
