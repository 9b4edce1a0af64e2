"""``python manage.py backtest --store SH01 --weeks 4``: the forecast's accuracy."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from inventory.forecast.backtest import COLUMNS, backtest_run
from inventory.models import Store


class Command(BaseCommand):
    help = (
        "Hold out the store's last weeks (rolling weekly origins, 7 days ahead, "
        "forecast weather) and report WAPE and bias per category and overall for "
        "the chosen mix, plain Prophet and seasonal naive; recorded as a "
        "backtest run."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--store", required=True)
        parser.add_argument("--weeks", type=int, default=4)
        parser.add_argument(
            "--per-category",
            type=int,
            default=None,
            help="only the first N products (by SKU) of each category, for speed",
        )
        parser.add_argument(
            "--seed", type=int, default=1, help="weather forecast noise"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        store = Store.objects.filter(code=options["store"]).first()
        if store is None:
            raise CommandError(f"--store: no store with code {options['store']!r}")
        if not 1 <= options["weeks"] <= 52:
            raise CommandError("--weeks must be between 1 and 52")
        if options["per_category"] is not None and options["per_category"] < 1:
            raise CommandError("--per-category must be at least 1")
        run = backtest_run(
            store=store,
            weeks=options["weeks"],
            per_category=options["per_category"],
            seed=options["seed"],
        )
        table = run.detail["table"]
        if not table:
            raise CommandError(f"{store.code}: no sales history to backtest")
        header = f"{'category':<14}{'actual':>11}" + "".join(
            f"{c + ' WAPE':>22}{'bias':>8}" for c in COLUMNS
        )
        self.stdout.write(header)
        for key, row in table.items():
            cells = "".join(
                f"{row.get(c + '_wape', float('nan')):>22.3f}"
                f"{row.get(c + '_bias', float('nan')):>+8.3f}"
                for c in COLUMNS
            )
            self.stdout.write(f"{key:<14}{row['actual']:>11.1f}{cells}")
        overall = table.get("overall", {})
        if overall.get("seasonal_naive_wape") and overall.get("prophet_plain_wape"):
            mix = overall["mix_wape"]
            naive = mix / overall["seasonal_naive_wape"] - 1
            plain = mix / overall["prophet_plain_wape"] - 1
            self.stdout.write(
                f"mix vs seasonal naive: {naive:+.1%}; vs plain Prophet: {plain:+.1%}"
            )
        self.stdout.write(
            f"{run.series} products, methods {run.detail['methods']}, "
            f"{run.failures} failures, {run.seconds:.0f} s (run {run.pk})"
        )
