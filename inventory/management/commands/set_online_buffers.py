"""``python manage.py set_online_buffers --store SH01 [--day 2026-11-24] [--dry-run]``

Sets each active product's online buffer from the forecast (see
``inventory.forecast.buffer``) and prints every buffer that changes, with how
it was reached; ``--dry-run`` prints the same and writes nothing.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from inventory import display
from inventory.forecast.buffer import BufferLine, BufferPlan, online_buffers_set
from inventory.management.dates import day_option
from inventory.models import Store


def describe(line: BufferLine, window_share: float) -> str:
    """``APL001  1 -> 3  (forecast 120 x in store 41% x busiest wait 3.20% =
    1.57 expected; purchase size 1.00)``"""
    quantity = display.quantity
    return (
        f"{line.sku}  {quantity(line.current, line.sale_unit)} -> "
        f"{quantity(line.buffer, line.sale_unit)}  (forecast "
        f"{quantity(line.forecast, line.sale_unit)} x in store {line.share:.0%} "
        f"x busiest wait {window_share:.2%} = {line.expected:.2f} expected; "
        f"purchase size {line.size:.2f})"
    )


class Command(BaseCommand):
    help = (
        "Set each product's online buffer from the forecast in-store demand "
        "while an app order waits to be picked; print what changes."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--store", required=True, help="store code, e.g. SH01")
        parser.add_argument(
            "--day",
            type=day_option("--day"),
            default=None,
            help="trading day (YYYY-MM-DD); default: the one in progress, or the "
            "next once today's has ended",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="print the changes, write nothing"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        code = options["store"].strip().upper()
        store = Store.objects.filter(code=code).first()
        if store is None:
            raise CommandError(f"--store: no store with the code {code!r}.")
        plan = online_buffers_set(
            store=store, day=options["day"], dry_run=options["dry_run"]
        )
        self._report(plan, dry_run=options["dry_run"])

    def _report(self, plan: BufferPlan, *, dry_run: bool) -> None:
        write = self.stdout.write
        write(
            f"{plan.store.code} {plan.day}: wait {plan.wait_minutes} min, service "
            f"level {plan.service_level:.1%}; busiest wait holds "
            f"{plan.window_share:.2%} of the day's till purchases (hour profile: "
            f"{plan.profile.source}, {plan.profile.purchases} purchases); "
            f"store in-store share {plan.store_share:.0%}"
        )
        for line in plan.changes:
            write(f"  {describe(line, plan.window_share)}")
        verb = "would change" if dry_run else "changed"
        count = len(plan.changes) if dry_run else plan.written
        write(
            f"{len(plan.lines)} products with a forecast, {count} buffers {verb}, "
            f"{len(plan.lines) - len(plan.changes)} unchanged, "
            f"{plan.without_forecast} without a forecast for {plan.day} (kept)."
            + (" Dry run: nothing written." if dry_run else "")
        )
