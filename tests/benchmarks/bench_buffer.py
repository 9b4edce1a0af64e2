"""How often a paid app order is shorted by a till sale: a fixed buffer of one
unit against the buffer set from the forecast.

A trial is one wait: a product's shelf holds ``shelf`` units; ``app`` members
check out one unit each in the app (``orders.checkout.checkout_app``, paid
from the wallet, picked up in store, no substitute) while ``till`` shoppers pay
one unit each at the till (``orders.checkout.checkout_in_store``, never refused
for stock). Every purchase runs in its own thread and database connection; the
paid orders are all still waiting to be picked when the wait ends. A till sale
that leaves too few units for the held reservations flags the newest short
(``inventory.services._flag_short``) and orders refunds it: that is a paid
order shorted. The figure is shorted / paid over all trials of an arm.

Arrivals (``mode``):

* ``barrier``: everyone at once (the race the issue quotes: 35 app and 15 till
  purchases on 20 units, 61% of paid orders shorted with a buffer of one);
* ``mixed``: each purchase at its own seeded moment over a compressed wait
  (``window_seconds``), app and till interleaved as they come in a store;
* ``wait``: the app orders are paid first (racing each other), then the till
  purchases come while they wait (racing each other): the outcome no longer
  depends on the scheduler, which the PostgreSQL test uses.

The forecast arm sets the buffer with the real job (``inventory.forecast.
buffer.online_buffers_set``) from a seeded store: four weeks of ledger sales
(200 purchases a day, 40% at the till, a lunch and an evening peak) and a
``DemandForecast`` for the product. The till purchases of a trial are drawn
from a Poisson of the mean the forecast expects in the busiest wait (the
forecast is unbiased here; a real forecast's error widens the spread), the same
draws for both arms.

``make bench BENCH=buffer`` writes ``results/buffer.json`` and a table.
"""

from __future__ import annotations

import datetime as dt
import random
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from tests.benchmarks.registry import BenchContext, BenchResult, Row, register

D = Decimal
PRICE = D("12.80")
WAIT_SECONDS = 120
# A fixed past day: the trials' own ledger rows (made now) fall after it and
# never enter the four weeks of history the buffer reads.
DAY = dt.date(2026, 11, 17)
HISTORY_DAYS = 28
HISTORY_PURCHASES_PER_DAY = 200
HISTORY_TILL_SHARE = 0.4
# Store-local hour -> share of the day's purchases (%): lunch and evening peaks.
HOUR_WEIGHTS = {
    8: 3,
    9: 4,
    10: 5,
    11: 8,
    12: 11,
    13: 7,
    14: 5,
    15: 5,
    16: 6,
    17: 10,
    18: 14,
    19: 11,
    20: 7,
    21: 4,
}


# --- The store: members, history, products ------------------------------------


def members(count: int, tag: str) -> list[Any]:
    """Members with wallets deep enough for every trial."""
    from orders.members import member_sign_up
    from orders.models import WalletEntryKind
    from orders.wallet import wallet_credit

    made = []
    for n in range(count):
        member, _ = member_sign_up(
            password="fresh-fish-2026", email=f"{tag}{n}-{uuid.uuid4().hex[:6]}@b.test"
        )
        wallet_credit(
            member=member,
            amount=D("100000.00"),
            kind=WalletEntryKind.TOP_UP,
            reference=f"{tag}-top-up-{n}",
        )
        made.append(member)
    return made


def seed_history(store: Any, *, seed: int) -> int:
    """Four weeks of one product's sales before ``DAY`` (the store's till
    share and hour profile come from them); returns the sale rows written."""
    from tests.factories import StoreProductFactory
    from tests.forecast_rows import at_local, past_sales

    rng = random.Random(seed)
    history = StoreProductFactory(store=store, list_price=PRICE)
    sales = []
    for back in range(1, HISTORY_DAYS + 1):
        day = DAY - dt.timedelta(days=back)
        for hour, weight in HOUR_WEIGHTS.items():
            for _ in range(round(HISTORY_PURCHASES_PER_DAY * weight / 100)):
                kind = "sale_in_store" if rng.random() < HISTORY_TILL_SHARE else "pick"
                sales.append((at_local(store, day, hour, rng.randrange(60)), kind, "1"))
    return past_sales(history, sales)


def fresh_product(store: Any, shelf: int) -> Any:
    from inventory.models import StoreProduct
    from inventory.services import stock_receive
    from tests.factories import StoreProductFactory

    sp = StoreProductFactory(store=store, list_price=PRICE)
    stock_receive(store_product=sp, quantity=shelf, reference="bench-shelf")
    return StoreProduct.objects.select_related("product", "store").get(pk=sp.pk)


def wait_demand_per_unit_forecast(store: Any) -> float:
    """In-store units expected in the busiest wait per unit of daily forecast
    (the store's till share x the busiest window's share of the day)."""
    from inventory.forecast.buffer import online_buffers_plan

    plan = online_buffers_plan(store=store, day=DAY, now=_night_before(store))
    return plan.store_share * plan.window_share


def _night_before(store: Any) -> dt.datetime:
    """02:00 store time on ``DAY``: the nightly job's moment."""
    return dt.datetime.combine(DAY, dt.time(2), tzinfo=store.tz)


# --- The two arms ----------------------------------------------------------------


def fixed_buffer(units: int) -> Callable[[Any, float], Decimal]:
    def arm(sp: Any, daily_forecast: float) -> Decimal:
        from inventory.services import store_product_buffers_set

        store_product_buffers_set(store=sp.store, buffers={sp.pk: D(units)})
        return D(units)

    arm.__name__ = f"fixed buffer of {units}"
    return arm


def forecast_buffer(sp: Any, daily_forecast: float) -> Decimal:
    """The nightly job, for a product whose forecast is ``daily_forecast``."""
    from inventory.forecast.buffer import online_buffers_set
    from inventory.forecast.models import DemandForecast
    from tests.forecast_rows import demand_forecast, forecast_run

    run = forecast_run(sp.store, origin=DAY)
    quantity = D(str(round(daily_forecast, 3)))
    demand_forecast(sp, DAY, quantity, run=run)
    plan = online_buffers_set(store=sp.store, day=DAY, now=_night_before(sp.store))
    # Only this trial's product keeps a forecast for the day.
    DemandForecast.objects.filter(store_product=sp).delete()
    return next(line.buffer for line in plan.lines if line.store_product_id == sp.pk)


forecast_buffer.__name__ = "forecast buffer"


# --- One wait ----------------------------------------------------------------------


@dataclass(frozen=True)
class Trial:
    arm: str
    mode: str
    shelf: int
    app: int
    till: int
    buffer: str
    paid: int
    refused: int
    shorted: int
    seconds: float


def _carts(store: Any, sp: Any, who: Sequence[Any], channel: str) -> list[str]:
    from django.utils import timezone

    from orders.models import Cart, CartLine

    now = timezone.now()
    carts = Cart.objects.bulk_create(
        [
            Cart(
                member=member,
                store=store,
                channel=channel,
                expires_at=now + dt.timedelta(hours=2),
            )
            for member in who
        ]
    )
    CartLine.objects.bulk_create(
        [
            CartLine(
                cart=cart,
                store_product=sp,
                quantity=D(1),
                held_price=sp.shelf_price,
                price_held_until=(
                    now + dt.timedelta(minutes=30) if channel == "in_store" else None
                ),
                substitution="none",
            )
            for cart in carts
        ]
    )
    return [str(cart.uuid) for cart in carts]


def run_wait(
    *,
    store: Any,
    app_members: Sequence[Any],
    till_members: Sequence[Any],
    shelf: int,
    till: int,
    arm: Callable[[Any, float], Decimal],
    daily_forecast: float,
    mode: str,
    seed: int,
    window_seconds: float = 2.0,
) -> Trial:
    """One wait on a fresh product: set its buffer by ``arm``, race the
    checkouts, count the paid app orders and those a till sale shorted."""
    from django.db import connection

    from hema.errors import ApplicationError
    from orders.checkout import checkout_app, checkout_in_store
    from orders.models import OrderLine, OrderLineState

    sp = fresh_product(store, shelf)
    buffer = arm(sp, daily_forecast)
    app_carts = _carts(store, sp, app_members, "app")
    till_carts = _carts(store, sp, till_members[:till], "in_store")
    rng = random.Random(seed)
    offsets = [rng.uniform(0, window_seconds) for _ in range(len(app_carts) + till)]

    calls: list[tuple[str, Callable[[], Any]]] = [
        (
            "app",
            lambda m=member, c=cart: checkout_app(
                member=m, cart_uuid=c, fulfilment_mode="pickup", payment_method="wallet"
            ),
        )
        for member, cart in zip(app_members, app_carts, strict=True)
    ] + [
        (
            "till",
            lambda m=member, c=cart: checkout_in_store(
                member=m,
                cart_uuid=c,
                fulfilment_mode="carry_out",
                payment_method="wallet",
            ),
        )
        for member, cart in zip(till_members, till_carts, strict=False)
    ]
    barrier = threading.Barrier(len(calls) + 1, timeout=WAIT_SECONDS)
    app_done = threading.Event()
    outcomes: list[Any] = [None] * len(calls)

    def run(index: int, channel: str, call: Callable[[], Any]) -> None:
        try:
            connection.ensure_connection()
            barrier.wait()
            if mode == "mixed":
                time.sleep(offsets[index])
            elif mode == "wait" and channel == "till":
                app_done.wait(WAIT_SECONDS)
            outcomes[index] = call()
        except ApplicationError as exc:
            outcomes[index] = exc
        except Exception as exc:  # a bug: reported below
            outcomes[index] = exc
            barrier.abort()
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=(i, channel, call), name=f"{channel}-{i}")
        for i, (channel, call) in enumerate(calls)
    ]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread, (channel, _) in zip(threads, calls, strict=True):
        if channel == "app":
            thread.join(WAIT_SECONDS)
    app_done.set()
    for thread in threads:
        thread.join(WAIT_SECONDS)
    seconds = time.perf_counter() - started
    if any(thread.is_alive() for thread in threads):
        raise RuntimeError("a checkout thread hung")

    app_outcomes = outcomes[: len(app_carts)]
    till_outcomes = outcomes[len(app_carts) :]
    unexpected = [
        repr(o)
        for o in app_outcomes
        if isinstance(o, BaseException)
        and getattr(o, "code", None) != "insufficient_stock"
    ] + [repr(o) for o in till_outcomes if isinstance(o, BaseException)]
    if unexpected:
        raise RuntimeError(f"unexpected answers: {unexpected[:3]}")
    paid = sum(not isinstance(o, BaseException) for o in app_outcomes)
    shorted = OrderLine.objects.filter(
        store_product=sp, order__channel="app", state=OrderLineState.SHORT
    ).count()
    return Trial(
        arm=arm.__name__,
        mode=mode,
        shelf=shelf,
        app=len(app_carts),
        till=till,
        buffer=format(buffer.normalize(), "f"),
        paid=paid,
        refused=len(app_carts) - paid,
        shorted=shorted,
        seconds=round(seconds, 3),
    )


def poisson_draws(mean: float, count: int, seed: int) -> list[int]:
    """``count`` Poisson(``mean``) draws (Knuth's method; small means)."""
    rng = random.Random(seed)
    draws = []
    limit = pow(2.718281828459045, -mean)
    for _ in range(count):
        k, product = 0, rng.random()
        while product > limit:
            k += 1
            product *= rng.random()
        draws.append(k)
    return draws


def summary(trials: Sequence[Trial]) -> dict[str, Any]:
    paid = sum(t.paid for t in trials)
    shorted = sum(t.shorted for t in trials)
    return {
        "trials": len(trials),
        "paid": paid,
        "shorted": shorted,
        "shorted_share": shorted / paid if paid else None,
        "paid_per_wait_median": statistics.median(t.paid for t in trials),
        "buffers": sorted({t.buffer for t in trials}),
        "till_per_wait_mean": statistics.mean(t.till for t in trials),
    }


# --- The benchmark ---------------------------------------------------------------

SEED = 20261124
ISSUE = {"shelf": 20, "app": 35, "till": 15, "trials": 5}
BUSY = {"shelf": 20, "app": 35, "expected_till": 4.2, "trials": 20}


def _share_text(result: dict[str, Any]) -> str:
    if result["shorted_share"] is None:
        return "n/a (none paid)"
    return f"{result['shorted_share']:.1%}"


@register("buffer")
def bench_buffer(context: BenchContext) -> BenchResult:
    from tests.conftest import put_crew_on_shift
    from tests.factories import StoreFactory

    store = StoreFactory(code="BUF1", name="Buffer bench")
    put_crew_on_shift(store)
    history_rows = seed_history(store, seed=SEED)
    per_unit = wait_demand_per_unit_forecast(store)
    app_members = members(max(ISSUE["app"], BUSY["app"]), "app")
    till_members = members(40, "till")

    def arms_over(
        scenario: dict[str, Any], mode: str, tills: list[int], expected: float
    ) -> dict[str, list[Trial]]:
        forecast = expected / per_unit
        results: dict[str, list[Trial]] = {}
        for arm in (fixed_buffer(1), forecast_buffer):
            results[arm.__name__] = [
                run_wait(
                    store=store,
                    app_members=app_members[: scenario["app"]],
                    till_members=till_members,
                    shelf=scenario["shelf"],
                    till=till,
                    arm=arm,
                    daily_forecast=forecast,
                    mode=mode,
                    seed=SEED + n,
                )
                for n, till in enumerate(tills)
            ]
        return results

    issue = arms_over(
        ISSUE, "barrier", [ISSUE["till"]] * ISSUE["trials"], float(ISSUE["till"])
    )
    busy_tills = poisson_draws(BUSY["expected_till"], BUSY["trials"], SEED)
    busy = arms_over(BUSY, "mixed", busy_tills, BUSY["expected_till"])

    rows: list[Row] = []
    data: dict[str, Any] = {
        "history_sale_rows": history_rows,
        "in_store_units_in_busiest_wait_per_unit_forecast": per_unit,
        "scenarios": {},
    }
    for name, scenario, results, mode in (
        ("issue race", ISSUE, issue, "barrier"),
        ("busy wait", BUSY, busy, "mixed"),
    ):
        shape = (
            f"{scenario['shelf']} on shelf, {scenario['app']} app, "
            + (
                f"{scenario['till']} till"
                if "till" in scenario
                else f"till ~ Poisson({scenario['expected_till']})"
            )
            + f", {mode}, {scenario['trials']} waits"
        )
        data["scenarios"][name] = {"shape": shape, "arms": {}}
        for arm_name, trials in results.items():
            result = summary(trials)
            data["scenarios"][name]["arms"][arm_name] = {
                **result,
                "waits": [asdict(t) for t in trials],
            }
            rows.append(
                Row(
                    f"{name}: paid app orders shorted, {arm_name}",
                    _share_text(result),
                    "",
                    f"{result['shorted']} of {result['paid']} paid (median "
                    f"{result['paid_per_wait_median']:g} a wait); buffer "
                    f"{'/'.join(result['buffers'])}; {shape}",
                )
            )
    return BenchResult(rows=rows, data=data)
