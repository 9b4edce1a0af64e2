"""Seeded time-window instances around one store, as the dispatcher sees them.

Addresses uniform over the 3 km disc around the store; riders at 15 km/h on
roads 1.3 times the straight line; a minute's handover at the door. Bags become
ready over the next quarter of an hour; each promise leaves between 4 and 20
minutes of slack over riding straight there, so every stop alone is on time.
Some riders are out and come back during the tick.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

from delivery.routing.problem import Problem, Rider, Stop

RADIUS_M = 3000.0
SPEED_M_S = 15 / 3.6
ROAD_FACTOR = 1.3
INSTANCES_DIR = Path(__file__).resolve().parent / "instances"


def ride_seconds(a: tuple[float, float], b: tuple[float, float]) -> float:
    return math.dist(a, b) * ROAD_FACTOR / SPEED_M_S


def durations_for(points: list[tuple[float, float]]) -> tuple[tuple[float, ...], ...]:
    """Matrix over [store, *points]; rounded to the second like a real model."""
    places = [(0.0, 0.0), *points]
    return tuple(tuple(round(ride_seconds(a, b)) for b in places) for a in places)


def generate(
    stops: int, riders: int, seed: int, *, capacity: int = 6
) -> dict[str, Any]:
    """A JSON-ready instance: points, stops, riders (the matrix is derived)."""
    rng = random.Random(seed)
    points = []
    for _ in range(stops):
        r = RADIUS_M * math.sqrt(rng.random())
        a = rng.uniform(0, 2 * math.pi)
        points.append((round(r * math.cos(a), 1), round(r * math.sin(a), 1)))
    stop_rows = []
    for n, p in enumerate(points):
        ready = rng.choice([0.0, rng.uniform(0, 900)])
        slack = rng.uniform(240, 1200)
        deadline = ready + ride_seconds((0.0, 0.0), p) + slack
        stop_rows.append(
            {
                "id": f"o{n}",
                "ready_at": round(ready),
                "deadline": round(deadline),
                "service_seconds": 60.0,
                "load": rng.choice([1, 1, 2, 2, 3]),
            }
        )
    rider_rows = [
        {
            "id": f"r{n}",
            "available_at": 0.0 if rng.random() < 0.6 else round(rng.uniform(0, 1200)),
            "capacity": capacity,
        }
        for n in range(riders)
    ]
    return {"seed": seed, "points": points, "stops": stop_rows, "riders": rider_rows}


def problem_from(instance: dict[str, Any]) -> Problem:
    return Problem(
        stops=tuple(Stop(**row) for row in instance["stops"]),
        riders=tuple(Rider(**row) for row in instance["riders"]),
        durations=durations_for([tuple(p) for p in instance["points"]]),
    )


def load_instances() -> list[dict[str, Any]]:
    return [
        json.loads(path.read_text()) for path in sorted(INSTANCES_DIR.glob("tw_*.json"))
    ]
