"""The routing problem and its answer, in plain numbers: no models, no ORM.

Times are seconds from the moment the problem was built ("now"); place 0 of the
duration matrix is the store, place ``i + 1`` is ``stops[i]``. The caller builds
the matrix from the store's travel-time model, so the solver never needs to know
how riders travel.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Stop:
    """One order to deliver."""

    id: str
    ready_at: float  # when its bags are packed and can leave the store
    deadline: float  # the promise to the shopper
    service_seconds: float = 60.0  # the handover at the door
    load: int = 1  # bags


@dataclass(frozen=True)
class Rider:
    """One rider who can take a trip now or when back at the store."""

    id: str
    available_at: float = 0.0  # back at the store and free
    capacity: int = 6  # bags per trip


@dataclass(frozen=True)
class Problem:
    stops: tuple[Stop, ...]
    riders: tuple[Rider, ...]
    # durations[a][b]: seconds from place a to place b (0 = the store).
    durations: tuple[tuple[float, ...], ...]
    # Lateness weighs more than anything else; then the riders used; then
    # the total riding time.
    lateness_weight: float = 100.0
    rider_weight: float = 600.0


@dataclass(frozen=True)
class Route:
    rider_id: str
    stop_ids: tuple[str, ...]  # in visiting order
    departs_at: float  # leaves the store
    arrivals: tuple[float, ...]  # per stop, in the same order
    lateness: tuple[float, ...]  # per stop: seconds past its deadline (0 if on time)
    returns_at: float  # back at the store


@dataclass(frozen=True)
class Plan:
    routes: tuple[Route, ...]
    unassigned: tuple[str, ...]  # stops no rider can take in this plan
    cost: float
    solver: str  # "pyvrp" or "greedy"
    seconds: float  # time spent solving
    notes: tuple[str, ...] = field(default=())  # why a fallback was used, etc.
    iterations: int = 0  # the solver's search iterations (0 for greedy)
