"""Seeded draws and the percentile the simulations share (pure functions)."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from inventory.geo import EARTH_RADIUS_KM


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
