"""``python manage.py seed_demo_history``: two years of demo sales and weather."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from inventory.forecast.demo_history import demo_history_generate
from inventory.models import Store


class Command(BaseCommand):
    help = (
        "Write realistic daily sales (source=demo) and matching store weather for "
        "the demo stores' products: weekly and yearly patterns, Chinese public "
        "holidays, weather and price effects, slow movers, sold-out days. Run "
        "seed_demo first. Deterministic for a seed; a rerun replaces."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--store", help="one store code (default: every store)")
        parser.add_argument("--days", type=int, default=730)
        parser.add_argument("--seed", type=int, default=1)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["days"] < 1 or options["days"] > 3660:
            raise CommandError("--days must be between 1 and 3660")
        stores = Store.objects.order_by("code")
        if options["store"]:
            stores = stores.filter(code=options["store"])
            if not stores.exists():
                raise CommandError(f"--store: no store with code {options['store']!r}")
        if not stores.exists():
            raise CommandError("no stores: run `python manage.py seed_demo` first")
        for store in stores:
            started = time.monotonic()
            result = demo_history_generate(
                store=store, days=options["days"], seed=options["seed"]
            )
            if not result.products:
                raise CommandError(f"{store.code} has no products: run seed_demo first")
            self.stdout.write(
                f"{result.store}: {result.sales_rows} daily sales for "
                f"{result.products} products over {result.days} days "
                f"({result.zero_share:.0%} zero days, {result.sold_out_share:.1%} "
                f"sold out), {result.weather_rows} weather hours, "
                f"{time.monotonic() - started:.1f} s"
            )
