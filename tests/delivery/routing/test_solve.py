"""The routing solver: deadlines met when they can be, pooling only when it
keeps every promise, the least lateness when one cannot be kept, capacities
and ready times held, and the greedy fallback. Pure Python, no database; the
solver runs with a seed and an iteration limit, never a wall clock."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

import delivery.routing.solve as solve_module
from delivery.routing.evaluate import check_plan, route_of
from delivery.routing.greedy import solve_greedy
from delivery.routing.problem import Plan, Problem, Rider, Stop
from delivery.routing.solve import solve
from tests.delivery.routing.generate import (
    durations_for,
    generate,
    problem_from,
    ride_seconds,
)

ITERATIONS = 300


def point(metres: float, degrees: float) -> tuple[float, float]:
    a = math.radians(degrees)
    return (metres * math.cos(a), metres * math.sin(a))


def problem(points, stops, riders) -> Problem:
    return Problem(
        stops=tuple(stops), riders=tuple(riders), durations=durations_for(points)
    )


def route_by_stop(plan: Plan) -> dict[str, str]:
    return {sid: r.rider_id for r in plan.routes for sid in r.stop_ids}


def lateness(plan: Plan) -> dict[str, float]:
    return {
        sid: late
        for r in plan.routes
        for sid, late in zip(r.stop_ids, r.lateness, strict=True)
    }


def twelve_orders() -> tuple[Problem, dict[str, list[int]]]:
    """Three ways out of the store (east, north, west), four orders on each at
    500 m steps; three riders of four bags. The hand plan: each rider takes one
    way outwards. Deadlines leave two minutes over that plan's arrivals."""
    points, stops, hand = [], [], {}
    step = round(ride_seconds((0, 0), point(500, 0)))  # 156 s per 500 m
    for k, degrees in enumerate((0, 90, 180)):
        ready = 60.0 * k  # the west bags are packed two minutes later
        hand[f"r{k}"] = []
        for j in range(1, 5):
            points.append(point(500 * j, degrees))
            # By hand: leave at `ready`, j legs of `step`, j - 1 handovers.
            arrival = ready + j * step + (j - 1) * 60
            stops.append(Stop(id=f"o{k}{j}", ready_at=ready, deadline=arrival + 120))
            hand[f"r{k}"].append(len(stops) - 1)
    riders = [Rider(id=f"r{k}", capacity=4) for k in range(3)]
    return problem(points, stops, riders), hand


def test_twelve_orders_three_riders_every_deadline_met():
    p, hand = twelve_orders()
    # The hand plan meets every deadline (so a plan that does exists) ...
    for rider in p.riders:
        route = route_of(p, rider, hand[rider.id])
        assert route.lateness == (0.0, 0.0, 0.0, 0.0)
    # ... and so does the solver's, with every order delivered once.
    plan = solve(p, max_iterations=ITERATIONS, seed=0)
    check_plan(p, plan)
    assert plan.solver == "pyvrp"
    assert plan.unassigned == ()
    assert set(lateness(plan)) == {s.id for s in p.stops}
    assert max(lateness(plan).values()) == 0.0
    assert len(plan.routes) == 3


def neighbours(first_deadline_slack: float, second_deadline_slack: float):
    """Two orders 2 km east, 150 m apart; two free riders."""
    points = [point(2000, 0), point(2150, 2)]
    alone = [ride_seconds((0, 0), q) for q in points]
    stops = [
        Stop(id="a", ready_at=0, deadline=alone[0] + first_deadline_slack),
        Stop(id="b", ready_at=0, deadline=alone[1] + second_deadline_slack),
    ]
    return problem(points, stops, [Rider(id="r1"), Rider(id="r2")])


def test_two_neighbouring_orders_pooled_when_both_deadlines_allow():
    p = neighbours(600, 600)
    plan = solve(p, max_iterations=ITERATIONS)
    check_plan(p, plan)
    assert len(plan.routes) == 1
    assert set(plan.routes[0].stop_ids) == {"a", "b"}
    assert max(lateness(plan).values()) == 0.0


def test_neighbours_not_pooled_when_pooling_makes_one_late():
    # Each promise leaves 30 s over riding straight there; the second stop of
    # a pooled trip comes a handover (60 s) and a ride later: late.
    p = neighbours(30, 30)
    plan = solve(p, max_iterations=ITERATIONS)
    check_plan(p, plan)
    assert len(plan.routes) == 2
    assert route_by_stop(plan)["a"] != route_by_stop(plan)["b"]
    assert max(lateness(plan).values()) == 0.0


def test_a_deadline_that_cannot_be_met_is_still_assigned_with_least_lateness():
    # "late" is 2.5 km out with a promise of 100 s; "easy" is on the same road,
    # nearer, with an hour to spare; one rider. The least lateness is riding to
    # "late" first, straight away, though "easy" is on the way.
    points = [point(2000, 0), point(2500, 0)]
    ride = ride_seconds((0, 0), points[1])
    stops = [
        Stop(id="easy", ready_at=0, deadline=3600),
        Stop(id="late", ready_at=0, deadline=100),
    ]
    p = problem(points, stops, [Rider(id="r1")])
    plan = solve(p, max_iterations=ITERATIONS)
    check_plan(p, plan)
    assert plan.unassigned == ()
    assert plan.routes[0].stop_ids == ("late", "easy")
    assert lateness(plan)["late"] == pytest.approx(round(ride) - 100)
    assert lateness(plan)["easy"] == 0.0
    assert any("cannot be met" in note for note in plan.notes)


def test_capacity_is_respected_and_overflow_left_for_later():
    # Five orders of two bags at one place, two riders of four bags: four
    # orders go (two a rider), one waits for the next plan.
    points = [point(800, 45 + k) for k in range(5)]
    stops = [Stop(id=f"o{k}", ready_at=0, deadline=3600, load=2) for k in range(5)]
    p = problem(points, stops, [Rider(id="r1", capacity=4), Rider(id="r2", capacity=4)])
    plan = solve(p, max_iterations=ITERATIONS)
    check_plan(p, plan)
    assert sorted(len(r.stop_ids) for r in plan.routes) == [2, 2]
    assert len(plan.unassigned) == 1


def test_ready_times_respected_and_an_early_order_not_kept_waiting():
    # "early" is packed now with a tight promise; "later" goes to the same
    # street but its bags are ready only in ten minutes. Pooling would keep
    # "early" waiting in the store: two riders instead, and nobody leaves
    # before their bags are ready.
    points = [point(1500, 10), point(1550, 12)]
    ride = ride_seconds((0, 0), points[0])
    stops = [
        Stop(id="early", ready_at=0, deadline=ride + 120),
        Stop(id="later", ready_at=600, deadline=600 + ride + 900),
    ]
    p = problem(points, stops, [Rider(id="r1"), Rider(id="r2")])
    plan = solve(p, max_iterations=ITERATIONS)
    check_plan(p, plan)
    assert max(lateness(plan).values()) == 0.0
    by_stop = {sid: r for r in plan.routes for sid in r.stop_ids}
    assert by_stop["early"] is not by_stop["later"]
    assert by_stop["later"].departs_at >= 600
    assert by_stop["early"].departs_at == 0


def test_too_few_riders_for_every_promise_lateness_no_worse_than_greedy():
    # 30 orders, 8 riders with room for all the bags but not the time: some
    # promises that could each be kept alone cannot all be kept together.
    p = problem_from(generate(30, 8, seed=7, capacity=30))
    greedy = solve_greedy(p)
    plan = solve(p, max_iterations=ITERATIONS)
    check_plan(p, plan)
    assert plan.solver == "pyvrp"
    assert plan.unassigned == ()
    assert "PyVRP found no plan keeping every promise it could" in plan.notes
    assert sum(lateness(plan).values()) <= sum(lateness(greedy).values())
    assert plan.cost < greedy.cost


def test_a_rider_back_later_leaves_when_back():
    points = [point(1000, 0)]
    stops = [Stop(id="o", ready_at=0, deadline=3600)]
    p = problem(points, stops, [Rider(id="away", available_at=900)])
    plan = solve(p, max_iterations=ITERATIONS)
    assert plan.routes[0].departs_at == 900
    assert plan.routes[0].arrivals[0] == 900 + round(ride_seconds((0, 0), points[0]))


def test_zero_budget_falls_back_to_greedy_and_says_why():
    p, _ = twelve_orders()
    plan = solve(p, time_budget_seconds=0.0)
    check_plan(p, plan)
    assert plan.solver == "greedy"
    assert "no time left for PyVRP" in plan.notes[0]
    assert plan.unassigned == ()
    assert max(lateness(plan).values()) == 0.0


def test_solver_failure_falls_back_to_greedy(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("solver crashed")

    monkeypatch.setattr(solve_module, "_solve_pyvrp", broken)
    p = neighbours(30, 30)
    plan = solve(p, max_iterations=ITERATIONS)
    check_plan(p, plan)
    assert plan.solver == "greedy"
    assert plan.notes == ("PyVRP failed: RuntimeError: solver crashed",)
    # The fallback still keeps both promises: one rider each.
    assert len(plan.routes) == 2
    assert max(lateness(plan).values()) == 0.0


def test_greedy_pools_neighbours_only_when_on_time():
    pooled = solve_greedy(neighbours(600, 600))
    apart = solve_greedy(neighbours(30, 30))
    assert len(pooled.routes) == 1
    assert len(apart.routes) == 2
    assert max(lateness(apart).values()) == 0.0


def test_same_seed_and_iterations_same_plan():
    p, _ = twelve_orders()
    first = solve(p, max_iterations=ITERATIONS, seed=3)
    again = solve(p, max_iterations=ITERATIONS, seed=3)
    assert first.routes == again.routes
    assert first.cost == again.cost


def test_nothing_to_plan_and_no_riders():
    assert solve(problem([], [], [Rider(id="r")]), max_iterations=10).routes == ()
    p = problem([point(500, 0)], [Stop(id="o", ready_at=0, deadline=900)], [])
    plan = solve(p, max_iterations=10)
    assert plan.unassigned == ("o",)
    assert plan.routes == ()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"durations": ((0.0, 10.0),)}, "durations must be 3 x 3"),
        ({"durations": ((0, 1, 1), (1, 0, -1), (1, 1, 0))}, "non-negative"),
        (
            {"stops": (Stop(id="o", ready_at=0, deadline=1),) * 2},
            "two stops share an id",
        ),
        ({"riders": (Rider(id="r", capacity=0),)}, "capacity is below one bag"),
    ],
)
def test_a_malformed_problem_is_refused_naming_what(change, message):
    good = problem(
        [point(500, 0), point(600, 0)],
        [
            Stop(id="a", ready_at=0, deadline=900),
            Stop(id="b", ready_at=0, deadline=900),
        ],
        [Rider(id="r")],
    )
    bad = replace(good, **change)
    with pytest.raises(ValueError, match=message):
        solve(bad, max_iterations=10)


@pytest.mark.parametrize("solver", ["pyvrp", "greedy"])
def test_when_riders_are_short_the_order_already_late_is_not_the_one_left_out(
    solver,
):
    # One rider of one bag, two orders: "near" 300 m away with an hour to go,
    # "overdue" 2.5 km away and already 40 minutes past its promise. Serving
    # "overdue" costs its lateness; leaving it costs an hour more than that,
    # so it goes now and "near" waits (it can still be on time next trip).
    # With a flat cost for leaving a stop out, an order over an hour late was
    # cheaper to leave than to serve, and waited for ever.
    points = [point(300, 0), point(2500, 180)]
    stops = [
        Stop(id="near", ready_at=0, deadline=3600),
        Stop(id="overdue", ready_at=0, deadline=-2400),
    ]
    p = problem(points, stops, [Rider(id="r1", capacity=1)])
    plan = solve(p, max_iterations=ITERATIONS) if solver == "pyvrp" else solve_greedy(p)
    check_plan(p, plan)
    assert route_by_stop(plan) == {"overdue": "r1"}
    assert plan.unassigned == ("near",)
