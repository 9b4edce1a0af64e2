"""Pick tasks: claim the next task of a zone, confirm each line by its shelf QR
(and weight), report a shelf short, and put the task in its bag.

Batching: none. One task is one fulfilment's lines in one zone, carried in one
bag. A zone is a few aisles, so a task is already a short walk; a bag per order
keeps the rail and the packing station trivial (every arriving bag belongs to
one order, no sorting at packing), and the claim order stays the deadline order
(the promise is the constraint, not the walk). Batching two small orders of a
zone would save a walk but needs a multi-bag trolley and sorting at packing;
the task model allows it later (a claim that takes several tasks).

Every write takes the line's stock row first (inventory's lock order), then
the line and its task, and sends its signal inside the same transaction, so
orders changes the order in it and a failure there rolls everything back.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.core import signing
from django.db import transaction
from django.utils import timezone

from delivery import signals
from delivery.errors import (
    BagRefused,
    LineNotOpen,
    NothingToClaim,
    TaskNotFound,
    TaskNotPicked,
    TaskNotYours,
    WeightOutsideTolerance,
    WrongProduct,
)
from delivery.fulfilment import task_close_if_empty
from delivery.models import (
    Bag,
    Fulfilment,
    FulfilmentLine,
    FulfilmentState,
    LineState,
    PickTask,
    PickTaskState,
    RailStation,
    RecountRequest,
    StationKind,
)
from hema.errors import InvalidInput
from inventory.errors import InvalidScanCode
from inventory.models import Store, StoreProduct, Zone
from inventory.qr import parse_scan_code
from inventory.services import reservation_mark_short, reservation_pick

BAG_SALT = "delivery.bag"


# --- Claiming -------------------------------------------------------------------------


def zone_get(*, store: Store, zone_code: str) -> Zone:
    zone = Zone.objects.filter(store=store, code=(zone_code or "").upper()).first()
    if zone is None:
        raise InvalidInput(
            f"{store.code} has no zone {zone_code!r}.",
            {
                "field": "zone",
                "zones": list(store.zones.values_list("code", flat=True)),
            },
        )
    return zone


@transaction.atomic
def pick_task_claim(*, store: Store, zone: Zone, picker: Any) -> PickTask:
    """The next task of the zone, earliest deadline first, for this picker.

    ``SELECT ... FOR UPDATE SKIP LOCKED``: two pickers claiming at once each
    lock a different open task, never the same one. A picker who already has a
    task of the zone in hand gets that one back (a scanner that lost the answer
    and asks again must not take a second task). Raises ``NothingToClaim``.
    """
    mine = PickTask.objects.filter(
        store=store, zone=zone, state=PickTaskState.CLAIMED, picker=picker
    ).first()
    if mine is not None:
        return mine
    task = (
        PickTask.objects.select_for_update(skip_locked=True)
        .filter(store=store, zone=zone, state=PickTaskState.OPEN)
        .order_by("deadline", "pk")
        .first()
    )
    if task is None:
        raise NothingToClaim(
            f"No task waits in zone {zone.code}.", {"field": "zone", "zone": zone.code}
        )
    now = timezone.now()
    PickTask.objects.filter(pk=task.pk).update(
        state=PickTaskState.CLAIMED, picker=picker, claimed_at=now, updated_at=now
    )
    task.state, task.picker, task.claimed_at = PickTaskState.CLAIMED, picker, now
    return task


def task_for_picker(*, store: Store, task_id: Any, picker: Any) -> PickTask:
    """A task of the store; another picker's task is refused naming who has it."""
    try:
        task = PickTask.objects.select_related("fulfilment", "zone").get(
            pk=int(task_id), store=store
        )
    except (PickTask.DoesNotExist, TypeError, ValueError):
        raise TaskNotFound(
            f"No task {task_id} at {store.code}.", {"field": "task"}
        ) from None
    _check_mine(task, picker)
    return task


def _check_mine(task: PickTask, picker: Any) -> None:
    if task.state != PickTaskState.CLAIMED or task.picker_id != picker.pk:
        whose = "another picker's" if task.picker_id != picker.pk else task.state
        raise TaskNotYours(
            f"Task {task.pk} is {whose}, not yours to pick.",
            {"field": "task", "state": task.state},
        )


def _locked_line(
    *, task: PickTask, line_id: Any, picker: Any
) -> tuple[FulfilmentLine, PickTask]:
    """Lock the line's stock row, then the line and its task (in that order),
    and check that the task is still this picker's and the line still to pick."""
    try:
        line_pk = int(line_id)
    except (TypeError, ValueError):
        raise InvalidInput("Not a line id.", {"field": "line"}) from None
    store_product_id = (
        FulfilmentLine.objects.filter(pk=line_pk, task=task)
        .values_list("store_product_id", flat=True)
        .first()
    )
    if store_product_id is None:
        raise InvalidInput(f"Task {task.pk} has no line {line_id}.", {"field": "line"})
    list(
        StoreProduct.objects.select_for_update(of=("self",))
        .filter(pk=store_product_id)
        .order_by()  # one row: no join of the store and product to sort it
        .values_list("pk", flat=True)
    )
    line = (
        FulfilmentLine.objects.select_for_update(of=("self",))
        .select_related("store_product__product", "reservation", "fulfilment__store")
        .get(pk=line_pk)
    )
    task = PickTask.objects.select_for_update().get(pk=task.pk)
    _check_mine(task, picker)
    if line.state != LineState.OPEN:
        raise LineNotOpen(
            f"Line {line.pk} is already {line.state}.",
            {"field": "line", "state": line.state},
        )
    return line, task


def _expected(line: FulfilmentLine) -> dict[str, str]:
    product = line.store_product.product
    return {
        "expected_sku": product.sku,
        "expected_name": product.name,
        "shelf_location": line.store_product.shelf_location,
    }


def _check_code(line: FulfilmentLine, code: str) -> None:
    """The scanned shelf code must be the line's product, in this store."""
    product = line.store_product.product
    try:
        store_code, sku = parse_scan_code(code)
    except InvalidScanCode as exc:
        raise WrongProduct(
            f"{exc.message} Scan the shelf code of {product.name} ({product.sku}).",
            {"field": "code", **_expected(line)},
        ) from None
    wrong_store = store_code is not None and store_code != line.fulfilment.store.code
    if sku != product.sku or wrong_store:
        raise WrongProduct(
            f"Wrong product: this line is {product.name} ({product.sku})"
            + (
                f" at {line.store_product.shelf_location}."
                if line.store_product.shelf_location
                else "."
            ),
            {"field": "code", "scanned": sku, **_expected(line)},
        )


def _picked_quantity(line: FulfilmentLine, weight: Any, quantity: Any) -> Decimal:
    """What leaves the shelf: a weighed line its weight, within the line's
    tolerance; a piece line exactly what was ordered (else report it short)."""
    product = line.store_product.product
    if product.is_weighed:
        if weight in (None, ""):
            raise InvalidInput(
                f"{product.name} is sold by weight: send weight_kg.",
                {"field": "weight_kg"},
            )
        try:
            value = Decimal(str(weight))
        except InvalidOperation:
            raise InvalidInput("Not a weight.", {"field": "weight_kg"}) from None
        if not value.is_finite() or value <= 0:
            raise InvalidInput("Not a weight.", {"field": "weight_kg"})
        value = value.quantize(Decimal("0.001"))
        low = (line.quantity * (1 - line.weight_tolerance)).quantize(Decimal("0.001"))
        high = (line.quantity * (1 + line.weight_tolerance)).quantize(Decimal("0.001"))
        if not low <= value <= high:
            verb = "add some" if value < low else "take some out"
            raise WeightOutsideTolerance(
                f"{value} kg is outside {low}-{high} kg for {line.quantity} kg of "
                f"{product.name}: {verb} and weigh again.",
                {
                    "field": "weight_kg",
                    "weight_kg": str(value),
                    "min_kg": str(low),
                    "max_kg": str(high),
                },
            )
        return value
    if quantity not in (None, ""):
        try:
            given = Decimal(str(quantity))
        except InvalidOperation:
            raise InvalidInput("Not a quantity.", {"field": "quantity"}) from None
        if given != line.quantity:
            raise InvalidInput(
                f"This line is {line.quantity} of {product.name}; if the shelf has "
                "fewer, report the line short.",
                {"field": "quantity", "expected": str(line.quantity)},
            )
    return line.quantity


def _start_fulfilment(fulfilment: Fulfilment, now: Any) -> None:
    """The first pick (or shortage) of a fulfilment starts its picking timer."""
    Fulfilment.objects.filter(pk=fulfilment.pk, state=FulfilmentState.OPEN).update(
        state=FulfilmentState.PICKING, first_pick_at=now, updated_at=now
    )


@transaction.atomic
def pick_line_confirm(
    *,
    task: PickTask,
    line_id: Any,
    code: str,
    picker: Any,
    weight_kg: Any = None,
    quantity: Any = None,
) -> FulfilmentLine:
    """Confirm a line by scanning its shelf QR (and weighing a weighed line).

    A wrong product is refused naming the expected one; a weight outside the
    line's tolerance is refused telling the picker which way to adjust; nothing
    changes either way. Confirmed, inventory's ``reservation_pick`` sells what
    was picked (from then on a till sale cannot short it) and ``line_picked``
    is sent in this transaction: orders charges the picked weight.
    """
    line, task = _locked_line(task=task, line_id=line_id, picker=picker)
    _check_code(line, code)
    picked = _picked_quantity(line, weight_kg, quantity)
    reservation = line.reservation
    if reservation is None:
        raise LineNotOpen(
            f"Line {line.pk} holds no stock.", {"field": "line", "state": "no hold"}
        )
    if reservation.store_product_id == line.store_product_id:
        # Read with the line already (and its product): not read again.
        reservation.store_product = line.store_product
    reservation_pick(
        reservation=reservation,
        quantity=picked,
        unit_price=line.unit_price,
        actor=picker,
    )
    now = timezone.now()
    FulfilmentLine.objects.filter(pk=line.pk).update(
        state=LineState.PICKED,
        quantity_picked=picked,
        picked_at=now,
        picked_by=picker,
        updated_at=now,
    )
    line.state, line.quantity_picked, line.picked_at = LineState.PICKED, picked, now
    _start_fulfilment(line.fulfilment, now)
    signals.line_picked.send(
        sender=FulfilmentLine, line=line, quantity=picked, actor=picker
    )
    return line


def _flag_recount(line: FulfilmentLine, picker: Any, reason: str) -> None:
    exists = RecountRequest.objects.filter(
        store_product_id=line.store_product_id, resolved_at__isnull=True
    ).exists()
    if not exists:
        RecountRequest.objects.create(
            store_id=line.fulfilment.store_id,
            store_product_id=line.store_product_id,
            reason=reason,
            reported_by=picker,
        )


@transaction.atomic
def pick_line_short(
    *, task: PickTask, line_id: Any, picker: Any, reason: str = ""
) -> FulfilmentLine:
    """The shelf cannot fill the line: its reservation is released as short,
    the store product goes on the manager's recount list, and ``line_short``
    makes orders substitute or refund it, all in this transaction."""
    line, task = _locked_line(task=task, line_id=line_id, picker=picker)
    reason = (reason or "shelf empty at pick")[:200]
    if line.reservation is not None:
        reservation_mark_short(
            reservation=line.reservation,
            actor=picker,
            reason=reason,
            announce=False,
        )
    now = timezone.now()
    FulfilmentLine.objects.filter(pk=line.pk).update(
        state=LineState.SHORT, picked_by=picker, picked_at=now, updated_at=now
    )
    line.state = LineState.SHORT
    _flag_recount(
        line, picker, f"short at pick ({line.fulfilment.reference}): {reason}"
    )
    _start_fulfilment(line.fulfilment, now)
    signals.line_short.send(sender=FulfilmentLine, line=line, actor=picker)
    task_close_if_empty(task.pk)
    return line


# --- Bags -----------------------------------------------------------------------------


def bag_token(bag: Bag) -> str:
    """What a bag's printed QR carries: its code, signed, so that a code made up
    or copied from another chain's bag is refused."""
    return signing.dumps({"s": bag.store.code, "b": bag.code}, salt=BAG_SALT)


def _bag_from_token(store: Store, token: str) -> Bag:
    try:
        data = signing.loads((token or "").strip(), salt=BAG_SALT)
    except signing.BadSignature:
        raise BagRefused(
            "Not one of our bags: the code's signature does not match.",
            {"field": "bag"},
        ) from None
    if not isinstance(data, dict) or data.get("s") != store.code:
        raise BagRefused(
            f"This bag belongs to another store, not {store.code}.", {"field": "bag"}
        )
    bag = (
        Bag.objects.select_for_update()
        .filter(store=store, code=data.get("b"), is_active=True)
        .order_by("pk")  # the code is unique: no join of the store to sort by
        .first()
    )
    if bag is None:
        raise BagRefused("Unknown bag.", {"field": "bag"})
    return bag


def hang_station(task: PickTask) -> RailStation | None:
    if task.zone_id is None:
        return None
    return (
        RailStation.objects.filter(
            zone_id=task.zone_id, kind=StationKind.HANG, is_active=True
        )
        .order_by("pk")  # one active hang station a zone: nothing to sort by
        .first()
    )


@transaction.atomic
def pick_task_bag(*, task: PickTask, bag_code: str, picker: Any) -> PickTask:
    """Put a picked task in a bag (its signed QR scanned) to hang at the zone's
    station. Refused while a line is still to pick, for a bag that is not ours
    or one already carrying another task; nothing changes then."""
    task = (
        PickTask.objects.select_for_update(of=("self",))
        .select_related("store")
        .get(pk=task.pk)
    )
    _check_mine(task, picker)
    open_lines = list(
        task.lines.filter(state=LineState.OPEN).values_list("pk", flat=True)
    )
    if open_lines:
        raise TaskNotPicked(
            f"Task {task.pk} still has {len(open_lines)} line(s) to pick or report "
            "short.",
            {"field": "task", "open_lines": open_lines},
        )
    bag = _bag_from_token(task.store, bag_code)
    if bag.task_id is not None:
        raise BagRefused(
            f"Bag {bag.code} already carries another task; take a free bag.",
            {"field": "bag", "bag": bag.code},
        )
    now = timezone.now()
    station = hang_station(task)
    Bag.objects.filter(pk=bag.pk).update(task=task, updated_at=now)
    PickTask.objects.filter(pk=task.pk).update(
        state=PickTaskState.BAGGED, bagged_at=now, location=station, updated_at=now
    )
    # The row is locked and was read above: what changed is set, not read back.
    task.state, task.bagged_at, task.location = PickTaskState.BAGGED, now, station
    task.updated_at = now
    return task


def task_lines(task: PickTask) -> list[FulfilmentLine]:
    """The task's lines in walking order (shelf location), with their products."""
    return sorted(
        task.lines.exclude(state=LineState.CANCELLED).select_related(
            "store_product__product"
        ),
        key=lambda line: (line.store_product.shelf_location, line.pk),
    )
