"""``python manage.py simulate_store --scenario FILE --days N --seed S``: the
whole store over simulated days (``simulation.store_run``), reported as HTML
with charts and JSON under ``var/reports/<timestamp>/``. Rolled back at the
end unless ``--keep`` (``make demo`` keeps the days on the demo database)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from simulation.delivery_run import SimulationRefused
from simulation.scenario import ScenarioError, scenario_load, scenario_with_days


class Command(BaseCommand):
    help = (
        "Simulate a store's days from a scenario file (shoppers in store and on "
        "the app, repricing, markdowns, picking, riders, closing, the night's "
        "forecast and replenishment) and write the report."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--scenario", required=True, help="A TOML scenario file.")
        parser.add_argument("--days", type=int, default=None)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--keep", action="store_true", help="Keep the simulated days (demo)."
        )
        parser.add_argument(
            "--out", default=None, help="Report folder (default var/reports/<time>)."
        )
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        from simulation.report import report_write
        from simulation.store_run import store_simulate

        try:
            scenario = scenario_load(options["scenario"])
        except ScenarioError as exc:
            raise CommandError(str(exc)) from None
        if options["days"] is not None:
            if options["days"] < 1:
                raise CommandError("--days must be at least 1.")
            scenario = scenario_with_days(scenario, options["days"])

        def progress(done: float, run: Any) -> None:
            filled = int(30 * done)
            local = run.now.astimezone(run.store.tz)
            print(
                f"\r[{'#' * filled}{'.' * (30 - filled)}] {local:%a %H:%M} "
                f"day {run.day + 1}/{len(run.days)}, {run.shoppers} shoppers",
                end="",
                file=sys.stderr,
                flush=True,
            )

        began = time.monotonic()
        try:
            result = store_simulate(
                scenario=scenario,
                seed=options["seed"],
                keep=options["keep"],
                progress=None if options["no_progress"] else progress,
            )
        except SimulationRefused as exc:
            raise CommandError(str(exc)) from None
        wall = time.monotonic() - began
        if not options["no_progress"]:
            print(file=sys.stderr)
        out = Path(options["out"]) if options["out"] else None
        if out is None:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            out = Path(settings.BASE_DIR) / "var" / "reports" / stamp
        page = report_write(result=result, folder=out, wall_seconds=wall)
        total = result.figures["total"]
        self.stdout.write(
            f"{len(result.days)} day(s) of {result.store_code}, seed {result.seed}: "
            f"revenue {total['sales']['revenue']['total']}, orders "
            f"{total['sales']['orders']}, wall time {wall:.0f} s"
            + (" (kept)" if options["keep"] else " (rolled back)")
        )
        self.stdout.write(f"report: {page}")
        if options["keep"]:
            # The kept days are on the admin's dashboard, one day at a time.
            for day in result.days:
                self.stdout.write(
                    f"dashboard: /admin/?store={result.store_code}&day={day:%Y-%m-%d}"
                )
