"""The dispatcher: every 30 seconds per store, put the orders that are packed
(or about to be) on trips of free riders.

One tick (``dispatch_store``):

1. takes the store's dispatch lock (a transaction-scoped PostgreSQL advisory
   lock; a tick that finds it taken does nothing: the running one decides);
2. reads the deliveries packed, or whose bags are all on the rail (ready within
   ``READY_WITHIN``), that are on no live trip, and the riders on shift with no
   trip in hand (at the store, or on their way back from one); an order booked
   in a window is not ready before it can leave to arrive as its window opens,
   so it neither arrives early nor keeps a rider from express orders meanwhile;
3. builds a ``delivery.routing.problem.Problem`` (seconds from now, durations
   from the store's travel model) and calls the solver under the time budget;
4. makes a ``Trip`` for each route that must leave now (within one tick); the
   others wait for the next tick, when the picture is fresher;
5. records the tick (``DispatchRun``): the solver, its seconds and cost, the
   stops pooled, and for each trip why this rider.

An order is never on two trips: the lock serialises ticks of one store, and a
partial unique constraint on ``TripStop.fulfilment`` (live stops) is the
backstop.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Exists, OuterRef, Prefetch, Q
from django.utils import timezone
from django.utils.module_loading import import_string

from delivery.models import (
    DispatchRun,
    Fulfilment,
    FulfilmentMode,
    FulfilmentState,
    PickTask,
    PickTaskState,
    RiderShift,
    SlotKind,
    StopState,
    Trip,
    TripState,
    TripStop,
)
from delivery.routing.problem import Plan, Problem, Rider, Route, Stop
from delivery.selectors import riders_last_doors
from delivery.travel import (
    Point,
    TravelModel,
    delivery_settings,
    duration_matrix,
    store_point,
    travel_model,
)
from inventory.models import Store

logger = logging.getLogger(__name__)

TICK_SECONDS = 30
# A route whose first departure is later than this waits for the next tick.
DUE_WITHIN_SECONDS = TICK_SECONDS
# Orders whose every bag is on the rail join the problem if they will be packed
# within this long (their ready time is estimated).
READY_WITHIN = dt.timedelta(minutes=5)

Solve = Callable[..., Plan]


def default_solve() -> Solve:
    """The solver named by ``HEMA_DISPATCH_SOLVER`` (default: the routing
    package's ``solve``), imported when first needed (it is heavy)."""
    return import_string(settings.HEMA_DISPATCH_SOLVER)


@dataclass(frozen=True)
class _Candidate:
    fulfilment: Fulfilment
    point: Point
    ready_at: float
    bags: int


def _lock(store: Store) -> bool:
    """The store's dispatch lock for this transaction (False: a tick runs).
    SQLite has none: there the unique constraint alone guards."""
    if connection.vendor != "postgresql":
        return True
    digest = hashlib.blake2b(f"delivery.dispatch:{store.pk}".encode(), digest_size=8)
    key = int.from_bytes(digest.digest(), "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [key])
        return bool(cursor.fetchone()[0])


def _live_stop() -> Exists:
    return Exists(
        TripStop.objects.filter(
            fulfilment=OuterRef("pk"),
            state__in=[StopState.PENDING, StopState.DELIVERED],
        )
    )


def _window_departure(
    fulfilment: Fulfilment, ride_seconds: float
) -> dt.datetime | None:
    """The earliest a window order may leave the store: so that, ridden
    straight there, it arrives as its window opens (a shopper who chose 15:00
    to 15:30 is not home at 14:20). None for express: it leaves when ready."""
    slot = fulfilment.slot
    if slot is None or slot.kind != SlotKind.WINDOW:
        return None
    return slot.starts - dt.timedelta(seconds=ride_seconds)


def _candidates(
    store: Store, now: dt.datetime, model: TravelModel | None = None
) -> list[_Candidate]:
    """Deliveries packed, or with every bag on the rail, on no live trip; a
    window order only once its window is near (``_window_departure``)."""
    config = delivery_settings(store)
    unbagged = PickTask.objects.filter(fulfilment=OuterRef("pk")).filter(
        state__in=[PickTaskState.OPEN, PickTaskState.CLAIMED]
    )
    fulfilments = (
        Fulfilment.objects.filter(
            store=store,
            mode=FulfilmentMode.DELIVERY,
            latitude__isnull=False,
            longitude__isnull=False,
        )
        .filter(
            Q(state=FulfilmentState.PACKED)
            | Q(state=FulfilmentState.PICKING, skips_picking=False)
        )
        .exclude(_live_stop())
        .exclude(Q(state=FulfilmentState.PICKING) & Exists(unbagged))
        .annotate(
            bags=Count(
                "tasks", filter=Q(tasks__state=PickTaskState.BAGGED), distinct=True
            )
        )
        .select_related("slot")
        .prefetch_related(
            # The bags on the rail of an order still picking, for every
            # candidate in one query rather than one per order.
            Prefetch(
                "tasks",
                queryset=PickTask.objects.filter(state=PickTaskState.BAGGED),
                to_attr="bagged_tasks",
            )
        )
        .order_by("deadline", "pk")
    )
    pack = dt.timedelta(seconds=config.default_pack_seconds)
    model = model or travel_model(store, config)
    home = store_point(store)
    found = []
    for fulfilment in fulfilments:
        point = (float(fulfilment.latitude), float(fulfilment.longitude))
        ready = now
        not_before = _window_departure(fulfilment, model.seconds(home, point))
        if not_before is not None:
            if not_before - now > READY_WITHIN:
                continue  # its window is later: riders stay free meanwhile
            ready = max(ready, not_before)
        if fulfilment.state == FulfilmentState.PICKING:
            if fulfilment.bags == 0:
                continue  # everything short: nothing to carry
            arrivals = [
                task.arrived_at or task.expected_at or now
                for task in fulfilment.bagged_tasks
            ]
            ready = max([ready, max([now, *arrivals]) + pack])
            if ready - now > READY_WITHIN:
                continue
        found.append(
            _Candidate(
                fulfilment=fulfilment,
                point=point,
                ready_at=(ready - now).total_seconds(),
                bags=max(fulfilment.bags, 1),
            )
        )
    return found


def _free_riders(
    store: Store, now: dt.datetime, model: TravelModel | None = None
) -> tuple[list[Rider], dict[str, RiderShift], dict[str, str]]:
    """Riders on shift with no trip in hand; one on the way back from a trip is
    free when back at the store (its last stop plus the ride home)."""
    model = model or travel_model(store)
    busy = Trip.objects.filter(
        rider=OuterRef("rider"), state__in=[TripState.ASSIGNED, TripState.OUT]
    )
    shifts = list(
        RiderShift.objects.filter(store=store, ended_at__isnull=True)
        .exclude(Exists(busy))
        .order_by("started_at", "pk")
    )
    # Every rider's last door in one query (a tick runs every 30 seconds with
    # every rider on shift).
    doors = riders_last_doors(shift.pk for shift in shifts)
    home = store_point(store)
    riders, by_id, why = [], {}, {}
    for shift in shifts:
        available = 0.0
        reason = "at the store"
        if shift.pk in doors:
            arrived, lat, lng = doors[shift.pk]
            back = arrived + dt.timedelta(seconds=model.seconds((lat, lng), home))
            if back > now:
                available = (back - now).total_seconds()
                reason = f"on the way back, at the store by {back:%H:%M:%S} UTC"
        rider_id = str(shift.pk)
        riders.append(
            Rider(id=rider_id, available_at=available, capacity=shift.capacity_bags)
        )
        by_id[rider_id] = shift
        why[rider_id] = reason
    return riders, by_id, why


def problem_build(
    *, store: Store, now: dt.datetime
) -> tuple[Problem, dict[str, _Candidate], dict[str, RiderShift], dict[str, str]]:
    """The routing problem of the store now, with the rows behind its ids."""
    model = travel_model(store)  # read once for the whole tick
    candidates = _candidates(store, now, model)
    riders, shifts, why = _free_riders(store, now, model)
    stops = tuple(
        Stop(
            id=str(c.fulfilment.pk),
            ready_at=c.ready_at,
            deadline=(c.fulfilment.deadline - now).total_seconds(),
            service_seconds=model.handover_seconds,
            load=c.bags,
        )
        for c in candidates
    )
    problem = Problem(
        stops=stops,
        riders=tuple(riders),
        durations=duration_matrix(store, [c.point for c in candidates], model),
    )
    by_id = {s.id: c for s, c in zip(stops, candidates, strict=True)}
    return problem, by_id, shifts, why


def _trip_create(
    *,
    store: Store,
    route: Route,
    shift: RiderShift,
    candidates: dict[str, _Candidate],
    run: DispatchRun,
    now: dt.datetime,
) -> Trip | None:
    """One trip and its stops, or None when a stop went live elsewhere."""
    at = lambda seconds: now + dt.timedelta(seconds=seconds)  # noqa: E731
    try:
        with transaction.atomic():
            trip = Trip.objects.create(
                store=store,
                rider_id=shift.rider_id,
                shift=shift,
                run=run,
                planned_departure=at(route.departs_at),
                planned_return=at(route.returns_at),
            )
            TripStop.objects.bulk_create(
                TripStop(
                    trip=trip,
                    fulfilment=candidates[stop_id].fulfilment,
                    sequence=sequence,
                    deadline=candidates[stop_id].fulfilment.deadline,
                    planned_arrival=at(arrival),
                )
                for sequence, (stop_id, arrival) in enumerate(
                    zip(route.stop_ids, route.arrivals, strict=True), start=1
                )
            )
    except IntegrityError:
        logger.warning("dispatch %s: route of rider %s raced", store.code, shift.pk)
        return None
    return trip


def dispatch_store(
    *,
    store: Store,
    now: dt.datetime | None = None,
    solve: Solve | None = None,
    time_budget_seconds: float | None = None,
    max_iterations: int | None = None,
    seed: int = 0,
) -> DispatchRun | None:
    """One dispatcher tick of the store (see the module docstring). Returns the
    recorded run, or None when another tick holds the lock or there was nothing
    to deliver. ``solve`` defaults to the configured solver; tests pass a seed
    and an iteration limit instead of a wall-clock budget."""
    now = now or timezone.now()
    solve = solve or default_solve()
    if time_budget_seconds is None and max_iterations is None:
        time_budget_seconds = settings.HEMA_DISPATCH_BUDGET_SECONDS
    with transaction.atomic():
        if not _lock(store):
            return None
        problem, candidates, shifts, why = problem_build(store=store, now=now)
        if not problem.stops:
            return None
        run = DispatchRun.objects.create(
            store=store,
            started_at=now,
            stops_considered=len(problem.stops),
            riders_considered=len(problem.riders),
        )
        if not problem.riders:
            run.notes = "no rider free: every order waits for the next tick"
            run.finished_at = timezone.now()
            run.save(update_fields=["notes", "finished_at"])
            return run
        started = time.monotonic()
        plan = solve(
            problem,
            time_budget_seconds=time_budget_seconds,
            max_iterations=max_iterations,
            seed=seed,
        )
        elapsed = time.monotonic() - started
        decisions, trips, pooled = [], 0, 0
        for route in plan.routes:
            if not route.stop_ids:
                continue
            due = route.departs_at <= DUE_WITHIN_SECONDS
            decision = {
                "rider_shift": int(route.rider_id),
                "rider": shifts[route.rider_id].rider_id,
                "why": why[route.rider_id],
                "stops": [candidates[s].fulfilment.reference for s in route.stop_ids],
                "departs_in_seconds": round(route.departs_at),
                "lateness_seconds": [round(late) for late in route.lateness],
                "pooled": len(route.stop_ids) > 1,
                "trip": None,
            }
            if due:
                trip = _trip_create(
                    store=store,
                    route=route,
                    shift=shifts[route.rider_id],
                    candidates=candidates,
                    run=run,
                    now=now,
                )
                if trip is not None:
                    decision["trip"] = trip.pk
                    trips += 1
                    if len(route.stop_ids) > 1:
                        pooled += len(route.stop_ids)
            else:
                decision["waits"] = "departs after this tick: decided next tick"
            decisions.append(decision)
        run.solver = plan.solver
        run.solver_seconds = plan.seconds or elapsed
        run.cost = plan.cost
        run.trips_created = trips
        run.stops_pooled = pooled
        run.decisions = decisions
        notes = list(plan.notes)
        if plan.unassigned:
            notes.append(f"unassigned: {', '.join(plan.unassigned)}")
        run.notes = "; ".join(notes)
        run.finished_at = timezone.now()
        run.save()
        return run


def stores_to_dispatch() -> list[int]:
    """Active stores with a rider on shift (the fan-out's list)."""
    on_shift = RiderShift.objects.filter(store=OuterRef("pk"), ended_at__isnull=True)
    return list(
        Store.objects.filter(Exists(on_shift), is_active=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
