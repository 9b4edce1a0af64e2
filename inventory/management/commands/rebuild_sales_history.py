"""``python manage.py rebuild_sales_history [--store SH01] [--since DATE]``.

Recomputes the daily sales history from the stock ledger: every store (or the
one named), from its first ledger row or from the trading day ``--since``.
Ledger-sourced days are replaced; imported and demo days are kept.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from inventory.forecast.history import sales_history_rebuild
from inventory.management.dates import day_option
from inventory.models import Store


class Command(BaseCommand):
    help = "Recompute the daily sales history from the stock ledger."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--store", help="A store code (default: every store).")
        parser.add_argument(
            "--since",
            type=day_option("--since"),
            help="First trading day to recompute (YYYY-MM-DD).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        since = options["since"]
        stores = Store.objects.order_by("code")
        if options["store"]:
            stores = stores.filter(code=options["store"])
            if not stores.exists():
                raise CommandError(f"--store: no store {options['store']!r}.")
        for store in stores:
            result = sales_history_rebuild(store=store, since=since)
            self.stdout.write(
                f"{store.code}: {result.movements} ledger rows replayed, "
                f"{result.rows_written} days written "
                f"(up to ledger row {result.last_movement_id})."
            )
