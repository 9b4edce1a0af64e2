"""``python manage.py replenishment_draft --store SH01 [--day DATE]``.

Drafts the store's orders per supplier for a delivery day (default: the
store's next local day) from the demand forecast (``inventory.replenishment``).
Running it again replaces the drafts; approved orders are left alone.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from inventory.models import Store
from inventory.replenishment import replenishment_draft


class Command(BaseCommand):
    help = "Draft replenishment orders per supplier from the demand forecast."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--store", required=True, help="The store's code.")
        parser.add_argument("--day", help="Delivery day (YYYY-MM-DD).")

    def handle(self, *args: Any, **options: Any) -> None:
        store = Store.objects.filter(code=options["store"]).first()
        if store is None:
            raise CommandError(f"--store: no store {options['store']!r}.")
        if options["day"]:
            try:
                day = dt.date.fromisoformat(options["day"])
            except ValueError:
                raise CommandError(
                    f"--day: {options['day']!r} is not a date."
                ) from None
        else:
            day = timezone.localtime(timezone.now(), store.tz).date() + dt.timedelta(1)
        orders = replenishment_draft(store=store, delivery_day=day)
        for order in orders:
            self.stdout.write(
                f"{store.code} {day} {order.supplier}: {order.lines.count()} lines "
                f"(draft {order.pk})"
            )
        if not orders:
            self.stdout.write(f"{store.code} {day}: nothing to order.")
