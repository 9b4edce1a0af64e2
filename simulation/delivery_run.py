"""Building blocks of the delivery simulation (issue 14, item 7).

The simulation drives the real promise, picking, dispatcher and rider code over
simulated time. Most of those services take a ``now`` argument; the picking
and packing services (and the timestamps of a few others) read
``django.utils.timezone.now`` instead, so ``SimClock`` patches that one
function for the length of a run: every service then sees the simulated time.
It is a clock, not a mock of the database or the ORM: the rows are real.

The rest is pure and seeded (``random.Random(seed)``), so a run is
deterministic for its seed: Poisson arrivals, uniform points within the
store's radius, lognormal floor times around the store's defaults, and the
figures the issue asks for (on-time rate, mean and 95th-percentile lateness,
riders' utilisation, trips per order, orders refused or moved to a slot).
"""

from __future__ import annotations

import datetime as dt
import math
import random
import secrets
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from simulation.clock import SimClock, simulated_time
from simulation.draws import floor_seconds, percentile, point_within, poisson_arrivals

__all__ = [
    "Figures",
    "Outcome",
    "SimClock",
    "floor_seconds",
    "percentile",
    "point_within",
    "poisson_arrivals",
    "simulate",
    "simulated_time",
]


@dataclass(frozen=True)
class Outcome:
    """One simulated order: how it was promised and what became of it."""

    promised: str  # "express", "slot" (moved to a window) or "refused"
    deadline: dt.datetime | None = None
    delivered_at: dt.datetime | None = None


@dataclass(frozen=True)
class Figures:
    orders: int
    express: int
    moved_to_slot: int
    refused: int
    delivered: int
    undelivered: int
    on_time: int
    on_time_rate: float  # of the delivered orders
    express_on_time_rate: float  # of the orders promised express
    mean_lateness_seconds: float  # over the late deliveries
    p95_lateness_seconds: float  # over every delivery, early counts as 0
    trips: int
    trips_per_order: float
    rider_utilisation: float  # busy rider-seconds / on-shift rider-seconds

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def figures_from(
    outcomes: Sequence[Outcome],
    *,
    trips: int,
    rider_busy_seconds: float,
    rider_shift_seconds: float,
) -> Figures:
    """The run's figures; every order is counted once: delivered, undelivered
    (still on its way at the end) or refused, so the parts add up to the whole."""
    delivered = [o for o in outcomes if o.delivered_at is not None]
    late = [
        (o.delivered_at - o.deadline).total_seconds()
        for o in delivered
        if o.deadline is not None and o.delivered_at > o.deadline
    ]
    lateness = [
        max(0.0, (o.delivered_at - o.deadline).total_seconds())
        for o in delivered
        if o.deadline is not None
    ]
    on_time = len(delivered) - len(late)
    express = [o for o in outcomes if o.promised == "express"]
    express_on_time = sum(
        1
        for o in express
        if o.delivered_at is not None
        and o.deadline is not None
        and o.delivered_at <= o.deadline
    )
    refused = sum(1 for o in outcomes if o.promised == "refused")
    accepted = len(outcomes) - refused
    return Figures(
        orders=len(outcomes),
        express=len(express),
        moved_to_slot=sum(1 for o in outcomes if o.promised == "slot"),
        refused=refused,
        delivered=len(delivered),
        undelivered=accepted - len(delivered),
        on_time=on_time,
        on_time_rate=on_time / len(delivered) if delivered else 0.0,
        express_on_time_rate=express_on_time / len(express) if express else 0.0,
        mean_lateness_seconds=sum(late) / len(late) if late else 0.0,
        p95_lateness_seconds=percentile(lateness, 95),
        trips=trips,
        trips_per_order=trips / len(delivered) if delivered else 0.0,
        rider_utilisation=(
            min(1.0, rider_busy_seconds / rider_shift_seconds)
            if rider_shift_seconds > 0
            else 0.0
        ),
    )


def figures_text(figures: Figures) -> str:
    """The figures as the command prints them."""
    return "\n".join(
        [
            f"orders: {figures.orders} (express {figures.express}, moved to a slot "
            f"{figures.moved_to_slot}, refused {figures.refused})",
            f"delivered: {figures.delivered}, still out: {figures.undelivered}",
            f"on time: {figures.on_time_rate:.1%} of delivered; express on time: "
            f"{figures.express_on_time_rate:.1%}",
            f"lateness: mean {figures.mean_lateness_seconds:.0f} s (late orders), "
            f"95th percentile {figures.p95_lateness_seconds:.0f} s",
            f"riders' utilisation: {figures.rider_utilisation:.1%}",
            f"trips: {figures.trips}, per order {figures.trips_per_order:.2f}",
        ]
    )


# --- The run -----------------------------------------------------------------------
#
# Everything below writes real rows through the real services, inside one
# transaction that ``simulate`` rolls back: the store is left as it was found.

# Without --pickers, enough pickers for the load: each order brings about two
# pick tasks (one to three lines over the zones), and pickers are kept 80% busy.
TASKS_PER_ORDER = 2.0
PICKER_LOAD = 0.8


def pickers_for(*, orders_per_hour: float, pick_seconds: float) -> int:
    """The pickers a floor needs for ``orders_per_hour`` at ``PICKER_LOAD``."""
    work = orders_per_hour * TASKS_PER_ORDER * pick_seconds / 3600.0
    return max(1, math.ceil(work / PICKER_LOAD))


TICK = dt.timedelta(seconds=30)
DRAIN = dt.timedelta(hours=2)  # after the last arrival, at most this to finish
PROGRESS = dt.timedelta(minutes=5)


class SimulationRefused(Exception):
    """The store cannot be simulated (no zoned product to sell, say)."""


@dataclass
class _Run:
    store: Any
    rng: random.Random
    clock: SimClock
    config: Any
    solve: Any
    max_iterations: int
    seed: int
    pickers: list[Any]
    packer: Any
    controller: Any
    products: list[Any]
    members: list[Any]
    events: list[tuple[dt.datetime, int, str, Any]]
    outcomes: dict[int, str]  # fulfilment id -> "express" / "slot"
    refused: int = 0
    counter: int = 0
    busy_seconds: float = 0.0
    trips: int = 0
    tag: str = ""  # names the run's rail events (unique across kept runs)
    zones: dict[int, Any] | None = None  # the store's zones by id, read once

    def at(self, when: dt.datetime, kind: str, payload: Any = None) -> None:
        import heapq

        self.counter += 1
        heapq.heappush(self.events, (when, self.counter, kind, payload))


def _staff(store: Any, role: str, n: int, tag: str) -> list[Any]:
    from django.contrib.auth import get_user_model

    from inventory.models import StoreStaff

    users = []
    for i in range(n):
        user = get_user_model().objects.create_user(
            email=f"sim-{tag}-{role}{i}@{store.code.lower()}.sim.hema.test",
            password=None,
        )
        StoreStaff.objects.create(user=user, store=store, role=role)
        users.append(user)
    return users


def _setup(run_args: dict[str, Any], store: Any, now: dt.datetime) -> _Run:
    from decimal import Decimal

    from delivery.layout import bags_issue, rail_layout_linear
    from delivery.models import RailController, RiderShift
    from delivery.rail import controller_create
    from delivery.riders import picker_shift_start, rider_shift_start
    from delivery.travel import delivery_settings
    from inventory.models import SaleUnit, StoreProduct
    from inventory.services import stock_receive
    from orders.members import member_sign_up
    from orders.wallet import wallet_credit

    seed = run_args["seed"]
    tag = f"{seed}-{int(now.timestamp())}"
    # Only the simulation's riders are on shift: the others end for the run.
    RiderShift.objects.filter(store=store, ended_at__isnull=True).update(ended_at=now)
    riders = _staff(store, "rider", run_args["riders"], tag)
    for rider in riders:
        rider_shift_start(store=store, rider=rider, now=now)
    pickers = _staff(store, "picker", run_args["pickers"], tag)
    for picker in pickers:
        picker_shift_start(store=store, picker=picker, now=now)
    packer = _staff(store, "packer", 1, tag)[0]
    zones = list(store.zones.order_by("sort_order", "code"))
    rail_layout_linear(store=store, zones=zones, packing_codes=("PACK1",))
    bags_issue(store=store, count=max(60, 2 * len(zones) * run_args["riders"] * 6))
    controller = RailController.objects.filter(store=store).first()
    if controller is None:
        controller, _ = controller_create(store=store)
    products = list(
        StoreProduct.objects.filter(
            store=store,
            is_active=True,
            zone__isnull=False,
            product__sale_unit=SaleUnit.PIECE,
        )
        .select_related("product", "zone")
        .order_by("pk")[:40]
    )
    if not products:
        raise SimulationRefused(f"{store.code} sells no zoned piece product to order.")
    expected = run_args["orders_per_hour"] * run_args["hours"]
    for product in products:
        stock_receive(store_product=product, quantity=int(expected) + 50)
    members = []
    for i in range(10):
        member, _ = member_sign_up(
            password=secrets.token_urlsafe(16),
            email=f"sim-{tag}-buyer{i}@sim.hema.test",
        )
        wallet_credit(
            member=member,
            amount=Decimal("100000.00"),
            kind="top_up",
            reference=f"sim-{tag}-{i}",
        )
        members.append(member)
    return _Run(
        store=store,
        rng=random.Random(seed),  # noqa: S311 (a seeded simulation)
        clock=SimClock(now),
        config=delivery_settings(store),
        solve=run_args["solve"],
        max_iterations=run_args["max_iterations"],
        seed=seed,
        pickers=pickers,
        packer=packer,
        controller=controller,
        products=products,
        members=members,
        events=[],
        outcomes={},
    )


def _order(run: _Run) -> None:
    """One shopper: a quote at the simulated time, then the app checkout with
    the first offer (express, or the window it was moved to); no offer is a
    refusal."""
    from decimal import Decimal

    from delivery.models import Fulfilment
    from delivery.promise import quote
    from orders.carts import cart_line_add, cart_open
    from orders.checkout import checkout_app
    from orders.members import address_add

    store, rng, now = run.store, run.rng, run.clock.now
    lat, lng = point_within(
        rng,
        latitude=float(store.latitude),
        longitude=float(store.longitude),
        radius_km=float(store.delivery_radius_km) * 0.98,
    )
    lines = rng.sample(run.products, k=min(len(run.products), rng.randint(1, 3)))
    q = quote(
        store=store,
        latitude=Decimal(f"{lat:.6f}"),
        longitude=Decimal(f"{lng:.6f}"),
        line_count=len(lines),
        at=now,
    )
    if not q.token:
        run.refused += 1
        return
    member = run.members[rng.randrange(len(run.members))]
    address = address_add(member=member, label="Sim", latitude=lat, longitude=lng)
    cart = cart_open(member=member, store=store, channel="app")
    for product in lines:
        cart_line_add(cart=cart, quantity="1", sku=product.product.sku)
    result = checkout_app(
        member=member,
        cart_uuid=cart.uuid,
        fulfilment_mode="delivery",
        payment_method="wallet",
        address=address,
        now=now,
        delivery_quote=q.token,
    )
    fulfilment = Fulfilment.objects.get(order=result.order)
    run.outcomes[fulfilment.pk] = q.mode


def _pickers_claim(run: _Run, idle: list[Any]) -> None:
    """Idle pickers claim the tasks waiting, earliest deadline first over the
    whole floor (the real claim, in the zone of the next task: the claim takes
    the zone's earliest, so the k-th task of a zone in this order is the one
    the k-th claim there gets). Pickers float between zones here, as the
    promise's estimate assumes; each pick time is drawn around the store's
    default."""
    from delivery.models import PickTask, PickTaskState
    from delivery.picking import pick_task_claim

    if not idle:
        return
    if run.zones is None:  # the floor's zones do not change during a run
        run.zones = {z.pk: z for z in run.store.zones.all()}
    zones = run.zones
    waiting = PickTask.objects.filter(
        store=run.store, state=PickTaskState.OPEN
    ).order_by("deadline", "pk")
    for zone_id in list(waiting.values_list("zone_id", flat=True)[: len(idle)]):
        picker = idle.pop(0)
        task = pick_task_claim(store=run.store, zone=zones[zone_id], picker=picker)
        seconds = floor_seconds(run.rng, mean=run.config.default_pick_seconds)
        run.at(run.clock.now + dt.timedelta(seconds=seconds), "picked", (picker, task))


def _rail_event(run: _Run, kind: str, bag: str, station: str) -> Any:
    import json

    from delivery.rail import rail_event_record

    run.counter += 1
    body = json.dumps(
        {
            "id": f"sim-{run.tag or run.seed}-{run.counter}",
            "type": kind,
            "bag": bag,
            "station": station,
            "at": run.clock.now.isoformat(),
        }
    ).encode()
    return rail_event_record(controller=run.controller, body=body)


def _picked(run: _Run, picker: Any, task: Any) -> None:
    """The picker scans each shelf, bags the task and hangs it on the rail."""
    from delivery.fulfilment import packing_station_for
    from delivery.models import Bag, PickTaskState
    from delivery.picking import bag_token, pick_line_confirm, pick_task_bag, task_lines
    from delivery.rail import seconds_to_packing

    task.refresh_from_db()
    if task.state != PickTaskState.CLAIMED:
        return
    for line in task_lines(task):
        if line.state != "open":
            continue
        sku = line.store_product.product.sku
        pick_line_confirm(
            task=task,
            line_id=line.pk,
            code=f"https://hema.test/q/{run.store.code}/{sku}",
            picker=picker,
            quantity=line.quantity,
        )
    bag = Bag.objects.filter(store=run.store, task__isnull=True).order_by("pk").first()
    if bag is None:
        from delivery.layout import bags_issue

        bags_issue(
            store=run.store, count=Bag.objects.filter(store=run.store).count() + 20
        )
        bag = (
            Bag.objects.filter(store=run.store, task__isnull=True)
            .order_by("pk")
            .first()
        )
    bag.store = run.store  # the token names the store: no read of it per bag
    task = pick_task_bag(task=task, bag_code=bag_token(bag), picker=picker)
    station = task.location
    packing = packing_station_for(run.store)
    _rail_event(run, "hung", bag.code, station.code)
    ride = seconds_to_packing(station, packing) or 60
    run.at(
        run.clock.now + dt.timedelta(seconds=ride),
        "arrived",
        (bag.code, packing.code, task.fulfilment_id),
    )


def _arrived(run: _Run, bag: str, station: str, fulfilment_id: int) -> None:
    """The bag is at packing; with every bag of the order there, the packer
    packs after a time drawn around the store's default."""
    from delivery.models import Fulfilment, LineState, PickTaskState

    _rail_event(run, "arrived", bag, station)
    fulfilment = Fulfilment.objects.get(pk=fulfilment_id)
    tasks = fulfilment.tasks.exclude(state=PickTaskState.CANCELLED)
    waiting = tasks.exclude(state=PickTaskState.BAGGED, arrived_at__isnull=False)
    if waiting.exists() or fulfilment.lines.filter(state=LineState.OPEN).exists():
        return
    seconds = floor_seconds(run.rng, mean=run.config.default_pack_seconds)
    run.at(run.clock.now + dt.timedelta(seconds=seconds), "pack", fulfilment.reference)


def _dispatch(run: _Run) -> None:
    """A dispatcher tick (the real one, seeded, an iteration limit); each new
    trip is collected at its planned departure."""
    from delivery.dispatch import dispatch_store
    from delivery.models import Trip

    result = dispatch_store(
        store=run.store,
        now=run.clock.now,
        solve=run.solve,
        max_iterations=run.max_iterations,
        seed=run.seed,
    )
    if result is None:
        return
    for trip in Trip.objects.filter(run=result).order_by("pk"):
        run.trips += 1
        run.at(max(run.clock.now, trip.planned_departure), "pick_up", trip.pk)


def _pick_up(run: _Run, trip_id: int) -> None:
    """The rider collects the bags (retried a tick later while an order is not
    packed yet) and rides at the model speed: each stop is delivered at its
    planned offset from the actual departure."""
    from delivery.errors import TripStateRefused
    from delivery.models import Trip, TripState
    from delivery.riders import trip_pick_up

    trip = Trip.objects.select_related("rider").get(pk=trip_id)
    if trip.state != TripState.ASSIGNED:
        return
    try:
        trip_pick_up(
            store=run.store, rider=trip.rider, trip_id=trip.pk, now=run.clock.now
        )
    except TripStateRefused:
        run.at(run.clock.now + TICK, "pick_up", trip_id)
        return
    late = run.clock.now - trip.planned_departure
    run.busy_seconds += (trip.planned_return - trip.planned_departure).total_seconds()
    for stop in trip.stops.order_by("sequence"):
        run.at(stop.planned_arrival + late, "deliver", (trip.pk, stop.pk))


def _deliver(run: _Run, trip_id: int, stop_id: int) -> None:
    from delivery.models import Trip, TripStop
    from delivery.riders import stop_delivered

    trip = Trip.objects.select_related("rider").get(pk=trip_id)
    stop = TripStop.objects.select_related("fulfilment").get(pk=stop_id)
    stop_delivered(
        store=run.store,
        rider=trip.rider,
        trip_id=trip.pk,
        stop_id=stop.pk,
        latitude=str(stop.fulfilment.latitude),
        longitude=str(stop.fulfilment.longitude),
        now=run.clock.now,
    )


def _loop(run: _Run, *, hours: float, per_hour: float, progress: Any) -> None:
    import heapq

    from delivery.models import Fulfilment, FulfilmentState
    from delivery.packing import fulfilment_pack

    start = run.clock.now
    for offset in poisson_arrivals(run.rng, per_hour=per_hour, hours=hours):
        run.at(start + dt.timedelta(seconds=offset), "order")
    end = start + dt.timedelta(hours=hours)
    run.at(start, "tick")
    idle = list(run.pickers)
    shown = start
    while run.events:
        when, _, kind, payload = heapq.heappop(run.events)
        if when > end + DRAIN:
            break
        run.clock.advance_to(when)
        if progress is not None and run.clock.now - shown >= PROGRESS:
            shown = run.clock.now
            progress(run.clock.now - start, len(run.outcomes) + run.refused)
        if kind == "order":
            _order(run)
            _pickers_claim(run, idle)
        elif kind == "picked":
            picker, task = payload
            _picked(run, picker, task)
            idle.append(picker)
            _pickers_claim(run, idle)
        elif kind == "arrived":
            _arrived(run, *payload)
        elif kind == "pack":
            fulfilment_pack(store=run.store, reference=payload, packer=run.packer)
        elif kind == "pick_up":
            _pick_up(run, payload)
        elif kind == "deliver":
            _deliver(run, *payload)
        elif kind == "tick":
            _pickers_claim(run, idle)
            _dispatch(run)
            open_ = Fulfilment.objects.filter(pk__in=list(run.outcomes)).exclude(
                state__in=[FulfilmentState.DELIVERED, FulfilmentState.FAILED]
            )
            if run.clock.now < end or open_.exists():
                run.at(run.clock.now + TICK, "tick")


def busy_hour_ahead(store: Any, hour: int = 10) -> dt.datetime:
    """The next ``hour`` o'clock, store time: a run starts in opening hours
    whenever it is launched (the promise offers nothing while closed)."""
    now = dt.datetime.now(store.tz)
    at = now.replace(hour=hour, minute=0, second=0, microsecond=0)
    if at <= now:
        at = dt.datetime.combine(
            now.date() + dt.timedelta(days=1), dt.time(hour), tzinfo=store.tz
        )
    return at.astimezone(dt.UTC)


def simulate(
    *,
    store: Any,
    orders_per_hour: float,
    riders: int,
    hours: float,
    seed: int,
    pickers: int | None = None,
    solve: Any = None,
    max_iterations: int = 200,
    start: dt.datetime | None = None,
    progress: Any = None,
) -> Figures:
    """Run the store for ``hours`` of simulated time and return the figures.

    Everything happens in one transaction rolled back at the end (rather than
    on a copy of the store: the real rows, constraints and locks are used, and
    nothing outlives the run, not even the riders created for it)."""
    from django.db import transaction

    from delivery.models import Fulfilment
    from delivery.travel import delivery_settings

    start = start or busy_hour_ahead(store)
    if pickers is None:
        pickers = pickers_for(
            orders_per_hour=orders_per_hour,
            pick_seconds=delivery_settings(store).default_pick_seconds,
        )
    with transaction.atomic():
        try:
            clock = SimClock(start)
            with simulated_time(clock):
                run = _setup(
                    {
                        "seed": seed,
                        "riders": riders,
                        "pickers": pickers,
                        "orders_per_hour": orders_per_hour,
                        "hours": hours,
                        "solve": solve,
                        "max_iterations": max_iterations,
                    },
                    store,
                    start,
                )
                run.clock = clock
                _loop(run, hours=hours, per_hour=orders_per_hour, progress=progress)
                finished = run.clock.now
                outcomes = [
                    Outcome(run.outcomes[f.pk], f.deadline, f.delivered_at)
                    for f in Fulfilment.objects.filter(
                        pk__in=list(run.outcomes)
                    ).order_by("pk")
                ] + [Outcome("refused")] * run.refused
                shift_seconds = riders * max(
                    (finished - start).total_seconds(), hours * 3600
                )
                return figures_from(
                    outcomes,
                    trips=run.trips,
                    rider_busy_seconds=run.busy_seconds,
                    rider_shift_seconds=shift_seconds,
                )
        finally:
            transaction.set_rollback(True)
