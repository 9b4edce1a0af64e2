"""One hour of the store's deliveries at 300 orders an hour, simulated.

``simulation.delivery_run.simulate`` on the demo store SH01 (seeded by
``seed_demo`` and ``seed_demo_layout`` on the benchmark database): the real
promise, checkout, picking, rail, packing, dispatcher and rider code over
simulated time, rolled back at the end. Run twice in the same process with the
same seed and riders: once with the real dispatcher (PyVRP), once with the
greedy fallback as the baseline, so that the pooling and on-time figures have
a same-run comparison. The figure of merit is the wall time of the hour
(target: under five minutes) and the express on-time rate (target: 99%).

``HEMA_BENCH_SIM_RIDERS`` (default 50) sets the riders on shift; pickers are
enough for the load (``pickers_for``).
"""

from __future__ import annotations

import os
import time

from tests.benchmarks.registry import BenchContext, BenchResult, Row, register

ORDERS_PER_HOUR = 300
HOURS = 1.0
SEED = 1


def _run(store, riders: int, solve) -> tuple[dict, float]:
    from simulation.delivery_run import simulate

    started = time.perf_counter()
    figures = simulate(
        store=store,
        orders_per_hour=ORDERS_PER_HOUR,
        riders=riders,
        hours=HOURS,
        seed=SEED,
        solve=solve,
    )
    return figures.as_dict(), time.perf_counter() - started


@register("simulation")
def bench_simulation(context: BenchContext) -> BenchResult:
    from django.core.management import call_command

    from delivery.routing.greedy import solve_greedy
    from inventory.models import Store

    call_command("seed_demo", verbosity=0)
    call_command("seed_demo_layout", verbosity=0)
    store = Store.objects.get(code="SH01")
    riders = int(os.environ.get("HEMA_BENCH_SIM_RIDERS", "50"))

    def greedy(problem, **_options):
        return solve_greedy(problem)

    solver, solver_wall = _run(store, riders, None)
    baseline, baseline_wall = _run(store, riders, greedy)

    def share(figures: dict, key: str) -> str:
        return f"{100 * figures[key]:.1f}"

    rows = [
        Row(
            f"1 simulated hour, {ORDERS_PER_HOUR} orders/h, {riders} riders",
            f"{solver_wall:.0f}",
            "s wall",
            f"greedy dispatcher {baseline_wall:.0f} s; target < 300 s",
        ),
        Row(
            "express on time",
            share(solver, "express_on_time_rate"),
            "%",
            f"{solver['express']} of {solver['orders']} orders promised express; "
            f"greedy {share(baseline, 'express_on_time_rate')}% of "
            f"{baseline['express']}; target >= 99%",
        ),
        Row(
            "all deliveries on time",
            share(solver, "on_time_rate"),
            "%",
            f"moved to a window {solver['moved_to_slot']}, refused "
            f"{solver['refused']}, still out {solver['undelivered']}; greedy "
            f"{share(baseline, 'on_time_rate')}%",
        ),
        Row(
            "trips per order",
            f"{solver['trips_per_order']:.2f}",
            "",
            f"greedy {baseline['trips_per_order']:.2f}; one order per trip = 1.00",
        ),
        Row(
            "lateness p95 / mean of late",
            f"{solver['p95_lateness_seconds']:.0f} / "
            f"{solver['mean_lateness_seconds']:.0f}",
            "s",
            f"riders busy {share(solver, 'rider_utilisation')}%",
        ),
    ]
    return BenchResult(
        rows=rows,
        data={
            "orders_per_hour": ORDERS_PER_HOUR,
            "hours": HOURS,
            "riders": riders,
            "seed": SEED,
            "solver": {**solver, "wall_seconds": round(solver_wall, 1)},
            "greedy": {**baseline, "wall_seconds": round(baseline_wall, 1)},
        },
    )
