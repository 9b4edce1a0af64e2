"""The greedy fallback: cheap, always answers, never clever.

Used when PyVRP finds no feasible plan in time or fails, and as the baseline
the solver is measured against. Stops are taken by earliest deadline; each
goes where it adds least cost (lateness first, then a rider newly used, then
riding time) over every rider and every position in that rider's trip, as long
as the bags fit. A rider leaves when the last of their bags is ready, so ready
times hold by construction.
"""

from __future__ import annotations

import time

from delivery.routing.evaluate import plan_from, route_cost
from delivery.routing.problem import Plan, Problem


def greedy_assignment(problem: Problem) -> dict[str, list[int]]:
    """Rider id -> stop indices in visiting order (stops that fit nowhere are
    left out)."""
    routes: dict[str, list[int]] = {r.id: [] for r in problem.riders}
    loads: dict[str, int] = {r.id: 0 for r in problem.riders}
    costs: dict[str, float] = {r.id: 0.0 for r in problem.riders}
    order = sorted(
        range(len(problem.stops)),
        key=lambda i: (problem.stops[i].deadline, problem.stops[i].ready_at, i),
    )
    for i in order:
        stop = problem.stops[i]
        best: tuple[float, str, list[int], float] | None = None
        tried_empty: set[tuple[float, int]] = set()
        for rider in problem.riders:
            if loads[rider.id] + stop.load > rider.capacity:
                continue
            current = routes[rider.id]
            if not current:
                # Idle riders alike give the same answer: try one of each kind.
                kind = (max(0.0, rider.available_at), rider.capacity)
                if kind in tried_empty:
                    continue
                tried_empty.add(kind)
            for position in range(len(current) + 1):
                candidate = [*current[:position], i, *current[position:]]
                cost = route_cost(problem, rider, candidate)
                delta = cost - costs[rider.id]
                if best is None or delta < best[0] - 1e-9:
                    best = (delta, rider.id, candidate, cost)
        if best is None:
            continue
        _, rider_id, candidate, cost = best
        routes[rider_id] = candidate
        loads[rider_id] += stop.load
        costs[rider_id] = cost
    return routes


def solve_greedy(problem: Problem, *, notes: tuple[str, ...] = ()) -> Plan:
    """The greedy plan, with ``solver="greedy"`` and the caller's notes."""
    started = time.perf_counter()
    assignment = greedy_assignment(problem)
    return plan_from(
        problem,
        assignment,
        solver="greedy",
        seconds=time.perf_counter() - started,
        notes=notes,
    )
