"""``import_sales`` on two years of a large store: the target is under 2 minutes.

A CSV of N SKUs x 730 days (default 6,000 x 730 = 4,380,000 rows; set
``HEMA_BENCH_IMPORT_SKUS`` for fewer) is generated with a fixed seed, day by
day as a till exports it: slow movers with many zero days, weighed products
with three decimals, an average price on every row and a sold-out flag on
some. The store and its products are created first. Then, through the
management command as a user runs it: a dry run (every line checked, nothing
written), the first import into an empty history, and a second import of the
same file (every row replaced). ``HEMA_BENCH_IMPORT_RUNS`` repeats the first
import (the history emptied in between) and reports the median.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import random
import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from django.core.management import call_command
from django.db import connection
from django.db.models import Count, Sum

from inventory.forecast.models import DailySales
from inventory.models import Category, Product, SaleUnit, Store, StoreProduct
from tests.benchmarks.registry import BenchContext, BenchResult, Row, register

CODE = "IMP1"
DAYS = 730
TARGET_SECONDS = 120.0
SEED = 15


def _skus() -> int:
    return int(os.environ.get("HEMA_BENCH_IMPORT_SKUS", "6000"))


def _runs() -> int:
    return max(1, int(os.environ.get("HEMA_BENCH_IMPORT_RUNS", "1")))


def _build_store(count: int) -> list[tuple[str, bool, Decimal]]:
    """A fresh store selling ``count`` products; (sku, weighed, price) each."""
    old = Store.objects.filter(code=CODE).first()
    if old is not None:
        old.delete()
    Product.objects.filter(sku__startswith=f"{CODE}-").delete()
    category, _ = Category.objects.get_or_create(
        slug="bench-import", defaults={"name": "Bench import"}
    )
    store = Store.objects.create(
        code=CODE,
        name="Import benchmark store",
        latitude=Decimal("31.230400"),
        longitude=Decimal("121.473700"),
        time_zone="Asia/Shanghai",
    )
    products = Product.objects.bulk_create(
        [
            Product(
                sku=f"{CODE}-{index:05d}",
                name=f"Bench product {index}",
                category=category,
                sale_unit=SaleUnit.KILOGRAM if index % 5 == 0 else SaleUnit.PIECE,
            )
            for index in range(count)
        ],
        batch_size=2_000,
    )
    catalogue = []
    rows = []
    for index, product in enumerate(products):
        price = Decimal("3.90") + Decimal(index % 400) / 4
        rows.append(
            StoreProduct(
                store=store,
                product=product,
                list_price=price,
                unit_cost=(price * Decimal("0.55")).quantize(Decimal("0.01")),
                shelf_price=price,
            )
        )
        catalogue.append((product.sku, product.sale_unit == SaleUnit.KILOGRAM, price))
    StoreProduct.objects.bulk_create(rows, batch_size=2_000)
    return catalogue


def _write_csv(path: Path, catalogue: list[tuple[str, bool, Decimal]]) -> Decimal:
    """The file, day by day; returns the total units (to check the import)."""
    rng = random.Random(SEED)
    rates = [rng.choice((0.3, 1.5, 6.0, 25.0)) for _ in catalogue]
    first = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=DAYS)
    total = Decimal(0)
    with path.open("w", newline="") as out:
        out.write("date,sku,units,average_price,sold_out\n")
        for offset in range(DAYS):
            day = (first + dt.timedelta(days=offset)).isoformat()
            lines = []
            for (sku, weighed, price), rate in zip(catalogue, rates, strict=True):
                units = rng.expovariate(1 / rate) if rng.random() < 0.8 else 0.0
                text = f"{units:.3f}" if weighed else str(round(units))
                total += Decimal(text)
                sold_out = "1" if rng.random() < 0.03 else "0"
                lines.append(f"{day},{sku},{text},{price},{sold_out}\n")
            out.write("".join(lines))
    return total


def _import(path: Path, *extra: str) -> float:
    connection.close()
    started = time.perf_counter()
    call_command(
        "import_sales", "--store", CODE, str(path), *extra, stdout=io.StringIO()
    )
    return time.perf_counter() - started


def _history_units() -> tuple[int, Decimal]:
    totals = DailySales.objects.filter(store_product__store__code=CODE).aggregate(
        count=Count("pk"), units=Sum("quantity", default=Decimal(0))
    )
    return totals["count"], totals["units"]


@register("import")
def bench_import(context: BenchContext) -> BenchResult:
    skus, runs = _skus(), _runs()
    started = time.perf_counter()
    catalogue = _build_store(skus)
    setup_seconds = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "sales.csv"
        started = time.perf_counter()
        expected_units = _write_csv(path, catalogue)
        generate_seconds = time.perf_counter() - started
        megabytes = path.stat().st_size / 1e6
        rows = skus * DAYS

        dry_run = _import(path, "--dry-run")
        firsts = []
        for run in range(runs):
            if run:
                DailySales.objects.filter(store_product__store__code=CODE).delete()
                with connection.cursor() as cursor:
                    cursor.execute(f"VACUUM ANALYZE {DailySales._meta.db_table}")
            firsts.append(_import(path))
            count, units = _history_units()
            if (count, units) != (rows, expected_units):
                raise RuntimeError(
                    f"imported {count} rows / {units} units, "
                    f"expected {rows} / {expected_units}"
                )
        again = _import(path)
        count, units = _history_units()
        if (count, units) != (rows, expected_units):
            raise RuntimeError("a second import changed the history")
    first = statistics.median(firsts)
    ok = "meets" if first < TARGET_SECONDS else "MISSES"
    return BenchResult(
        rows=[
            Row(
                "rows in the file",
                f"{rows:,}",
                "rows",
                f"{skus:,} SKUs x {DAYS} days, {megabytes:.0f} MB",
            ),
            Row(
                "dry run (check only)",
                f"{dry_run:.1f}",
                "s",
                f"{rows / dry_run:,.0f} rows/s",
            ),
            Row(
                "first import",
                f"{first:.1f}",
                "s",
                f"{rows / first:,.0f} rows/s; {ok} the {TARGET_SECONDS:.0f} s target"
                + (f"; median of {runs}" if runs > 1 else ""),
            ),
            Row(
                "import again (replaces)",
                f"{again:.1f}",
                "s",
                f"{rows / again:,.0f} rows/s",
            ),
        ],
        data={
            "skus": skus,
            "days": DAYS,
            "rows": rows,
            "file_megabytes": round(megabytes, 1),
            "setup_seconds": round(setup_seconds, 1),
            "generate_seconds": round(generate_seconds, 1),
            "dry_run_seconds": round(dry_run, 2),
            "first_import_seconds": [round(s, 2) for s in firsts],
            "first_import_median_seconds": round(first, 2),
            "second_import_seconds": round(again, 2),
            "target_seconds": TARGET_SECONDS,
            "meets_target": first < TARGET_SECONDS,
        },
    )
