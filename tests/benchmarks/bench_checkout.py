"""Paid app checkouts per second and the scan read's latency, through the API.

* Checkouts: 4 threads, each a member with its own token, client and database
  connection, POST ``/api/v1/carts/<uuid>/checkout/`` (pickup, paid from the
  wallet) on carts prepared beforehand, once on one hot product (1 unit per
  order: every order waits for the same row lock) and once on a spread of 200
  products (3 random lines per order, fixed seed). A sample is the time from the
  start barrier until the last thread is done; every answer must be a paid order.
* Scan read: ``GET /api/v1/stores/<code>/scan/<sku>`` one request after another,
  against a trivial Django view returning ``{"ok": true}`` without the database,
  measured in the same run through the same middleware, to give a ratio that
  does not depend on the machine as much as the milliseconds do.

Each measure is repeated, alternating which goes first; the figures are medians.
The benchmark runs on its own database, ``<name>_bench_checkout`` beside the one
``DATABASE_URL`` names (created if missing, migrated, flushed on every run).

Alone: ``python -m tests.benchmarks.bench_checkout`` writes
``tests/benchmarks/results/checkout.json`` and prints a short table.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import random
import secrets
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from tests.benchmarks.registry import BenchContext, BenchResult, Row, register

if TYPE_CHECKING:
    from django.http import HttpRequest, JsonResponse

    from inventory.models import Store, StoreProduct

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/hema"
RESULTS_PATH = Path(__file__).resolve().parent / "results" / "checkout.json"

THREADS = 4
CHECKOUTS = 80  # per sample, split evenly over the threads
REPEATS = 3
WARM_UP_CHECKOUTS = 12
SPREAD_PRODUCTS = 200
LINES_PER_SPREAD_ORDER = 3
SEED = 20261124
SCAN_REQUESTS = 500
WARM_UP_REQUESTS = 50
WAIT_SECONDS = 120
STORE_CODE = "BENCH1"
PRICE = Decimal("12.80")
CHECKOUT_BODY = {"fulfilment_mode": "pickup", "payment_method": "wallet"}


# --- The benchmark database -----------------------------------------------------


def bench_database(database_url: str) -> tuple[str, str]:
    """``<name>_bench_checkout`` beside the database ``database_url`` names.

    A name that already ends in ``_bench`` (the runner's shared benchmark
    database) gives the same name as its source would.
    """
    parts = urlsplit(database_url or DEFAULT_DATABASE_URL)
    if parts.scheme not in {"postgres", "postgresql", "pgsql"}:
        raise SystemExit(
            "the checkout benchmark needs PostgreSQL: set DATABASE_URL=postgres://..."
            f" (got {parts.scheme or 'nothing'!r})"
        )
    name = parts.path.lstrip("/") or "hema"
    name = name.removesuffix("_bench_checkout").removesuffix("_bench")
    bench_name = f"{name}_bench_checkout"
    return bench_name, urlunsplit(parts._replace(path=f"/{bench_name}"))


def _django_setup(bench_url: str) -> None:
    """Django with the test settings and DEBUG off (no query log), unless the
    caller (the benchmark runner, a test) has set it up already."""
    from django.apps import apps

    if apps.ready:
        return
    os.environ["DATABASE_URL"] = bench_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    import django

    django.setup()


def _create_database(settings_dict: dict[str, Any]) -> None:
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    params = {
        "dbname": "postgres",
        "user": settings_dict.get("USER"),
        "password": settings_dict.get("PASSWORD"),
        "host": settings_dict.get("HOST"),
        "port": str(settings_dict["PORT"]) if settings_dict.get("PORT") else None,
    }
    conninfo = make_conninfo(**{k: v for k, v in params.items() if v})
    with psycopg.connect(conninfo, autocommit=True) as conn:
        name = settings_dict["NAME"]
        if not conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
        ).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


@contextlib.contextmanager
def _on_bench_database(bench_url: str) -> Iterator[str]:
    """Point the default database at the benchmark's, create, migrate and flush
    it; point it back afterwards (every thread's connection shares this dict)."""
    import environ
    from django.core.management import call_command
    from django.db import connections

    _django_setup(bench_url)
    target = environ.Env.db_url_config(bench_url)
    if "postgresql" not in target["ENGINE"]:
        raise SystemExit("the checkout benchmark needs PostgreSQL")
    keys = ("NAME", "USER", "PASSWORD", "HOST", "PORT")
    settings_dict = connections["default"].settings_dict
    saved = {key: settings_dict.get(key) for key in keys}
    connections.close_all()
    settings_dict.update({key: target.get(key, "") for key in keys})
    try:
        _create_database(settings_dict)
        call_command("migrate", interactive=False, verbosity=0)
        call_command("flush", interactive=False, verbosity=0)
        yield settings_dict["NAME"]
    finally:
        connections.close_all()
        settings_dict.update(saved)


# --- Data -----------------------------------------------------------------------


def _member_token(n: int) -> tuple[Any, str]:
    """A member with a token and a wallet deep enough for every sample."""
    from orders.members import member_sign_up
    from orders.models import WalletEntryKind
    from orders.wallet import wallet_credit

    member, token = member_sign_up(
        password="fresh-fish-2026", email=f"bench{n}@hema.test"
    )
    wallet_credit(
        member=member,
        amount=Decimal("9000000.00"),
        kind=WalletEntryKind.TOP_UP,
        reference=f"bench-top-up-{n}",
    )
    return member, token


def _stocked(store: Store, quantity: int) -> StoreProduct:
    from inventory.models import StoreProduct
    from inventory.services import stock_receive
    from tests.factories import StoreProductFactory

    sp = StoreProductFactory(store=store, list_price=PRICE)
    stock_receive(store_product=sp, quantity=quantity, reference="bench")
    return StoreProduct.objects.select_related("product").get(pk=sp.pk)


def _carts(
    member: Any, store: Store, orders: Sequence[Sequence[StoreProduct]]
) -> list[str]:
    """Open app carts holding the given lines (1 unit each), made in bulk: the
    cart endpoints are not what is measured."""
    from django.utils import timezone

    from orders.models import Cart, CartLine

    expires = timezone.now() + dt.timedelta(hours=24)
    carts = Cart.objects.bulk_create(
        [
            Cart(member=member, store=store, channel="app", expires_at=expires)
            for _ in orders
        ]
    )
    CartLine.objects.bulk_create(
        [
            CartLine(
                cart=cart,
                store_product=sp,
                quantity=Decimal(1),
                held_price=sp.shelf_price,
            )
            for cart, lines in zip(carts, orders, strict=True)
            for sp in lines
        ]
    )
    return [str(cart.uuid) for cart in carts]


# --- Measures -----------------------------------------------------------------------


def _timed(workers: Sequence[Callable[[threading.Barrier], None]]) -> float:
    """Run the workers in threads; seconds from their common start to the last end."""
    barrier = threading.Barrier(len(workers) + 1, timeout=WAIT_SECONDS)
    errors: list[BaseException] = []

    def run(worker: Callable[[threading.Barrier], None]) -> None:
        try:
            worker(barrier)
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join(WAIT_SECONDS)
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    if any(thread.is_alive() for thread in threads):
        raise RuntimeError("a checkout thread hung")
    return elapsed


def _checkout_worker(
    token: str, cart_uuids: Sequence[str]
) -> Callable[[threading.Barrier], None]:
    def work(barrier: threading.Barrier) -> None:
        from django.db import connection
        from rest_framework.test import APIClient

        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
            connection.ensure_connection()
            barrier.wait()
            for cart_uuid in cart_uuids:
                response = client.post(
                    f"/api/v1/carts/{cart_uuid}/checkout/",
                    CHECKOUT_BODY,
                    format="json",
                    secure=True,
                    HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
                )
                if response.status_code != 201:
                    raise RuntimeError(
                        f"checkout answered {response.status_code}: "
                        f"{response.content!r}"
                    )
                if response.json()["order"]["state"] != "paid":
                    raise RuntimeError(f"order not paid: {response.content!r}")
        finally:
            connection.close()

    return work


def _checkouts_per_second(
    members: Sequence[tuple[Any, str]],
    store: Store,
    orders: Sequence[Sequence[StoreProduct]],
) -> float:
    """Prepare one cart per order, spread over the members; time the checkouts."""
    per_thread = len(orders) // len(members)
    workers = []
    for index, (member, token) in enumerate(members):
        mine = orders[index * per_thread : (index + 1) * per_thread]
        workers.append(_checkout_worker(token, _carts(member, store, mine)))
    from django.db import connection

    connection.close()
    return per_thread * len(members) / _timed(workers)


def _queries_per_checkout(
    member: Any, token: str, store: Store, lines: Sequence[StoreProduct]
) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    [cart_uuid] = _carts(member, store, [lines])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    with CaptureQueriesContext(connection) as captured:
        response = client.post(
            f"/api/v1/carts/{cart_uuid}/checkout/",
            CHECKOUT_BODY,
            format="json",
            secure=True,
            HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
        )
    if response.status_code != 201:
        raise RuntimeError(f"checkout answered {response.status_code}")
    return len(captured.captured_queries)


def trivial_view(request: HttpRequest) -> JsonResponse:
    """The baseline: the same middleware and URL resolution, no database, no DRF."""
    from django.http import JsonResponse

    return JsonResponse({"ok": True})


class _BenchUrls:
    """The project's URLs plus the trivial view (an object Django accepts as a
    URLconf, so the module need not be importable twice)."""

    def __init__(self) -> None:
        from django.urls import include, path

        self.urlpatterns = [
            path("bench/trivial", trivial_view),
            path("", include("hema.urls")),
        ]


def _latencies_ms(client: Any, paths: Sequence[str]) -> list[float]:
    samples = []
    for path in paths:
        started = time.perf_counter()
        response = client.get(path, secure=True)
        samples.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path} answered {response.status_code}")
    return samples


def _p99(samples: Sequence[float]) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[98]


# --- The run ------------------------------------------------------------------------


def _measure() -> tuple[list[dict], dict]:
    from django.db import connection, transaction
    from django.test.utils import override_settings
    from rest_framework.test import APIClient

    from inventory.models import StoreProduct
    from inventory.selectors import stock_totals_from_ledger
    from tests.factories import StoreFactory

    started = time.perf_counter()
    with transaction.atomic():
        store = StoreFactory(code=STORE_CODE, name="Benchmark store")
        members = [_member_token(n) for n in range(THREADS)]
        hot = _stocked(store, 1_000_000)
        spread = [_stocked(store, 100_000) for _ in range(SPREAD_PRODUCTS)]
    rng = random.Random(SEED)

    def hot_orders(count: int) -> list[list[StoreProduct]]:
        return [[hot] for _ in range(count)]

    def spread_orders(count: int) -> list[list[StoreProduct]]:
        return [rng.sample(spread, LINES_PER_SPREAD_ORDER) for _ in range(count)]

    _checkouts_per_second(members, store, hot_orders(WARM_UP_CHECKOUTS))
    _checkouts_per_second(members, store, spread_orders(WARM_UP_CHECKOUTS))
    setup_seconds = time.perf_counter() - started

    samples: dict[str, list[float]] = {"hot": [], "spread": []}
    for repeat in range(REPEATS):
        order = ("hot", "spread") if repeat % 2 == 0 else ("spread", "hot")
        for kind in order:
            orders = (
                hot_orders(CHECKOUTS) if kind == "hot" else spread_orders(CHECKOUTS)
            )
            samples[kind].append(_checkouts_per_second(members, store, orders))

    member, token = members[0]
    queries = {
        "hot": _queries_per_checkout(member, token, store, [hot]),
        "spread": _queries_per_checkout(
            member, token, store, rng.sample(spread, LINES_PER_SPREAD_ORDER)
        ),
    }

    # Checks: every order reserved its units once, and the ledger agrees.
    hot_orders_made = WARM_UP_CHECKOUTS + REPEATS * CHECKOUTS + 1
    hot.refresh_from_db()
    if hot.reserved != hot_orders_made or stock_totals_from_ledger(hot) != (
        hot.on_hand,
        hot.reserved,
    ):
        raise RuntimeError(
            f"hot product reserved {hot.reserved}, not {hot_orders_made}"
        )
    spread_lines = sum(
        StoreProduct.objects.filter(pk__in=[sp.pk for sp in spread]).values_list(
            "reserved", flat=True
        )
    )
    spread_made = (WARM_UP_CHECKOUTS + REPEATS * CHECKOUTS + 1) * LINES_PER_SPREAD_ORDER
    if spread_lines != spread_made:
        raise RuntimeError(f"spread reserved {spread_lines}, not {spread_made}")

    skus = [sp.product.sku for sp in spread]
    scan_paths = [
        f"/api/v1/stores/{STORE_CODE}/scan/{skus[i % len(skus)]}"
        for i in range(SCAN_REQUESTS)
    ]
    trivial_paths = ["/bench/trivial"] * SCAN_REQUESTS
    latency: dict[str, dict[str, list[float]]] = {
        "scan": {"median": [], "p99": []},
        "trivial": {"median": [], "p99": []},
    }
    with override_settings(ROOT_URLCONF=_BenchUrls()):
        client = APIClient()
        _latencies_ms(client, scan_paths[:WARM_UP_REQUESTS])
        _latencies_ms(client, trivial_paths[:WARM_UP_REQUESTS])
        for repeat in range(REPEATS):
            order = ("scan", "trivial") if repeat % 2 == 0 else ("trivial", "scan")
            for kind in order:
                paths = scan_paths if kind == "scan" else trivial_paths
                measured = _latencies_ms(client, paths)
                latency[kind]["median"].append(statistics.median(measured))
                latency[kind]["p99"].append(_p99(measured))
    connection.close()

    hot_rate = statistics.median(samples["hot"])
    spread_rate = statistics.median(samples["spread"])
    scan_median = statistics.median(latency["scan"]["median"])
    scan_p99 = statistics.median(latency["scan"]["p99"])
    trivial_median = statistics.median(latency["trivial"]["median"])
    trivial_p99 = statistics.median(latency["trivial"]["p99"])
    shape = f"{THREADS} threads, {CHECKOUTS} orders, median of {REPEATS}"
    latency_shape = f"{SCAN_REQUESTS} sequential GETs, median of {REPEATS}"
    rows = [
        {
            "measure": "app checkouts, one hot product (1 line)",
            "value": f"{hot_rate:,.1f}",
            "unit": "orders/s",
            "note": shape,
        },
        {
            "measure": f"app checkouts, {SPREAD_PRODUCTS} products (3 lines)",
            "value": f"{spread_rate:,.1f}",
            "unit": "orders/s",
            "note": shape,
        },
        {
            "measure": "scan read latency median",
            "value": f"{scan_median:.2f}",
            "unit": "ms",
            "note": latency_shape,
        },
        {
            "measure": "scan read latency p99",
            "value": f"{scan_p99:.2f}",
            "unit": "ms",
            "note": latency_shape,
        },
        {
            "measure": "trivial JSON view median / p99",
            "value": f"{trivial_median:.2f} / {trivial_p99:.2f}",
            "unit": "ms",
            "note": "same middleware, no database",
        },
        {
            "measure": "scan / trivial (median, p99)",
            "value": f"{scan_median / trivial_median:.1f} / "
            f"{scan_p99 / trivial_p99:.1f}",
            "unit": "x",
            "note": "",
        },
    ]
    data = {
        "checkout": {
            "unit": "paid app checkouts per second (wallet, pickup)",
            "threads": THREADS,
            "orders_per_sample": CHECKOUTS,
            "repeats": REPEATS,
            "spread_products": SPREAD_PRODUCTS,
            "lines_per_spread_order": LINES_PER_SPREAD_ORDER,
            "seed": SEED,
            "hot_samples": [round(x, 2) for x in samples["hot"]],
            "spread_samples": [round(x, 2) for x in samples["spread"]],
            "hot_median": round(hot_rate, 2),
            "spread_median": round(spread_rate, 2),
            "queries_per_checkout": queries,
        },
        "scan": {
            "unit": "milliseconds per request, one client, sequential",
            "requests_per_sample": SCAN_REQUESTS,
            "repeats": REPEATS,
            "scan_median_samples": [round(x, 3) for x in latency["scan"]["median"]],
            "scan_p99_samples": [round(x, 3) for x in latency["scan"]["p99"]],
            "trivial_median_samples": [
                round(x, 3) for x in latency["trivial"]["median"]
            ],
            "trivial_p99_samples": [round(x, 3) for x in latency["trivial"]["p99"]],
            "scan_median_ms": round(scan_median, 3),
            "scan_p99_ms": round(scan_p99, 3),
            "trivial_median_ms": round(trivial_median, 3),
            "trivial_p99_ms": round(trivial_p99, 3),
            "ratio_median": round(scan_median / trivial_median, 2),
            "ratio_p99": round(scan_p99 / trivial_p99, 2),
        },
        "setup_seconds": round(setup_seconds, 1),
    }
    return rows, data


def run(database_url: str) -> tuple[list[dict], dict]:
    """Measure on ``<name>_bench_checkout``; the summary rows and the figures."""
    _, bench_url = bench_database(database_url)
    with _on_bench_database(bench_url) as name:
        rows, data = _measure()
    return rows, {"database": name, **data}


def bench_checkout(context: BenchContext) -> BenchResult:
    """The benchmark runner's entry: ``context`` names its shared database, but
    this benchmark keeps to its own (derived from the same ``DATABASE_URL``)."""
    rows, data = run(os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL))
    return BenchResult(rows=[Row(**row) for row in rows], data=data)


if __name__ != "__main__":
    register("checkout")(bench_checkout)


def _machine() -> dict:
    import django
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres = cursor.fetchone()[0]
    connection.close()
    return {
        "cpu_count": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "postgres": postgres,
    }


def main() -> int:
    started = time.perf_counter()
    rows, data = run(os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL))
    seconds = round(time.perf_counter() - started, 1)
    document = {
        "benchmark": "checkout",
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "seconds": seconds,
        "machine": _machine(),
        **data,
    }
    RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_PATH.write_text(json.dumps(document, indent=2, default=str) + "\n")
    width = max(len(row["measure"]) for row in rows)
    for row in rows:
        measure, value, unit = row["measure"], row["value"], row["unit"]
        print(f"{measure:<{width}}  {value:>14} {unit:<8} {row['note']}")
    print(f"{seconds} s; wrote {RESULTS_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
