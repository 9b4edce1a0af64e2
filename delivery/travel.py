"""How long a rider takes from one point to another: the travel-time model.

The model is per store (``DeliverySettings``: rider speed, a road factor on the
great-circle distance, the handover at the door). It sits behind the small
``TravelModel`` protocol so that a routing engine (OSRM, a maps API) can replace
it without touching the promise or the dispatcher, which only ask for seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from delivery.models import DeliverySettings
from inventory.geo import distance_km
from inventory.models import Store

Point = tuple[float, float]  # (latitude, longitude)


class TravelModel(Protocol):
    """What the promise and the dispatcher need of any travel-time source."""

    handover_seconds: float

    def seconds(self, origin: Point, destination: Point) -> float:
        """Riding time between two points, in seconds."""
        ...


@dataclass(frozen=True)
class StraightLineTravel:
    """Great-circle distance times a road factor, at a constant riding speed."""

    speed_kmh: float = 15.0
    road_factor: float = 1.3
    handover_seconds: float = 60.0

    def seconds(self, origin: Point, destination: Point) -> float:
        km = distance_km(origin[0], origin[1], destination[0], destination[1])
        return km * self.road_factor / self.speed_kmh * 3600.0


def delivery_settings(store: Store) -> DeliverySettings:
    """The store's settings row, or the defaults (unsaved) when it has none."""
    found = DeliverySettings.objects.filter(store=store).first()
    return found if found is not None else DeliverySettings(store=store)


def travel_model(store: Store, config: DeliverySettings | None = None) -> TravelModel:
    """The store's travel model (the only place that chooses one); ``config``
    is the store's settings when the caller has read them already."""
    config = config or delivery_settings(store)
    return StraightLineTravel(
        speed_kmh=float(config.rider_speed_kmh),
        road_factor=float(config.road_factor),
        handover_seconds=float(config.handover_seconds),
    )


def store_point(store: Store) -> Point:
    return (float(store.latitude), float(store.longitude))


def duration_matrix(
    store: Store, points: Sequence[Point], model: TravelModel | None = None
) -> tuple[tuple[float, ...], ...]:
    """Seconds between every pair of places; place 0 is the store, place
    ``i + 1`` is ``points[i]`` (the layout ``delivery.routing.problem`` wants)."""
    model = model or travel_model(store)
    places = [store_point(store), *points]
    return tuple(
        tuple(0.0 if a == b else model.seconds(pa, pb) for b, pb in enumerate(places))
        for a, pa in enumerate(places)
    )
