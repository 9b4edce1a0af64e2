"""One-off: generate the quality instances and their 60-second reference costs.

    python -m tests.delivery.routing.make_instances [--seconds 60]

Writes ``instances/tw_<stops>.json``: the instance, the cost and plan of a
60-second solve (seed 1), and how many PyVRP iterations one second reached on
the machine that ran it (median of three seeds: the calibration of the quality
test's iteration count). The files are data computed once and committed on
purpose: the test compares against them instead of solving for a minute.
"""

from __future__ import annotations

import argparse
import json
import os

from delivery.routing.evaluate import check_plan
from delivery.routing.solve import solve
from tests.delivery.routing.generate import INSTANCES_DIR, generate, problem_from

SIZES = [(40, 18, 401), (60, 25, 601), (80, 36, 801), (100, 45, 1001)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    INSTANCES_DIR.mkdir(exist_ok=True)
    for stops, riders, seed in SIZES:
        instance = generate(stops, riders, seed)
        problem = problem_from(instance)
        ones = [solve(problem, time_budget_seconds=1.0, seed=s) for s in (0, 1, 2)]
        one = sorted(ones, key=lambda plan: plan.iterations)[1]  # the median
        best = solve(problem, time_budget_seconds=args.seconds, seed=1)
        check_plan(problem, best)
        instance["reference"] = {
            "seconds": args.seconds,
            "seed": 1,
            "cost": round(best.cost, 1),
            "solver": best.solver,
            "iterations": best.iterations,
            "late_stops": sum(x > 0 for r in best.routes for x in r.lateness),
            "riders_used": len(best.routes),
            "routes": {r.rider_id: list(r.stop_ids) for r in best.routes},
            "one_second": {"cost": round(one.cost, 1), "iterations": one.iterations},
            "load_average": os.getloadavg()[0],
        }
        path = INSTANCES_DIR / f"tw_{stops:03d}.json"
        path.write_text(json.dumps(instance, indent=1) + "\n")
        print(path.name, instance["reference"]["cost"], one.cost, one.iterations)


if __name__ == "__main__":
    main()
