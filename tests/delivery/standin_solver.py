"""A small stand-in for ``delivery.routing.solve.solve`` (same signature), so
that the dispatcher's tests do not depend on the solver's internals: earliest
deadline first, each stop inserted at the cheapest place of a route that keeps
every stop on that route on time and within capacity, else on the next rider.
Deterministic; ``seed`` and the limits are accepted and ignored.
"""

from __future__ import annotations

from delivery.routing.problem import Plan, Problem, Route, Stop


def _schedule(problem: Problem, available_at: float, order: list[int]):
    """Departure, arrivals, lateness and return of visiting ``order`` (indices
    into ``problem.stops``), leaving when the rider and every bag are ready."""
    stops = problem.stops
    d = problem.durations
    depart = max([available_at, *(stops[i].ready_at for i in order)])
    t, here, arrivals, lateness = depart, 0, [], []
    for i in order:
        t += d[here][i + 1]
        arrivals.append(t)
        lateness.append(max(0.0, t - stops[i].deadline))
        t += stops[i].service_seconds
        here = i + 1
    return depart, arrivals, lateness, t + d[here][0]


def solve(
    problem: Problem,
    *,
    time_budget_seconds: float | None = None,
    max_iterations: int | None = None,
    seed: int = 0,
) -> Plan:
    stops: tuple[Stop, ...] = problem.stops
    routes: list[list[int]] = [[] for _ in problem.riders]
    loads = [0 for _ in problem.riders]
    unassigned = []
    for i in sorted(range(len(stops)), key=lambda i: (stops[i].deadline, i)):
        best = None
        for r, rider in enumerate(problem.riders):
            if loads[r] + stops[i].load > rider.capacity:
                continue
            for pos in range(len(routes[r]) + 1):
                order = [*routes[r][:pos], i, *routes[r][pos:]]
                _, _, late, back = _schedule(problem, rider.available_at, order)
                if any(late):
                    continue
                if routes[r]:
                    _, _, _, before = _schedule(problem, rider.available_at, routes[r])
                    cost = back - before
                else:
                    cost = back + problem.rider_weight
                if best is None or cost < best[0]:
                    best = (cost, r, order)
        if best is None:
            # Nobody on time: the rider free first takes it alone, late.
            free = [r for r, route in enumerate(routes) if not route]
            if not free:
                unassigned.append(stops[i].id)
                continue
            r = min(free, key=lambda r: problem.riders[r].available_at)
            best = (0.0, r, [i])
        _, r, order = best
        routes[r] = order
        loads[r] += stops[i].load
    plan_routes, cost = [], 0.0
    for r, order in enumerate(routes):
        if not order:
            continue
        rider = problem.riders[r]
        depart, arrivals, late, back = _schedule(problem, rider.available_at, order)
        cost += back - depart + problem.rider_weight
        cost += problem.lateness_weight * sum(late)
        plan_routes.append(
            Route(
                rider_id=rider.id,
                stop_ids=tuple(stops[i].id for i in order),
                departs_at=depart,
                arrivals=tuple(arrivals),
                lateness=tuple(late),
                returns_at=back,
            )
        )
    return Plan(
        routes=tuple(plan_routes),
        unassigned=tuple(unassigned),
        cost=cost,
        solver="standin",
        seconds=0.0,
    )
