"""How fast the store dashboard answers with a year of history for two stores.

The history is bulk-inserted: ``ORDERS_PER_DAY`` orders a day per store for
365 days (60% at the till, 40% in the app, spread over opening hours with a
lunch and an evening peak, seeded), each app order with its fulfilment and
pick task and each order with one ledger line (a pick or a till sale). Then
today's rows (``tests.hema.dashboard_day``) go on top, ``ANALYZE`` runs, and a
signed-in manager asks for the page (``/admin/``) and its JSON ``SAMPLES``
times each. The figure is the median response time; the target is 300 ms.

``make bench BENCH=dashboard`` writes ``results/dashboard.json`` and a table.
"""

from __future__ import annotations

import datetime as dt
import random
import statistics
import time
from decimal import Decimal
from typing import Any

from tests.benchmarks.registry import BenchContext, BenchResult, Row, register

DAYS = 365
ORDERS_PER_DAY = 250
SAMPLES = 30
TARGET_MS = 300
STATIC_PLAIN = "django.contrib.staticfiles.storage.StaticFilesStorage"
HOUR_WEIGHTS = [0] * 8 + [4, 6, 7, 9, 12, 10, 6, 5, 6, 9, 12, 10, 6, 3] + [0, 0]


def _history(store, member, store_products, rng: random.Random, today) -> int:
    from delivery.models import Fulfilment, PickTask
    from inventory.models import MovementKind, StockMovement
    from orders.models import Order

    hours = [h for h, w in enumerate(HOUR_WEIGHTS) for _ in range(w)]
    count = 0
    for back in range(DAYS, 0, -1):
        day = today - dt.timedelta(days=back)
        orders, stamps = [], []
        for i in range(ORDERS_PER_DAY):
            local = dt.datetime.combine(
                day,
                dt.time(rng.choice(hours), rng.randrange(60), rng.randrange(60)),
                tzinfo=store.tz,
            )
            app = rng.random() < 0.4
            total = Decimal(rng.randrange(800, 20000)) / 100
            orders.append(
                Order(
                    number=f"{store.code}-{day:%y%m%d}-{i:04d}",
                    member=member,
                    store=store,
                    channel="app" if app else "in_store",
                    fulfilment_mode="delivery" if app else "carry_out",
                    state="delivered" if app else "completed",
                    currency="CNY",
                    subtotal=total,
                    total=total,
                    paid_at=local,
                    created_at=local,
                )
            )
            stamps.append(local)
        Order.objects.bulk_create(orders, batch_size=2000)
        fulfilments = [
            Fulfilment(
                order=o,
                reference=o.number,
                store=store,
                mode="delivery",
                state="delivered",
                deadline=o.paid_at + dt.timedelta(minutes=30),
                paid_at=o.paid_at,
                first_pick_at=o.paid_at + dt.timedelta(minutes=1),
                packed_at=o.paid_at + dt.timedelta(minutes=rng.randrange(5, 14)),
                delivered_at=o.paid_at + dt.timedelta(minutes=rng.randrange(18, 40)),
                created_at=o.paid_at,
            )
            for o in orders
            if o.channel == "app"
        ]
        Fulfilment.objects.bulk_create(fulfilments, batch_size=2000)
        PickTask.objects.bulk_create(
            [
                PickTask(
                    fulfilment=f,
                    store=store,
                    deadline=f.deadline,
                    state="bagged",
                    claimed_at=f.paid_at + dt.timedelta(minutes=1),
                    bagged_at=f.paid_at + dt.timedelta(minutes=4),
                    hung_at=f.paid_at + dt.timedelta(minutes=4),
                    expected_at=f.paid_at + dt.timedelta(minutes=5),
                    arrived_at=f.paid_at + dt.timedelta(minutes=5),
                    created_at=f.paid_at,
                )
                for f in fulfilments
            ],
            batch_size=2000,
        )
        movements = StockMovement.objects.bulk_create(
            [
                StockMovement(
                    store_product=rng.choice(store_products),
                    kind=MovementKind.PICK if o.channel == "app" else "sale_in_store",
                    on_hand_delta=Decimal(-1),
                )
                for o in orders
            ],
            batch_size=2000,
        )
        # created_at is auto_now_add: set the history's own moments.
        for movement, stamp in zip(movements, stamps, strict=True):
            movement.created_at = stamp
        StockMovement.objects.bulk_update(movements, ["created_at"], batch_size=2000)
        count += len(orders)
    return count


def _time(client, url: str) -> list[float]:
    samples = []
    for _ in range(SAMPLES):
        started = time.perf_counter()
        response = client.get(url, secure=True)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
    return samples


def measure() -> tuple[list[Row], dict[str, Any]]:
    from django.conf import settings
    from django.db import connection
    from django.test import Client, override_settings
    from django.utils import timezone

    from accounts.models import User
    from orders.models import Member
    from tests.demo_manager import demo_manager
    from tests.factories import StoreFactory, StoreProductFactory
    from tests.hema.dashboard_day import build_day

    rng = random.Random(17)
    now = timezone.now()
    stores = [StoreFactory(code=f"BD{i}", is_24h=False) for i in (1, 2)]
    started = time.perf_counter()
    orders = 0
    for store in stores:
        user = User.objects.create_user(
            email=f"bench-{store.code}@hema.test", password="x"
        )
        member = Member.objects.create(user=user)
        products = [StoreProductFactory(store=store) for _ in range(40)]
        today = now.astimezone(store.tz).date()
        orders += _history(store, member, products, rng, today)
        build_day(store, now)
    build_seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    client = Client()
    client.force_login(demo_manager(stores[0]))
    # Production settings, except static files named without the manifest
    # (the bench does not run collectstatic; naming a file costs the same).
    plain = {**settings.STORAGES, "staticfiles": {"BACKEND": STATIC_PLAIN}}
    with override_settings(STORAGES=plain):
        client.get("/admin/", secure=True)  # warm caches (content types, templates)
        page = _time(client, "/admin/")
        data = _time(client, f"/admin/dashboard/{stores[0].code}/data/")
    page_ms, data_ms = statistics.median(page), statistics.median(data)
    rows = [
        Row("history", f"{orders}", "orders", f"2 stores x {DAYS} days"),
        Row("dashboard page median", f"{page_ms:.1f}", "ms", f"target {TARGET_MS}"),
        Row(
            "dashboard page p90",
            f"{sorted(page)[int(0.9 * len(page)) - 1]:.1f}",
            "ms",
        ),
        Row("dashboard JSON median", f"{data_ms:.1f}", "ms", f"target {TARGET_MS}"),
        Row("page / target", f"{page_ms / TARGET_MS:.2f}", "x"),
    ]
    return rows, {
        "orders": orders,
        "build_seconds": round(build_seconds, 1),
        "page_ms": page,
        "json_ms": data,
        "page_median_ms": round(page_ms, 1),
        "json_median_ms": round(data_ms, 1),
        "target_ms": TARGET_MS,
    }


@register("dashboard")
def bench_dashboard(context: BenchContext) -> BenchResult:
    rows, data = measure()
    return BenchResult(rows=rows, data=data)
