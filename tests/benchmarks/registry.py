"""The benchmarks ``python -m tests.benchmarks.run`` knows.

A benchmark is a module ``tests/benchmarks/bench_<name>.py`` with a function
decorated ``@register("<name>")``. It receives a ``BenchContext`` (Django is set up
on the benchmark database) and returns a ``BenchResult``: rows for the summary
table and a JSON-ready dict for ``results/<name>.json``.

The registry lives here, not in ``run.py``, because ``run.py`` runs as
``__main__``: a bench module importing it would load a second copy.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class BenchContext:
    database_name: str
    conninfo: str  # libpq connection string of the benchmark database
    machine: dict[str, Any]


@dataclass(frozen=True)
class Row:
    """One line of the summary table."""

    measure: str
    value: str
    unit: str = ""
    note: str = ""


@dataclass
class BenchResult:
    rows: list[Row]
    data: dict[str, Any] = field(default_factory=dict)


Bench = Callable[[BenchContext], BenchResult]
REGISTRY: dict[str, Bench] = {}


def register(name: str) -> Callable[[Bench], Bench]:
    def add(bench: Bench) -> Bench:
        if name in REGISTRY:
            raise ValueError(f"benchmark {name!r} is registered twice")
        REGISTRY[name] = bench
        return bench

    return add
