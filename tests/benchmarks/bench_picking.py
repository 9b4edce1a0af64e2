"""Pick-task claims under contention, and the whole pick path of one order.

* Claims: 8 pickers of one zone, each a thread with its own database
  connection, claim through ``POST /api/v1/stores/<code>/pick-tasks/claim``
  (authenticated, with an Idempotency-Key, ``FOR UPDATE SKIP LOCKED``) until
  400 tasks are taken; after each claim the picker's task is closed outside the
  timing so that the next claim takes a new one. Figures: claims per second
  (all threads), and the median and 99th percentile of one claim's latency.
  Every task must be claimed exactly once. Baseline: one picker alone (no
  contention), in the same run.
* Pick path: a paid 20-line pickup order (4 zones, 5 lines each, 5 of them
  weighed) goes through the staff API: 4 claims, 20 confirms, 4 bags, the rail
  controller's 8 signed events (hung, arrived), the packing list and the pack.
  The figure is the wall time of that path, repeated, median.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import statistics
import threading
import time
import uuid
from decimal import Decimal

from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from delivery.layout import bags_issue, rail_layout_linear
from delivery.models import Fulfilment, PickTask, PickTaskState
from delivery.picking import bag_token
from delivery.rail import controller_create, sign
from inventory.models import SaleUnit, StoreStaff
from inventory.services import stock_receive
from orders.carts import cart_line_add, cart_open
from orders.checkout import checkout_app
from orders.members import member_sign_up
from orders.models import WalletEntryKind
from orders.wallet import wallet_credit
from tests.benchmarks.registry import BenchContext, BenchResult, Row, register
from tests.factories import (
    ProductFactory,
    StoreFactory,
    StoreProductFactory,
    UserFactory,
    ZoneFactory,
)

THREADS = 8
CLAIMS = 400
WARM_UP_CLAIMS = 40
ALONE_CLAIMS = 100
REPEATS = 3
PATH_REPEATS = 5
ZONES = 4
LINES_PER_ZONE = 5
WAIT_SECONDS = 180


class _HttpsClient(APIClient):
    """Every request over HTTPS (DEBUG is off: plain HTTP is redirected)."""

    def generic(self, method, path, data="", content_type=None, secure=True, **extra):
        if content_type is None:
            content_type = "application/octet-stream"
        return super().generic(method, path, data, content_type, secure=True, **extra)


def _client(user=None) -> APIClient:
    client = _HttpsClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def _key() -> dict[str, str]:
    return {"HTTP_IDEMPOTENCY_KEY": uuid.uuid4().hex}


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(int(share * len(ordered) + 0.5) - 1, 0))]


def _tasks(fulfilment: Fulfilment, zone, count: int) -> None:
    now = timezone.now()
    PickTask.objects.bulk_create(
        PickTask(
            fulfilment=fulfilment,
            store_id=fulfilment.store_id,
            zone=zone,
            deadline=now + timezone.timedelta(seconds=n),
        )
        for n in range(count)
    )


def _claims(store, zone, pickers, count: int) -> tuple[float, list[float], list[int]]:
    """Seconds for ``count`` claims by the pickers at once, each claim's latency
    in ms, and the ids claimed."""
    barrier = threading.Barrier(len(pickers) + 1, timeout=WAIT_SECONDS)
    latencies: list[float] = []
    claimed: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    url = f"/api/v1/stores/{store.code}/pick-tasks/claim"

    def work(user) -> None:
        client = _client(user)
        mine: list[float] = []
        got: list[int] = []
        try:
            barrier.wait()
            while True:
                started = time.perf_counter()
                response = client.post(
                    url, {"zone": zone.code}, format="json", **_key()
                )
                mine.append((time.perf_counter() - started) * 1000)
                if response.status_code == 204:
                    break
                if response.status_code != 200:
                    raise RuntimeError(response.content)
                got.append(response.json()["id"])
                PickTask.objects.filter(pk=got[-1]).update(state=PickTaskState.BAGGED)
        except Exception as exc:
            errors.append(exc)
            barrier.abort()
        finally:
            connection.close()
            with lock:
                latencies.extend(mine)
                claimed.extend(got)

    threads = [threading.Thread(target=work, args=(user,)) for user in pickers]
    for thread in threads:
        thread.start()
    with contextlib.suppress(threading.BrokenBarrierError):
        barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join(WAIT_SECONDS)
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    if len(claimed) != count or len(set(claimed)) != count:
        raise RuntimeError(f"{len(claimed)} claims, {len(set(claimed))} distinct")
    return elapsed, latencies, claimed


def _paid_order(store, products, n: int):
    member, _ = member_sign_up(password="bench-pass-2026", email=f"b{n}@bench.test")
    wallet_credit(
        member=member,
        amount=Decimal("100000.00"),
        kind=WalletEntryKind.TOP_UP,
        reference=f"bench-{n}",
    )
    cart = cart_open(member=member, store=store, channel="app")
    for sp in products:
        quantity = "0.500" if sp.product.sale_unit == SaleUnit.KILOGRAM else "1"
        cart_line_add(cart=cart, quantity=quantity, sku=sp.product.sku)
    result = checkout_app(
        member=member,
        cart_uuid=cart.uuid,
        fulfilment_mode="pickup",
        payment_method="wallet",
    )
    return result.order


def _pick_path(store, zones, picker, packer, controller, secret, order, bags) -> float:
    """Seconds from the first claim to the pack, through the API."""
    pick = _client(picker)
    pack = _client(packer)
    base = f"/api/v1/stores/{store.code}"
    started = time.perf_counter()
    bag_codes = []
    for zone, bag in zip(zones, bags, strict=True):
        claimed = pick.post(
            f"{base}/pick-tasks/claim", {"zone": zone.code}, format="json", **_key()
        )
        if claimed.status_code != 200:
            raise RuntimeError(
                f"claim answered {claimed.status_code}: {claimed.content[:300]}"
            )
        task = claimed.json()
        if task["order"] != order.number:
            raise RuntimeError(f"claimed {task['order']}, not {order.number}")
        for line in task["lines"]:
            body = {"code": line["sku"]}
            if line["sale_unit"] == "kg":
                body["weight_kg"] = line["quantity"]
            answer = pick.post(
                f"{base}/pick-tasks/{task['id']}/lines/{line['id']}/confirm",
                body,
                format="json",
                **_key(),
            )
            if answer.status_code != 200:
                raise RuntimeError(answer.content)
        answer = pick.post(
            f"{base}/pick-tasks/{task['id']}/bag",
            {"bag": bag_token(bag)},
            format="json",
            **_key(),
        )
        if answer.status_code != 200:
            raise RuntimeError(answer.content)
        bag_codes.append((bag.code, f"H-{zone.code}"))
    for kind in ("hung", "arrived"):
        for code, station in bag_codes:
            event = {
                "id": uuid.uuid4().hex,
                "type": kind,
                "bag": code,
                "station": station if kind == "hung" else "PACK1",
            }
            body = json.dumps(event).encode()
            answer = _client().post(
                "/api/v1/rail/events",
                body,
                content_type="application/json",
                HTTP_RAIL_DEVICE=controller.device_id,
                HTTP_RAIL_SIGNATURE=sign(secret, body, int(time.time())),
            )
            if answer.status_code != 200:
                raise RuntimeError(answer.content)
    ready = pack.get(f"{base}/packing").json()
    if [f["order"] for f in ready] != [order.number]:
        raise RuntimeError(f"packing list {ready}")
    answer = pack.post(
        f"{base}/fulfilments/{order.number}/pack", format="json", **_key()
    )
    if answer.json().get("state") != "ready":
        raise RuntimeError(answer.content)
    return time.perf_counter() - started


@register("picking")
def bench_picking(context: BenchContext) -> BenchResult:
    store = StoreFactory(code="BENCHP")
    zones = [
        ZoneFactory(store=store, code=f"Z{n}", name=f"Zone {n}", sort_order=n)
        for n in range(ZONES)
    ]
    rail_layout_linear(store=store, zones=zones)
    bags = [bag for bag, _ in bags_issue(store=store, count=ZONES)]
    controller, secret = controller_create(store=store)
    products = []
    for z, zone in enumerate(zones):
        for n in range(LINES_PER_ZONE):
            weighed = n == 0
            sp = StoreProductFactory(
                store=store,
                zone=zone,
                shelf_location=f"{zone.code}-{n:02d}",
                product=ProductFactory(
                    sku=f"BP-{z}-{n}",
                    sale_unit=SaleUnit.KILOGRAM if weighed else SaleUnit.PIECE,
                ),
            )
            stock_receive(store_product=sp, quantity=100_000)
            products.append(sp)
    picker = UserFactory(email=f"picker-{secrets.token_hex(3)}@bench.test")
    packer = UserFactory(email=f"packer-{secrets.token_hex(3)}@bench.test")
    StoreStaff.objects.create(user=picker, store=store, role="picker")
    StoreStaff.objects.create(user=packer, store=store, role="packer")

    # The pick path of a 20-line order, end to end.
    path_seconds = []
    for n in range(PATH_REPEATS):
        order = _paid_order(store, products, n)
        path_seconds.append(
            _pick_path(store, zones, picker, packer, controller, secret, order, bags)
        )

    # Claims: tasks on the first fulfilment, in the first zone.
    pickers = []
    for n in range(THREADS):
        user = UserFactory(email=f"claim-{n}-{secrets.token_hex(3)}@bench.test")
        StoreStaff.objects.create(user=user, store=store, role="picker")
        pickers.append(user)
    fulfilment = Fulfilment.objects.order_by("pk").first()
    zone = zones[0]
    _tasks(fulfilment, zone, WARM_UP_CLAIMS)
    connection.close()
    _claims(store, zone, pickers, WARM_UP_CLAIMS)
    rates, all_latencies, samples = [], [], []
    for _ in range(REPEATS):
        _tasks(fulfilment, zone, CLAIMS)
        connection.close()
        seconds, latencies, _ = _claims(store, zone, pickers, CLAIMS)
        rates.append(CLAIMS / seconds)
        all_latencies.extend(latencies)
        samples.append({"seconds": seconds, "claims_per_s": CLAIMS / seconds})
    # One picker alone: the cost of a claim without contention, the baseline.
    _tasks(fulfilment, zone, ALONE_CLAIMS)
    connection.close()
    alone_seconds, alone_latencies, _ = _claims(store, zone, pickers[:1], ALONE_CLAIMS)
    alone_rate = ALONE_CLAIMS / alone_seconds
    median_ms = statistics.median(all_latencies)
    p99_ms = _percentile(all_latencies, 0.99)
    path = statistics.median(path_seconds)
    return BenchResult(
        rows=[
            Row(
                "claims per second, 8 pickers on one zone",
                f"{statistics.median(rates):.0f}",
                "claims/s",
            ),
            Row(
                "claims per second, one picker alone",
                f"{alone_rate:.0f}",
                "claims/s",
                f"median {statistics.median(alone_latencies):.1f} ms",
            ),
            Row("claim latency median", f"{median_ms:.1f}", "ms"),
            Row("claim latency p99", f"{p99_ms:.1f}", "ms"),
            Row(
                "pick path of a 20-line order (4 zones)",
                f"{path:.2f}",
                "s",
                "claim, 20 confirms, 4 bags, 8 rail events, pack",
            ),
        ],
        data={
            "threads": THREADS,
            "claims": CLAIMS,
            "claims_per_s": rates,
            "claim_latency_ms": {"median": median_ms, "p99": p99_ms},
            "claim_samples": samples,
            "alone": {
                "claims_per_s": alone_rate,
                "latency_ms_median": statistics.median(alone_latencies),
            },
            "pick_path_seconds": path_seconds,
            "pick_path_requests": ZONES * (LINES_PER_ZONE + 2) + 2 * ZONES + 2,
        },
    )
