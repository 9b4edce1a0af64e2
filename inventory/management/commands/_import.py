"""What ``import_sales`` and ``import_weather`` share: arguments and reporting."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from inventory.forecast.imports import ImportRejected, ImportResult
from inventory.models import Store


class ImportCommand(BaseCommand):
    what = ""
    columns = ""

    def importer(self) -> Callable[..., ImportResult]:
        raise NotImplementedError

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--store", required=True, help="The store's code.")
        parser.add_argument("file", help=f"The CSV file ({self.columns}).")
        parser.add_argument(
            "--dry-run", action="store_true", help="Check the file; write nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        store = Store.objects.filter(code=options["store"]).first()
        if store is None:
            raise CommandError(f"--store: no store {options['store']!r}.")
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"{path}: no such file.")
        started = time.perf_counter()
        try:
            with path.open(newline="", encoding="utf-8-sig") as stream:
                result = self.importer()(
                    store=store, stream=stream, dry_run=options["dry_run"]
                )
        except UnicodeDecodeError as exc:
            raise CommandError(f"{path}: not UTF-8 text ({exc}).") from None
        except ImportRejected as exc:
            for line, message in exc.errors:
                self.stderr.write(f"{path}:{line}: {message}")
            raise CommandError(
                f"{path}: {len(exc.errors)} problem(s); nothing was imported."
            ) from None
        seconds = time.perf_counter() - started
        span = (
            f" from {result.first_day} to {result.last_day}" if result.first_day else ""
        )
        if result.dry_run:
            self.stdout.write(
                f"{path}: {result.rows} {self.what} rows are good{span} "
                f"(dry run: nothing written; {seconds:.1f} s)."
            )
        else:
            self.stdout.write(
                f"{store.code}: {result.rows} {self.what} rows imported{span}, "
                f"{result.written} rows written in {seconds:.1f} s."
            )
