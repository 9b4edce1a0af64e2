"""The routing solver on a dispatcher tick: time, quality, pooling.

* Speed: a tick of 60 open orders and 25 riders (the stored instance
  ``tw_060``), solved with a 1-second budget (the whole call), repeated with
  seeds 0..4; the figure is the median wall time, beside the greedy baseline's
  time and cost on the same tick. Target: decides within 1 second.
* Quality: every stored instance (40 to 100 stops) solved with 1 second, the
  cost gap to its stored 60-second reference. Target: within 2%.
* Pooling: on the same 60-order tick, the trips of the solver's plan against
  one order per trip (the same 25 riders, each taking the most urgent order
  waiting whenever back at the store), with both on-time rates, and the
  on-time rate of one order per trip with a rider for every order. Target: at
  least 20% fewer trips at the same on-time rate.

Pure Python: the benchmark database is not used.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import replace

from delivery.routing.evaluate import check_plan
from delivery.routing.greedy import solve_greedy
from delivery.routing.problem import Plan, Problem, Rider
from delivery.routing.solve import solve
from tests.benchmarks.registry import BenchContext, BenchResult, Row, register
from tests.delivery.routing.generate import load_instances, problem_from

BUDGET_SECONDS = 1.0
SEEDS = range(5)


def on_time_rate(plan: Plan, stops: int) -> float:
    on_time = sum(late == 0 for r in plan.routes for late in r.lateness)
    return on_time / stops


def one_order_per_trip(problem: Problem) -> tuple[int, float]:
    """Trips and on-time rate when each trip carries one order: by deadline,
    each order goes with the rider who can reach it first, who comes back to
    the store for the next."""
    d = problem.durations
    free = {r.id: max(0.0, r.available_at) for r in problem.riders}
    on_time = 0
    order = sorted(range(len(problem.stops)), key=lambda i: problem.stops[i].deadline)
    for i in order:
        stop = problem.stops[i]
        rider = min(free, key=lambda rid: max(free[rid], stop.ready_at))
        leaves = max(free[rider], stop.ready_at)
        arrival = leaves + d[0][i + 1]
        on_time += arrival <= stop.deadline
        free[rider] = arrival + stop.service_seconds + d[i + 1][0]
    return len(problem.stops), on_time / len(problem.stops)


@register("routing")
def bench_routing(context: BenchContext) -> BenchResult:
    instances = {f"tw_{len(i['stops']):03d}": i for i in load_instances()}
    tick = instances["tw_060"]
    problem = problem_from(tick)

    walls, costs, plans = [], [], []
    for seed in SEEDS:
        started = time.perf_counter()
        plan = solve(problem, time_budget_seconds=BUDGET_SECONDS, seed=seed)
        walls.append(time.perf_counter() - started)
        check_plan(problem, plan)
        costs.append(plan.cost)
        plans.append(plan)
    greedy_walls, greedy = [], None
    for _ in SEEDS:
        started = time.perf_counter()
        greedy = solve_greedy(problem)
        greedy_walls.append(time.perf_counter() - started)

    gaps = {}
    for name, instance in sorted(instances.items()):
        p = problem_from(instance)
        plan = solve(p, time_budget_seconds=BUDGET_SECONDS, seed=0)
        reference = instance["reference"]["cost"]
        gaps[name] = {
            "stops": len(p.stops),
            "riders": len(p.riders),
            "reference_cost": reference,
            "cost_1s": round(plan.cost, 1),
            "gap_percent": round(100 * (plan.cost - reference) / reference, 2),
            "solver": plan.solver,
            "iterations": plan.iterations,
        }

    median_plan = plans[costs.index(statistics.median_low(costs))]
    pooled_trips = len(median_plan.routes)
    pooled_on_time = on_time_rate(median_plan, len(problem.stops))
    single_trips, single_on_time = one_order_per_trip(problem)
    # One order per trip and a rider for every order: the best on-time rate
    # one order per trip can reach, at as many trips as orders.
    _, unlimited_on_time = one_order_per_trip(
        replace(
            problem,
            riders=tuple(Rider(id=f"extra{n}") for n in range(len(problem.stops))),
        )
    )
    fewer = 1 - pooled_trips / single_trips
    worst_gap = max(g["gap_percent"] for g in gaps.values())
    rows = [
        Row(
            "solve 60 orders / 25 riders, 1 s budget",
            f"{statistics.median(walls):.3f}",
            "s",
            f"max {max(walls):.3f}; target <= 1 s",
        ),
        Row(
            "greedy baseline, same tick",
            f"{statistics.median(greedy_walls) * 1000:.1f}",
            "ms",
            f"cost {greedy.cost:.0f} vs solver {statistics.median(costs):.0f}",
        ),
        Row(
            "cost gap at 1 s vs stored 60 s (worst instance)",
            f"{worst_gap:.2f}",
            "%",
            "; ".join(f"{k} {v['gap_percent']:+.2f}%" for k, v in gaps.items())
            + "; target <= 2%",
        ),
        Row(
            "trips, pooled vs one order per trip",
            f"{pooled_trips} / {single_trips}",
            "trips",
            f"{100 * fewer:.0f}% fewer; on time {100 * pooled_on_time:.0f}% vs "
            f"{100 * single_on_time:.0f}% with the same riders, "
            f"{100 * unlimited_on_time:.0f}% with a rider per order; "
            "target >= 20% fewer",
        ),
    ]
    data = {
        "budget_seconds": BUDGET_SECONDS,
        "tick": {"stops": len(problem.stops), "riders": len(problem.riders)},
        "solve_seconds": [round(w, 4) for w in walls],
        "solve_seconds_median": round(statistics.median(walls), 4),
        "solve_costs": [round(c, 1) for c in costs],
        "solvers": [p.solver for p in plans],
        "iterations": [p.iterations for p in plans],
        "greedy_seconds_median": round(statistics.median(greedy_walls), 5),
        "greedy_cost": round(greedy.cost, 1),
        "greedy_trips": len(greedy.routes),
        "greedy_on_time_rate": on_time_rate(greedy, len(problem.stops)),
        "gaps": gaps,
        "pooling": {
            "pooled_trips": pooled_trips,
            "pooled_on_time_rate": pooled_on_time,
            "single_trips": single_trips,
            "single_on_time_rate": single_on_time,
            "single_on_time_rate_rider_per_order": unlimited_on_time,
            "fewer_trips_percent": round(100 * fewer, 1),
        },
    }
    return BenchResult(rows=rows, data=data)
