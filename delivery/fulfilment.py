"""Fulfilments: opened in the payment's transaction, closed by a cancel before
picking, and told by inventory when a till sale took a line's units.

Lock order (shared with picking and packing): a stock row first (inventory's
services take it), then the fulfilment's rows (lines, tasks, the fulfilment),
then the order (orders' handlers, inside the signals). A cancel from orders takes
the stock rows and the order first and then calls ``fulfilment_cancel``: it
cannot deadlock with a pick, because both take the picked line's stock row
first.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from delivery.errors import PickingStarted
from delivery.models import (
    Bag,
    DeliveryBooking,
    Fulfilment,
    FulfilmentLine,
    FulfilmentMode,
    FulfilmentState,
    LineState,
    PickTask,
    PickTaskState,
    RailStation,
    StationKind,
)
from inventory.models import Reservation, Store, StoreProduct


@dataclass(frozen=True)
class LineSpec:
    """One order line as the store must fill it (orders builds these)."""

    order_line_id: int
    store_product: StoreProduct
    quantity: Decimal
    unit_price: Decimal
    reservation_id: int | None
    weight_tolerance: Decimal = Decimal("0.100")


def packing_station_for(store: Store) -> RailStation | None:
    return (
        RailStation.objects.filter(
            store=store, kind=StationKind.PACKING, is_active=True
        )
        .order_by("code")
        .first()
    )


def _lines_create(fulfilment: Fulfilment, specs: Sequence[LineSpec]) -> None:
    """Write the lines and one pick task per zone (lines without a zone share a
    zone-less task), each with the fulfilment's deadline."""
    by_zone: dict[int | None, list[LineSpec]] = defaultdict(list)
    for spec in specs:
        by_zone[spec.store_product.zone_id].append(spec)
    zones = sorted(by_zone.items(), key=lambda i: i[0] or 0)
    tasks: list[PickTask | None] = [None] * len(zones)
    if not fulfilment.skips_picking:
        # One INSERT for every zone's task (their ids come back in this order).
        tasks = PickTask.objects.bulk_create(
            [
                PickTask(
                    fulfilment=fulfilment,
                    store_id=fulfilment.store_id,
                    zone_id=zone_id,
                    deadline=fulfilment.deadline,
                )
                for zone_id, _ in zones
            ]
        )
    lines = []
    for (_, zone_specs), task in zip(zones, tasks, strict=True):
        lines.extend(
            FulfilmentLine(
                fulfilment=fulfilment,
                order_line_id=spec.order_line_id,
                task=task,
                store_product=spec.store_product,
                reservation_id=spec.reservation_id,
                quantity=spec.quantity,
                unit_price=spec.unit_price,
                weight_tolerance=spec.weight_tolerance,
                state=LineState.PICKED if fulfilment.skips_picking else LineState.OPEN,
                quantity_picked=spec.quantity if fulfilment.skips_picking else None,
            )
            for spec in zone_specs
        )
    FulfilmentLine.objects.bulk_create(lines)


def open_fulfilment(
    *,
    order_id: int,
    reference: str,
    store: Store,
    mode: str,
    deadline: dt.datetime | None,
    paid_at: dt.datetime,
    lines: Sequence[LineSpec],
    skips_picking: bool = False,
    latitude: Decimal | None = None,
    longitude: Decimal | None = None,
    slot_id: int | None = None,
) -> Fulfilment:
    """Open the store's work for a paid order, in the payment's transaction.

    The deadline is the promise (``deadline``), or for a pickup without one the
    store's promise from payment. An app order splits into one pick task per
    zone; an in-store purchase sent home (``skips_picking``) has none: it is
    packed at the counter. One fulfilment per order (a unique key): opening a
    second is an IntegrityError, which the payment's own guards never reach.
    The packing station is chosen when the first bag is hung, so that opening
    costs three inserts (the fulfilment, its tasks, its lines). A delivery
    records its address (the dispatcher routes to it) and the slot its promise
    booked (``slot_id`` when the caller has the booking in hand, else looked
    up by ``reference``).
    """
    if deadline is None:
        deadline = paid_at + dt.timedelta(minutes=store.delivery_promise_minutes)
    fulfilment = Fulfilment.objects.create(
        order_id=order_id,
        reference=reference,
        store=store,
        mode=mode,
        skips_picking=skips_picking,
        deadline=deadline,
        paid_at=paid_at,
        latitude=latitude,
        longitude=longitude,
        slot_id=_booked_slot(mode=mode, slot_id=slot_id, reference=reference),
    )
    _lines_create(fulfilment, lines)
    return fulfilment


def _booked_slot(*, mode: str, slot_id: int | None, reference: str) -> int | None:
    """The slot a delivery's promise booked: the caller's, else its booking's."""
    if mode != FulfilmentMode.DELIVERY:
        return None
    if slot_id is not None:
        return slot_id
    return (
        DeliveryBooking.objects.filter(reference=reference)
        .values_list("slot_id", flat=True)
        .first()
    )


def bags_free(task_ids: Sequence[int] | QuerySet) -> None:
    """The bags of these tasks are free again (``task_ids`` may be a query of
    the ids, run as a subquery of the one UPDATE)."""
    if not isinstance(task_ids, QuerySet):
        task_ids = list(task_ids)
    Bag.objects.filter(task_id__in=task_ids).update(
        task=None, updated_at=timezone.now()
    )


@transaction.atomic
def fulfilment_cancel(*, order_id: int) -> Fulfilment | None:
    """Close an order's fulfilment before picking: its tasks and lines are
    cancelled and any bag bound to it is free again. Once a line was picked or
    reported short by a picker, it is refused (the order is being picked).
    Orders calls this inside its cancel, after locking its stock rows and the
    order; an order without a fulfilment (unpaid) returns None."""
    fulfilment = (
        Fulfilment.objects.select_for_update().filter(order_id=order_id).first()
    )
    if fulfilment is None or fulfilment.state == FulfilmentState.CANCELLED:
        return fulfilment
    if fulfilment.state != FulfilmentState.OPEN:
        raise PickingStarted(
            f"{fulfilment.reference} is {fulfilment.state}: too late to cancel.",
            {"field": "order", "state": fulfilment.state},
        )
    now = timezone.now()
    task_ids = list(
        PickTask.objects.select_for_update()
        .filter(fulfilment=fulfilment)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    PickTask.objects.filter(pk__in=task_ids).update(
        state=PickTaskState.CANCELLED, updated_at=now
    )
    bags_free(task_ids)
    fulfilment.lines.filter(state=LineState.OPEN).update(
        state=LineState.CANCELLED, updated_at=now
    )
    Fulfilment.objects.filter(pk=fulfilment.pk).update(
        state=FulfilmentState.CANCELLED, closed_at=now, updated_at=now
    )
    fulfilment.state = FulfilmentState.CANCELLED
    return fulfilment


@transaction.atomic
def fulfilment_close_empty(*, order_id: int) -> Fulfilment | None:
    """Close a fulfilment that has nothing left to carry: every line went short
    (at the shelf or to a till sale) and none was replaced. Its open tasks are
    cancelled and their bags freed, so no picker, packer or rider waits for it.
    A fulfilment with a line still to pick or already picked is left alone.
    Orders calls this inside the shortage's transaction, the order row locked."""
    fulfilment = (
        Fulfilment.objects.select_for_update().filter(order_id=order_id).first()
    )
    if fulfilment is None or fulfilment.state not in (
        FulfilmentState.OPEN,
        FulfilmentState.PICKING,
    ):
        return fulfilment
    if fulfilment.lines.filter(state__in=[LineState.OPEN, LineState.PICKED]).exists():
        return fulfilment
    now = timezone.now()
    task_ids = list(
        PickTask.objects.select_for_update()
        .filter(fulfilment=fulfilment)
        .exclude(state=PickTaskState.CANCELLED)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    PickTask.objects.filter(pk__in=task_ids).update(
        state=PickTaskState.CANCELLED, updated_at=now
    )
    bags_free(task_ids)
    Fulfilment.objects.filter(pk=fulfilment.pk).update(
        state=FulfilmentState.CANCELLED, closed_at=now, updated_at=now
    )
    fulfilment.state = FulfilmentState.CANCELLED
    return fulfilment


def fulfilment_line_add(*, order_id: int, spec: LineSpec) -> FulfilmentLine | None:
    """A substitute joins the order's fulfilment while it is still being picked:
    onto its zone's task if that is not bagged yet, else onto a new task.
    Returns None when the order has no fulfilment still picking (unpaid, or an
    in-store purchase). Caller holds a transaction."""
    fulfilment = (
        Fulfilment.objects.filter(
            order_id=order_id,
            state__in=[FulfilmentState.OPEN, FulfilmentState.PICKING],
            skips_picking=False,
        )
        .select_for_update(no_key=True)
        .first()
    )
    if fulfilment is None:
        return None
    zone_id = spec.store_product.zone_id
    task = (
        PickTask.objects.filter(
            fulfilment=fulfilment,
            state__in=[PickTaskState.OPEN, PickTaskState.CLAIMED],
        )
        .filter(Q(zone_id=zone_id) if zone_id else Q(zone__isnull=True))
        .first()
    )
    if task is None:
        task = PickTask.objects.create(
            fulfilment=fulfilment,
            store_id=fulfilment.store_id,
            zone_id=zone_id,
            deadline=fulfilment.deadline,
        )
    return FulfilmentLine.objects.create(
        fulfilment=fulfilment,
        order_line_id=spec.order_line_id,
        task=task,
        store_product=spec.store_product,
        reservation_id=spec.reservation_id,
        quantity=spec.quantity,
        unit_price=spec.unit_price,
        weight_tolerance=spec.weight_tolerance,
    )


def task_close_if_empty(task_id: int | None) -> None:
    """A task whose lines all went short (none picked) has nothing to carry: it
    is cancelled rather than bagged. Caller holds a transaction."""
    if task_id is None:
        return
    lines = FulfilmentLine.objects.filter(task_id=task_id)
    if lines.filter(state__in=[LineState.OPEN, LineState.PICKED]).exists():
        return
    PickTask.objects.filter(
        pk=task_id, state__in=[PickTaskState.OPEN, PickTaskState.CLAIMED]
    ).update(state=PickTaskState.CANCELLED, updated_at=timezone.now())


def on_reservation_short(sender: Any, reservation: Reservation, **kwargs: Any) -> None:
    """Listener of ``inventory.signals.reservation_short``: a till sale (or a
    recount) took the units of a line still to pick. The line is short here;
    orders, listening to the same signal, substitutes or refunds it (and adds a
    substitute to this fulfilment). Runs inside the sale's transaction, with the
    stock row locked."""
    line = (
        FulfilmentLine.objects.select_for_update(no_key=True)
        .filter(reservation_id=reservation.pk, state=LineState.OPEN)
        .first()
    )
    if line is None:
        return
    FulfilmentLine.objects.filter(pk=line.pk).update(
        state=LineState.SHORT, updated_at=timezone.now()
    )
    task_close_if_empty(line.task_id)
