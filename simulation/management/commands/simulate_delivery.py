"""``python manage.py simulate_delivery --store SH01 --orders-per-hour 300
--riders 20 --hours 2 --seed 1``: the store's delivery over simulated time,
through the real promise, checkout, picking, rail, packing, dispatcher and
rider code (see ``simulation.delivery_run``). Everything runs in one transaction
that is rolled back: the store is left as it was found."""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from inventory.models import Store
from simulation.delivery_run import (
    SimulationRefused,
    figures_text,
    simulate,
)


class Command(BaseCommand):
    help = (
        "Simulate a store's deliveries (Poisson orders, real promise, picking, "
        "dispatcher and riders) and print on-time rate, lateness, utilisation, "
        "trips per order and refusals; nothing is kept."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--store", required=True)
        parser.add_argument("--orders-per-hour", type=float, default=300)
        parser.add_argument("--riders", type=int, default=20)
        parser.add_argument(
            "--pickers",
            type=int,
            default=None,
            help="Pickers on duty (default: enough for the load, 80%% busy).",
        )
        parser.add_argument("--hours", type=float, default=2)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--max-iterations", type=int, default=200)
        parser.add_argument("--json", dest="json_file", default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        for name in ("orders_per_hour", "riders", "pickers", "hours"):
            if options[name] is not None and options[name] <= 0:
                raise CommandError(f"--{name.replace('_', '-')} must be positive.")
        store = Store.objects.filter(code=options["store"].strip().upper()).first()
        if store is None:
            raise CommandError(f"No store {options['store']!r}.")

        def progress(elapsed: dt.timedelta, orders: int) -> None:
            minutes = int(elapsed.total_seconds() // 60)
            total = int(options["hours"] * 60)
            filled = min(30, 30 * minutes // max(total, 1))
            bar = "#" * filled + "." * (30 - filled)
            print(
                f"\r[{bar}] {minutes} of {total} simulated min, {orders} orders",
                end="",
                file=sys.stderr,
                flush=True,
            )

        began = time.monotonic()
        try:
            figures = simulate(
                store=store,
                orders_per_hour=options["orders_per_hour"],
                riders=options["riders"],
                hours=options["hours"],
                seed=options["seed"],
                pickers=options["pickers"],
                max_iterations=options["max_iterations"],
                progress=progress,
            )
        except SimulationRefused as exc:
            raise CommandError(str(exc)) from None
        wall = time.monotonic() - began
        print(file=sys.stderr)
        self.stdout.write(figures_text(figures))
        self.stdout.write(f"wall time: {wall:.0f} s")
        if options["json_file"]:
            with open(options["json_file"], "w", encoding="utf-8") as out:
                json.dump({**figures.as_dict(), "wall_seconds": round(wall, 1)}, out)
