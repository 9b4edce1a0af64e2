"""Reservations per second on one hot product: the service against the bare SQL.

8 threads, each with its own connection, take 1 unit at a time until 2,000
reservations are made, once through ``inventory.services.stock_reserve`` (the
conditional UPDATE, the reservation and its ledger row in one transaction) and
once as the bare conditional ``UPDATE`` in autocommit through psycopg. Each is
measured 5 times, alternating which goes first; the figure is the median.
"""

import contextlib
import statistics
import threading
import time
from collections.abc import Callable
from decimal import Decimal

import psycopg
from django.db import connection
from django.test.utils import CaptureQueriesContext
from psycopg import sql

from inventory.models import StoreProduct
from inventory.services import ReservationLine, stock_receive, stock_reserve
from tests.benchmarks.registry import BenchContext, BenchResult, Row, register
from tests.factories import StoreFactory, StoreProductFactory

THREADS = 8
OPERATIONS = 2_000
REPEATS = 5
WARM_UP_OPERATIONS = 200
PROFILE_OPERATIONS = 300
TARGET_RATIO = 0.5
WAIT_SECONDS = 120


def _timed(workers: list[Callable[[threading.Barrier], None]]) -> float:
    """Start the workers together; seconds from the barrier to the last one done."""
    barrier = threading.Barrier(len(workers) + 1, timeout=WAIT_SECONDS)
    errors: list[BaseException] = []

    def run(worker: Callable[[threading.Barrier], None]) -> None:
        try:
            worker(barrier)
        except Exception as exc:
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    with contextlib.suppress(threading.BrokenBarrierError):
        barrier.wait()  # broken only when a worker failed: its error is raised below
    started = time.perf_counter()
    for thread in threads:
        thread.join(WAIT_SECONDS)
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    if any(thread.is_alive() for thread in threads):
        raise RuntimeError(f"workers still running after {WAIT_SECONDS} s")
    return elapsed


def _service(store_product_id: int, operations: int, tag: str) -> float:
    def worker(index: int) -> Callable[[threading.Barrier], None]:
        def reserve(barrier: threading.Barrier) -> None:
            try:
                sp = StoreProduct.objects.select_related("product").get(
                    pk=store_product_id
                )
                lines = [ReservationLine(sp, 1)]
                barrier.wait()
                for n in range(operations // THREADS):
                    stock_reserve(lines=lines, reference=f"{tag}-{index}-{n}")
            finally:
                connection.close()

        return reserve

    return _timed([worker(i) for i in range(THREADS)])


def _raw(
    conninfo: str, store_product_id: int, operations: int, threads: int = THREADS
) -> float:
    statement = sql.SQL(
        "UPDATE {} SET reserved = reserved + 1 "
        "WHERE id = %s AND on_hand - reserved - online_buffer >= 1"
    ).format(sql.Identifier(StoreProduct._meta.db_table))

    def reserve(barrier: threading.Barrier) -> None:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            barrier.wait()
            for _ in range(operations // threads):
                if conn.execute(statement, (store_product_id,)).rowcount != 1:
                    raise RuntimeError("the hot product ran out of stock")

    return _timed([reserve] * threads)


def _profile(sp: StoreProduct, conninfo: str) -> dict:
    """One thread alone: what one reservation costs, in queries, time and CPU.

    Under the GIL, the client CPU per reservation caps what 8 threads of one
    process can do, however little they wait for PostgreSQL.
    """
    with CaptureQueriesContext(connection) as captured:
        stock_reserve(lines=[ReservationLine(sp, 1)], reference="PROFILE")
    lines = [ReservationLine(sp, 1)]
    wall, cpu = time.perf_counter(), time.process_time()
    for n in range(PROFILE_OPERATIONS):
        stock_reserve(lines=lines, reference=f"ALONE-{n}")
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    connection.close()
    raw_seconds = _raw(conninfo, sp.pk, PROFILE_OPERATIONS, threads=1)
    return {
        "queries": [query["sql"] for query in captured.captured_queries],
        "service_ops_per_s": PROFILE_OPERATIONS / wall,
        "service_ms_per_op": 1000 * wall / PROFILE_OPERATIONS,
        "service_cpu_ms_per_op": 1000 * cpu / PROFILE_OPERATIONS,
        "raw_ops_per_s": PROFILE_OPERATIONS / raw_seconds,
    }


@register("reserve")
def bench_reserve(context: BenchContext) -> BenchResult:
    store = StoreFactory(code="BENCH")
    sp = StoreProductFactory(store=store, online_buffer=Decimal(2))
    stock_receive(store_product=sp, quantity=1_000_000)
    sp = StoreProduct.objects.select_related("product").get(pk=sp.pk)
    connection.close()

    _service(sp.pk, WARM_UP_OPERATIONS, "WARM")
    _raw(context.conninfo, sp.pk, WARM_UP_OPERATIONS)
    service: list[float] = []
    raw: list[float] = []
    for repeat in range(REPEATS):
        order = ("service", "raw") if repeat % 2 == 0 else ("raw", "service")
        for kind in order:
            if kind == "service":
                seconds = _service(sp.pk, OPERATIONS, f"B{repeat}")
                service.append(OPERATIONS / seconds)
            else:
                raw.append(OPERATIONS / _raw(context.conninfo, sp.pk, OPERATIONS))

    profile = _profile(sp, context.conninfo)
    sp.refresh_from_db()
    made = (WARM_UP_OPERATIONS + OPERATIONS * REPEATS + PROFILE_OPERATIONS) * 2 + 1
    if sp.reserved != made:
        raise RuntimeError(f"reserved {sp.reserved}, expected {made}")
    connection.close()

    service_median = statistics.median(service)
    raw_median = statistics.median(raw)
    ratio = service_median / raw_median
    shape = f"{THREADS} threads, {OPERATIONS} ops, median of {REPEATS}"
    return BenchResult(
        rows=[
            Row("stock_reserve (service)", f"{service_median:,.0f}", "ops/s", shape),
            Row("bare conditional UPDATE", f"{raw_median:,.0f}", "ops/s", shape),
            Row(
                "ratio service / bare",
                f"{ratio:.2f}",
                "",
                f"target >= {TARGET_RATIO}",
            ),
            Row(
                "stock_reserve, 1 thread alone",
                f"{profile['service_ops_per_s']:,.0f}",
                "ops/s",
                f"{len(profile['queries'])} statements, "
                f"{profile['service_cpu_ms_per_op']:.2f} ms client CPU per op",
            ),
            Row(
                "bare conditional UPDATE, 1 thread alone",
                f"{profile['raw_ops_per_s']:,.0f}",
                "ops/s",
            ),
        ],
        data={
            "unit": "reservations per second",
            "threads": THREADS,
            "operations_per_sample": OPERATIONS,
            "repeats": REPEATS,
            "service_samples": [round(x, 1) for x in service],
            "raw_samples": [round(x, 1) for x in raw],
            "service_median": round(service_median, 1),
            "raw_median": round(raw_median, 1),
            "ratio": round(ratio, 3),
            "target_ratio": TARGET_RATIO,
            "meets_target": ratio >= TARGET_RATIO,
            "single_thread": {
                key: round(value, 3)
                for key, value in profile.items()
                if key != "queries"
            },
            "queries_per_reservation": len(profile["queries"]),
            "service_queries": profile["queries"],
        },
    )
