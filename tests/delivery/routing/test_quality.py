"""The quality target: on the stored time-window instances (40 to 100 stops
around one store), the solver given about one second is within 2% of the cost
of a 60-second solve.

"About one second" is an iteration count, for determinism on a loaded
machine: the number of PyVRP iterations one second reached when the
instances were made (``reference.one_second.iterations``, computed by
``make_instances``; about 1,100 to 1,700 here). The references are data
computed once and committed (``instances/tw_*.json``)."""

from __future__ import annotations

import pytest

from delivery.routing.evaluate import check_plan
from delivery.routing.solve import solve
from tests.delivery.routing.generate import load_instances, problem_from

INSTANCES = load_instances()


def test_the_instances_are_there():
    assert [len(i["stops"]) for i in INSTANCES] == [40, 60, 80, 100]
    assert all(i["reference"]["seconds"] == 60 for i in INSTANCES)


@pytest.mark.parametrize(
    "instance", INSTANCES, ids=[f"{len(i['stops'])}-stops" for i in INSTANCES]
)
def test_one_second_within_two_percent_of_sixty(instance):
    problem = problem_from(instance)
    reference = instance["reference"]
    plan = solve(problem, max_iterations=reference["one_second"]["iterations"], seed=0)
    check_plan(problem, plan)
    assert plan.solver == "pyvrp"
    assert plan.unassigned == ()
    assert plan.cost <= 1.02 * reference["cost"], (plan.cost, reference["cost"])
