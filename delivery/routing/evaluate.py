"""The truth about a plan, computed from the problem's own durations.

Whatever a solver believed (rounded integers, widened windows), the routes a
plan reports are recomputed here: when each rider leaves, when each stop is
reached, how late it is, when the rider is back. Both solvers and the tests
judge plans by this one function, so their figures compare.

Times are seconds from "now"; nobody leaves in the past, so a rider free
since before now and bags packed before now both count as "now".
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from delivery.routing.problem import Plan, Problem, Rider, Route

# A stop left for a later plan costs at least as much as one an hour late: the
# dispatcher tries again next tick, but a plan that leaves it out is worse
# than almost any plan that takes it (see ``left_out_cost``).
UNASSIGNED_LATE_SECONDS = 3600.0


def earliest_arrival(problem: Problem, index: int) -> float:
    """The soonest any rider can reach stop ``index``: leaving as soon as both
    the rider and its bags are ready, straight there. No plan does better."""
    stop = problem.stops[index]
    first_free = min(max(0.0, r.available_at) for r in problem.riders)
    return max(0.0, stop.ready_at, first_free) + problem.durations[0][index + 1]


def left_out_cost(problem: Problem, index: int) -> float:
    """What leaving stop ``index`` for a later tick costs: an hour's lateness,
    plus up to another hour the less slack the stop has, plus the lateness it
    can no longer avoid. So when riders are short, the orders closest to (or
    past) their promise are the last ones left out; with a flat cost, an
    order already an hour late cost more to serve than to leave, and the
    nearest orders were served while it waited for ever."""
    stop = problem.stops[index]
    if not problem.riders:
        return problem.lateness_weight * UNASSIGNED_LATE_SECONDS
    slack = stop.deadline - earliest_arrival(problem, index)
    urgency = min(UNASSIGNED_LATE_SECONDS, max(0.0, UNASSIGNED_LATE_SECONDS - slack))
    return problem.lateness_weight * (
        UNASSIGNED_LATE_SECONDS + urgency + max(0.0, -slack)
    )


def check_problem(problem: Problem) -> None:
    """Raise ``ValueError`` naming what is wrong with a malformed problem: the
    dispatcher builds problems, so a bad one is a bug to see, not to plan."""
    size = len(problem.stops) + 1
    if len(problem.durations) != size or any(
        len(row) != size for row in problem.durations
    ):
        raise ValueError(f"durations must be {size} x {size} (the store and each stop)")
    if any(x < 0 or math.isnan(x) for row in problem.durations for x in row):
        raise ValueError("durations must be non-negative numbers")
    if len({s.id for s in problem.stops}) != len(problem.stops):
        raise ValueError("stops: two stops share an id")
    if len({r.id for r in problem.riders}) != len(problem.riders):
        raise ValueError("riders: two riders share an id")
    if any(s.load < 1 or s.service_seconds < 0 for s in problem.stops):
        raise ValueError("stops: a load is below one bag or a handover negative")
    if any(r.capacity < 1 for r in problem.riders):
        raise ValueError("riders: a capacity is below one bag")


def departure(problem: Problem, rider: Rider, stops: Sequence[int]) -> float:
    """The earliest moment the rider can leave with these stops' bags."""
    ready = max((problem.stops[i].ready_at for i in stops), default=0.0)
    return max(0.0, rider.available_at, ready)


def route_of(problem: Problem, rider: Rider, stops: Sequence[int]) -> Route:
    """The route of ``rider`` visiting ``stops`` (indices into problem.stops),
    in that order, leaving as soon as every bag is ready."""
    d = problem.durations
    departs = departure(problem, rider, stops)
    t = departs
    here = 0
    arrivals: list[float] = []
    lateness: list[float] = []
    for i in stops:
        stop = problem.stops[i]
        t += d[here][i + 1]
        arrivals.append(t)
        lateness.append(max(0.0, t - stop.deadline))
        t += stop.service_seconds
        here = i + 1
    returns = t + d[here][0]
    return Route(
        rider_id=rider.id,
        stop_ids=tuple(problem.stops[i].id for i in stops),
        departs_at=departs,
        arrivals=tuple(arrivals),
        lateness=tuple(lateness),
        returns_at=returns,
    )


def travel_seconds(problem: Problem, stops: Sequence[int]) -> float:
    """Riding time of a trip store -> stops -> store (no waiting, no handovers)."""
    d = problem.durations
    places = [0, *(i + 1 for i in stops), 0]
    return sum(d[a][b] for a, b in itertools.pairwise(places))


def route_cost(problem: Problem, rider: Rider, stops: Sequence[int]) -> float:
    """Cost of one trip: lateness first, then the rider, then the riding time."""
    if not stops:
        return 0.0
    route = route_of(problem, rider, stops)
    return (
        problem.lateness_weight * sum(route.lateness)
        + problem.rider_weight
        + travel_seconds(problem, stops)
    )


def plan_from(
    problem: Problem,
    assignment: dict[str, list[int]],
    *,
    solver: str,
    seconds: float,
    notes: Sequence[str] = (),
    iterations: int = 0,
) -> Plan:
    """A Plan from rider id -> stop indices in visiting order, with its true
    routes and cost. Stops in no route are reported unassigned."""
    riders = {r.id: r for r in problem.riders}
    routes: list[Route] = []
    cost = 0.0
    taken: set[int] = set()
    for rider in problem.riders:
        stops = assignment.get(rider.id) or []
        if not stops:
            continue
        overlap = taken.intersection(stops)
        if overlap or len(set(stops)) != len(stops):
            raise ValueError(f"a stop is on two routes: {sorted(overlap)}")
        taken.update(stops)
        routes.append(route_of(problem, riders[rider.id], stops))
        cost += route_cost(problem, riders[rider.id], stops)
    left_out = [i for i in range(len(problem.stops)) if i not in taken]
    unassigned = tuple(problem.stops[i].id for i in left_out)
    cost += sum(left_out_cost(problem, i) for i in left_out)
    return Plan(
        routes=tuple(routes),
        unassigned=unassigned,
        cost=cost,
        solver=solver,
        seconds=seconds,
        notes=tuple(notes),
        iterations=iterations,
    )


def check_plan(problem: Problem, plan: Plan) -> None:
    """Raise ``ValueError`` if the plan breaks a rule no solver may break:
    a stop twice or missing, a rider twice, a rider over capacity, a route
    leaving before its bags are ready or before its rider is free."""
    by_id = {s.id: s for s in problem.stops}
    riders = {r.id: r for r in problem.riders}
    seen: list[str] = [sid for route in plan.routes for sid in route.stop_ids]
    seen += list(plan.unassigned)
    if sorted(seen) != sorted(by_id):
        raise ValueError("every stop must be on exactly one route or unassigned")
    used = [route.rider_id for route in plan.routes]
    if len(used) != len(set(used)):
        raise ValueError("a rider has two routes")
    for route in plan.routes:
        rider = riders[route.rider_id]
        load = sum(by_id[s].load for s in route.stop_ids)
        if load > rider.capacity:
            raise ValueError(f"rider {rider.id} carries {load} > {rider.capacity}")
        ready = max(by_id[s].ready_at for s in route.stop_ids)
        if route.departs_at < ready or route.departs_at < rider.available_at:
            raise ValueError(f"rider {rider.id} leaves before the bags or rider")
