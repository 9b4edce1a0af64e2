"""Repricing a 6,000-product store, and ``price()`` calls per second.

A store of 6,000 products in 20 categories (a tenth daily-fresh, with stock)
gets a full rule book: a factor for every weekday and hour, rain, heat and cold
factors, category rules, product rules and an exempt category. The moment
priced is a rainy Saturday at 18:20 in Shanghai, so weekday, hour, weather and
daily-fresh markdowns all apply. Measured, each the median of 3:

* the first run (every price changes, markdowns start),
* a rerun at the same moment (nothing changes: the idempotent path),
* the next hour's run (prices take their next step),
* with the number of queries of each, and of a 1,500-product store's first run
  (the count grows with the number of write batches of
  ``HEMA_REPRICING_BATCH_SIZE`` products, not with each product);
* ``compute_price`` (the pure engine) and ``price()`` (one product, from the
  database) calls per second.

Target: a 6,000-product store reprices in under 2 seconds.

Registered as ``pricing`` for ``python -m tests.benchmarks.run``; also runnable
alone: ``python -m tests.benchmarks.bench_pricing`` (``DATABASE_URL`` names the
PostgreSQL server; the figures go to ``results/pricing.json``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.benchmarks.registry import BenchContext, BenchResult, Row, register

PRODUCTS = 6_000
SMALL_PRODUCTS = 1_500
CATEGORIES = 20
REPEATS = 3
PRICE_CALLS = 300
ENGINE_PASSES = 5
TARGET_SECONDS = 2.0
STORE_CODE = "BENCH-PRICE"
SMALL_STORE_CODE = "BENCH-PRICE-S"
# Saturday 7 June 2025, 10:20 UTC: 18:20 in Shanghai, inside the markdown window.
AT = dt.datetime(2025, 6, 7, 10, 20, tzinfo=dt.UTC)
RESULTS = Path(__file__).resolve().parent / "results" / "pricing.json"


def _build_store(code: str, count: int):
    """A fresh bench store of ``count`` products with its rule book."""
    from inventory.models import Category, Product, Store, StoreProduct
    from pricing.models import (
        HourFactor,
        PriceExemption,
        PriceRule,
        WeatherFactor,
        WeekdayFactor,
    )

    old = Store.objects.filter(code=code).first()
    if old is not None:
        old.delete()  # cascades to its products, rules, history and runs
    Product.objects.filter(sku__startswith=f"{code}-").delete()

    categories = [
        Category.objects.get_or_create(
            slug=f"bench-{index:02d}", defaults={"name": f"Bench {index:02d}"}
        )[0]
        for index in range(CATEGORIES)
    ]
    store = Store.objects.create(
        code=code,
        name=f"Benchmark store {code}",
        latitude=Decimal("31.230400"),
        longitude=Decimal("121.473700"),
        time_zone="Asia/Shanghai",
    )
    products = Product.objects.bulk_create(
        [
            Product(
                sku=f"{code}-{index:05d}",
                name=f"Bench product {index}",
                category=categories[index % CATEGORIES],
                is_daily_fresh=index % 10 == 0,
            )
            for index in range(count)
        ],
        batch_size=2_000,
    )
    store_products = []
    for index, product in enumerate(products):
        list_price = Decimal("3.90") + Decimal(index % 400) / 4
        store_products.append(
            StoreProduct(
                store=store,
                product=product,
                list_price=list_price,
                unit_cost=(list_price * Decimal("0.55")).quantize(Decimal("0.01")),
                shelf_price=list_price,
                on_hand=Decimal(20 if product.is_daily_fresh else 50),
            )
        )
    StoreProduct.objects.bulk_create(store_products, batch_size=2_000)

    store_rule = PriceRule.objects.create(store=store, name="store")
    WeekdayFactor.objects.bulk_create(
        WeekdayFactor(
            rule=store_rule, weekday=d, factor=Decimal("0.96") + Decimal(d) / 50
        )
        for d in range(7)
    )
    HourFactor.objects.bulk_create(
        HourFactor(
            rule=store_rule, hour=h, factor=Decimal("0.94") + Decimal(h % 6) / 50
        )
        for h in range(24)
    )
    WeatherFactor.objects.bulk_create(
        [
            WeatherFactor(rule=store_rule, condition="rain", factor=Decimal("1.05")),
            WeatherFactor(
                rule=store_rule,
                condition="hot",
                threshold=Decimal("30"),
                factor=Decimal("1.08"),
            ),
            WeatherFactor(
                rule=store_rule,
                condition="cold",
                threshold=Decimal("5"),
                factor=Decimal("0.95"),
            ),
        ]
    )
    for category in categories[::2]:
        rule = PriceRule.objects.create(store=store, category=category)
        WeekdayFactor.objects.create(rule=rule, weekday=5, factor=Decimal("0.97"))
        HourFactor.objects.create(rule=rule, hour=18, factor=Decimal("1.02"))
        HourFactor.objects.create(rule=rule, hour=19, factor=Decimal("0.99"))
    for product in products[::100]:
        rule = PriceRule.objects.create(store=store, product=product)
        WeatherFactor.objects.create(rule=rule, condition="rain", factor=Decimal("1"))
    PriceExemption.objects.create(store=store, category=categories[1], note="staples")
    return store


def _reset(store) -> None:
    """Back to list prices with no history, for another first run."""
    from inventory.models import StoreProduct
    from inventory.services import shelf_prices_set
    from pricing.models import MarkdownStep, PriceChange, RepricingRun

    PriceChange.objects.filter(store=store).delete()
    MarkdownStep.objects.filter(store=store).delete()
    RepricingRun.objects.filter(store=store).delete()
    shelf_prices_set(
        store=store,
        prices=dict(
            StoreProduct.objects.filter(store=store).values_list("pk", "list_price")
        ),
    )


def _timed_run(store, at: dt.datetime, provider) -> dict[str, Any]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from pricing.services import store_reprice

    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        run = store_reprice(store=store, now=at, provider=provider)
        seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 3),
        "queries": len(queries.captured_queries),
        "products": run.products_priced,
        "changed": run.prices_changed,
        "markdown_steps": run.markdowns_stepped,
        "weather_ms": run.weather_ms,
        "compute_ms": run.compute_ms,
        "write_ms": run.write_ms,
    }


def _median(samples: list[dict[str, Any]]) -> dict[str, Any]:
    ordered = sorted(samples, key=lambda s: s["seconds"])
    return {**ordered[len(ordered) // 2], "samples": [s["seconds"] for s in samples]}


def _engine_rate(store, provider) -> float:
    """Pure ``compute_price`` calls per second over the store's real inputs."""
    from inventory.models import StoreProduct
    from inventory.weather import store_weather_for_hour
    from pricing.engine import compute_price
    from pricing.selectors import local_weekday_hour, rulebook_load

    book = rulebook_load(store=store)
    weekday, hour = local_weekday_hour(store, AT)
    weather = store_weather_for_hour(store=store, hour=AT, now=AT)
    inputs = [
        (
            list_price,
            unit_cost,
            book.for_product(
                product_id=product_id,
                category_id=category_id,
                weekday=weekday,
                hour=hour,
            ),
            shelf_price,
        )
        for list_price, unit_cost, product_id, category_id, shelf_price in (
            StoreProduct.objects.filter(store=store).values_list(
                "list_price",
                "unit_cost",
                "product_id",
                "product__category_id",
                "shelf_price",
            )
        )
    ]
    started = time.perf_counter()
    for _ in range(ENGINE_PASSES):
        for list_price, unit_cost, rules, previous in inputs:
            compute_price(list_price, unit_cost, rules, weather, None, previous)
    return len(inputs) * ENGINE_PASSES / (time.perf_counter() - started)


def _price_rate(store) -> tuple[float, int]:
    """``price()`` (one product, from the database) calls per second, and the
    queries of one call."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from inventory.models import StoreProduct
    from pricing.selectors import price

    ids = list(StoreProduct.objects.filter(store=store).values_list("pk", flat=True))
    picks = random.Random(7).sample(ids, PRICE_CALLS)
    store_products = StoreProduct.objects.in_bulk(picks)
    with CaptureQueriesContext(connection) as queries:
        price(store, store_products[picks[0]], AT)
    started = time.perf_counter()
    for pk in picks:
        price(store, store_products[pk], AT)
    return PRICE_CALLS / (time.perf_counter() - started), len(queries.captured_queries)


def measure() -> tuple[list[dict[str, str]], dict[str, Any]]:
    """Build the stores, time the runs; Django must be set up."""
    from django.conf import settings
    from django.db import connection

    from inventory.weather import FixedWeatherProvider

    rain = FixedWeatherProvider(
        condition="rain", temperature=Decimal("19.5"), precipitation=Decimal("2.4")
    )
    store = _build_store(STORE_CODE, PRODUCTS)
    first, rerun, next_hour = [], [], []
    for _ in range(REPEATS):
        _reset(store)
        first.append(_timed_run(store, AT, rain))
        rerun.append(_timed_run(store, AT, rain))
        next_hour.append(_timed_run(store, AT + dt.timedelta(hours=1), rain))
    small = _build_store(SMALL_STORE_CODE, SMALL_PRODUCTS)
    small_first = _timed_run(small, AT, rain)
    engine_rate = _engine_rate(store, rain)
    price_rate, price_queries = _price_rate(store)

    first_m, rerun_m, next_m = _median(first), _median(rerun), _median(next_hour)
    data = {
        "database": connection.vendor,
        "products": PRODUCTS,
        "target_seconds": TARGET_SECONDS,
        "reprice_first_run": first_m,
        "reprice_rerun": rerun_m,
        "reprice_next_hour": next_m,
        "reprice_first_run_1500_products": small_first,
        "batch_size": settings.HEMA_REPRICING_BATCH_SIZE,
        "compute_price_per_second": round(engine_rate),
        "price_calls_per_second": round(price_rate),
        "price_call_queries": price_queries,
    }
    rows = [
        {
            "measure": f"reprice {PRODUCTS:,} products, first run",
            "value": f"{first_m['seconds']:.2f}",
            "unit": "s",
            "note": f"{first_m['queries']} queries, {first_m['changed']} changed, "
            f"{first_m['markdown_steps']} markdowns; target < {TARGET_SECONDS:g} s",
        },
        {
            "measure": f"reprice {PRODUCTS:,} products, rerun",
            "value": f"{rerun_m['seconds']:.2f}",
            "unit": "s",
            "note": f"{rerun_m['queries']} queries, {rerun_m['changed']} changed",
        },
        {
            "measure": f"reprice {PRODUCTS:,} products, next hour",
            "value": f"{next_m['seconds']:.2f}",
            "unit": "s",
            "note": f"{next_m['queries']} queries, {next_m['changed']} changed",
        },
        {
            "measure": f"reprice {SMALL_PRODUCTS:,} products, first run",
            "value": f"{small_first['seconds']:.2f}",
            "unit": "s",
            "note": f"{small_first['queries']} queries "
            f"(batches of {settings.HEMA_REPRICING_BATCH_SIZE})",
        },
        {
            "measure": "compute_price() (pure engine)",
            "value": f"{engine_rate:,.0f}",
            "unit": "calls/s",
        },
        {
            "measure": "price() (one product from the database)",
            "value": f"{price_rate:,.0f}",
            "unit": "calls/s",
            "note": f"{price_queries} queries per call",
        },
    ]
    return rows, data


def _setup_django(database_url: str) -> None:
    import django
    from django.conf import settings

    if not settings.configured:
        os.environ["DATABASE_URL"] = database_url
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
        os.environ.setdefault("DEBUG", "false")
    django.setup()


def run(database_url: str) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """Migrate the database ``database_url`` names (if Django is not set up
    yet), create the bench stores in it and measure. Returns the table rows
    and the JSON figures."""
    _setup_django(database_url)
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    return measure()


@register("pricing")
def bench_pricing(context: BenchContext) -> BenchResult:
    rows, data = measure()
    return BenchResult(rows=[Row(**row) for row in rows], data=data)


def main() -> int:
    """Alone: the ``<name>_bench`` database beside ``DATABASE_URL``'s, as
    ``make bench`` uses, and ``results/pricing.json``."""
    from tests.benchmarks import run as runner

    source = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/hema")
    bench_name, bench_url = runner.bench_database_url(source)
    runner.configure_environment(bench_url)
    conninfo = runner.prepare_database(bench_name)
    started = time.perf_counter()
    rows, data = measure()
    document = {
        "benchmark": "pricing",
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - started, 1),
        "machine": runner.machine_info(conninfo),
        **data,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(document, indent=2, default=str) + "\n")
    for row in rows:
        note = row.get("note", "")
        print(f"{row['measure']:<45} {row['value']:>10} {row['unit']:<8} {note}")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
