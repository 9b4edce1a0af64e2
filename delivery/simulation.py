"""Building blocks of the delivery simulation (issue 14, item 7).

The simulation drives the real promise, picking, dispatcher and rider code over
simulated time. Most of those services take a ``now`` argument; the picking
and packing services (and the timestamps of a few others) read
``django.utils.timezone.now`` instead, so ``SimClock`` patches that one
function for the length of a run: every service then sees the simulated time.
It is a clock, not a mock of the database or the ORM: the rows are real.

The rest is pure and seeded (``random.Random(seed)``), so a run is
deterministic for its seed: Poisson arrivals, uniform points within the
store's radius, lognormal floor times around the store's defaults, and the
figures the issue asks for (on-time rate, mean and 95th-percentile lateness,
riders' utilisation, trips per order, orders refused or moved to a slot).
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any
from unittest import mock

from inventory.geo import EARTH_RADIUS_KM


class SimClock:
    """The simulated time; ``advance_to`` never goes back (time is monotone)."""

    def __init__(self, start: dt.datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("the simulated clock needs an aware start time")
        self.now = start

    def advance_to(self, at: dt.datetime) -> None:
        if at > self.now:
            self.now = at

    def __call__(self) -> dt.datetime:
        return self.now


@contextmanager
def simulated_time(clock: SimClock) -> Iterator[SimClock]:
    """While inside, ``django.utils.timezone.now()`` answers the clock's time,
    so services without a ``now`` argument stamp their rows in simulated time."""
    with mock.patch("django.utils.timezone.now", new=clock):
        yield clock


def poisson_arrivals(
    rng: random.Random, *, per_hour: float, hours: float
) -> list[float]:
    """Arrival offsets in seconds of a Poisson process of ``per_hour`` orders an
    hour over ``hours``: exponential gaps, in order, all before the end."""
    if per_hour <= 0 or hours <= 0:
        return []
    rate = per_hour / 3600.0
    end = hours * 3600.0
    offsets, at = [], 0.0
    while True:
        at += rng.expovariate(rate)
        if at >= end:
            return offsets
        offsets.append(at)


def point_within(
    rng: random.Random, *, latitude: float, longitude: float, radius_km: float
) -> tuple[float, float]:
    """A point uniform over the disc of ``radius_km`` around the store (the
    square root of the draw spreads the points evenly over the area)."""
    distance = radius_km * math.sqrt(rng.random())
    bearing = rng.uniform(0.0, 2 * math.pi)
    dlat = math.degrees(distance * math.cos(bearing) / EARTH_RADIUS_KM)
    dlng = math.degrees(
        distance
        * math.sin(bearing)
        / (EARTH_RADIUS_KM * math.cos(math.radians(latitude)))
    )
    return round(latitude + dlat, 6), round(longitude + dlng, 6)


def floor_seconds(rng: random.Random, *, mean: float, sigma: float = 0.5) -> float:
    """A pick or pack time: lognormal with the store's default as its mean (a
    long right tail, never negative)."""
    if mean <= 0:
        return 0.0
    mu = math.log(mean) - sigma * sigma / 2
    return rng.lognormvariate(mu, sigma)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` percentile (0-100) by linear interpolation; 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Outcome:
    """One simulated order: how it was promised and what became of it."""

    promised: str  # "express", "slot" (moved to a window) or "refused"
    deadline: dt.datetime | None = None
    delivered_at: dt.datetime | None = None


@dataclass(frozen=True)
class Figures:
    orders: int
    express: int
    moved_to_slot: int
    refused: int
    delivered: int
    undelivered: int
    on_time: int
    on_time_rate: float  # of the delivered orders
    express_on_time_rate: float  # of the orders promised express
    mean_lateness_seconds: float  # over the late deliveries
    p95_lateness_seconds: float  # over every delivery, early counts as 0
    trips: int
    trips_per_order: float
    rider_utilisation: float  # busy rider-seconds / on-shift rider-seconds

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def figures_from(
    outcomes: Sequence[Outcome],
    *,
    trips: int,
    rider_busy_seconds: float,
    rider_shift_seconds: float,
) -> Figures:
    """The run's figures; every order is counted once: delivered, undelivered
    (still on its way at the end) or refused, so the parts add up to the whole."""
    delivered = [o for o in outcomes if o.delivered_at is not None]
    late = [
        (o.delivered_at - o.deadline).total_seconds()
        for o in delivered
        if o.deadline is not None and o.delivered_at > o.deadline
    ]
    lateness = [
        max(0.0, (o.delivered_at - o.deadline).total_seconds())
        for o in delivered
        if o.deadline is not None
    ]
    on_time = len(delivered) - len(late)
    express = [o for o in outcomes if o.promised == "express"]
    express_on_time = sum(
        1
        for o in express
        if o.delivered_at is not None
        and o.deadline is not None
        and o.delivered_at <= o.deadline
    )
    refused = sum(1 for o in outcomes if o.promised == "refused")
    accepted = len(outcomes) - refused
    return Figures(
        orders=len(outcomes),
        express=len(express),
        moved_to_slot=sum(1 for o in outcomes if o.promised == "slot"),
        refused=refused,
        delivered=len(delivered),
        undelivered=accepted - len(delivered),
        on_time=on_time,
        on_time_rate=on_time / len(delivered) if delivered else 0.0,
        express_on_time_rate=express_on_time / len(express) if express else 0.0,
        mean_lateness_seconds=sum(late) / len(late) if late else 0.0,
        p95_lateness_seconds=percentile(lateness, 95),
        trips=trips,
        trips_per_order=trips / len(delivered) if delivered else 0.0,
        rider_utilisation=(
            min(1.0, rider_busy_seconds / rider_shift_seconds)
            if rider_shift_seconds > 0
            else 0.0
        ),
    )


def figures_text(figures: Figures) -> str:
    """The figures as the command prints them."""
    return "\n".join(
        [
            f"orders: {figures.orders} (express {figures.express}, moved to a slot "
            f"{figures.moved_to_slot}, refused {figures.refused})",
            f"delivered: {figures.delivered}, still out: {figures.undelivered}",
            f"on time: {figures.on_time_rate:.1%} of delivered; express on time: "
            f"{figures.express_on_time_rate:.1%}",
            f"lateness: mean {figures.mean_lateness_seconds:.0f} s (late orders), "
            f"95th percentile {figures.p95_lateness_seconds:.0f} s",
            f"riders' utilisation: {figures.rider_utilisation:.1%}",
            f"trips: {figures.trips}, per order {figures.trips_per_order:.2f}",
        ]
    )
