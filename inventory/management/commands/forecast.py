"""``python manage.py forecast --store SH01 [--refit] [--origin 2026-11-30]``

What the beat jobs do for one store, now and in this process: with
``--refit`` the weekly refit first (every series' method chosen by the rule
and fitted on its history up to the day before ``origin``), then the nightly
predict from ``origin`` (default: the store's today). For an operator who
imported a history and will not wait for Sunday's refit, and for ``make demo``.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from inventory.forecast.models import ForecastRun
from inventory.forecast.service import forecast_predict, forecast_refit
from inventory.management.dates import day_option
from inventory.models import Store


def summary(run: ForecastRun) -> str:
    methods = ", ".join(
        f"{method} {count}"
        for method, count in sorted((run.detail.get("methods") or {}).items())
    )
    return (
        f"{run.kind} {run.state}: {run.series} series, "
        f"{run.fallbacks} fallbacks, {run.failures} failures, {run.seconds} s"
        + (f" ({methods})" if methods else "")
    )


class Command(BaseCommand):
    help = (
        "Forecast one store now: optionally refit every series first, then "
        "predict the coming days (what the weekly and nightly jobs do)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--store", required=True, help="store code, e.g. SH01")
        parser.add_argument(
            "--refit", action="store_true", help="refit every series first"
        )
        parser.add_argument(
            "--origin",
            type=day_option("--origin"),
            default=None,
            help="first day forecast (YYYY-MM-DD); default: the store's today",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        store = Store.objects.filter(code=options["store"].upper()).first()
        if store is None:
            raise CommandError(f"--store: no store with code {options['store']!r}")
        if options["refit"]:
            refit = forecast_refit(store=store, origin=options["origin"])
            self.stdout.write(f"{store.code}: {summary(refit)}")
        predict = forecast_predict(store=store, origin=options["origin"])
        self.stdout.write(f"{store.code}: {summary(predict)}")
        if predict.failures:
            raise CommandError(
                f"{predict.failures} series failed; see the run in the admin."
            )
