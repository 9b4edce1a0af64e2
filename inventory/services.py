"""Every write to the stock count: one function per business action.

Rules kept here (and backed by the constraints in ``models.py``):

* Every change is a conditional ``UPDATE`` with ``F()`` expressions checked by its
  row count, plus one ``StockMovement`` row; nothing is read, changed in Python and
  saved back.
* Lock order is always the ``StoreProduct`` row first, then its reservations and
  lots, and several store products in primary-key order, so that no two services
  can deadlock each other.
* Online orders reserve from ``on_hand - reserved - online_buffer`` only. Goods in
  a shopper's hand at the till are never refused: when the count says fewer than
  were sold, the count was wrong; on hand drops to zero, a correction row records
  the difference, and the newest reservations that no longer fit are flagged short.
* A write-off or a pick never takes more than is on hand: it is refused, naming
  what is on hand, and nothing changes. A count correction (``stock_correct``) is
  the one way staff say the count was wrong.
* A store product's own settings (price, cost, place, buffer) change through
  ``store_product_update``, which writes only the named fields by primary key:
  never the counts (the services below) nor the shelf price (pricing, through
  ``shelf_prices_set``).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Case, DecimalField, F, Value, When
from django.db.models.functions import Round
from django.utils import timezone

from hema.errors import InvalidInput
from inventory.errors import (
    InsufficientStock,
    InvalidQuantity,
    MoreThanOnHand,
    ReservationNotHeld,
)
from inventory.models import (
    QUANTITY,
    MovementKind,
    Product,
    Reservation,
    ReservationState,
    SaleUnit,
    StockLot,
    StockMovement,
    Store,
    StoreProduct,
    Zone,
)
from inventory.signals import reservation_short

logger = logging.getLogger(__name__)

ZERO = Decimal("0.000")
QUANTITY_STEP = Decimal("0.001")
MAX_QUANTITY = Decimal("1000000000")  # what the quantity columns can hold


# --- Quantities --------------------------------------------------------------


def parse_quantity(
    *,
    product: Product,
    quantity: Any,
    field: str = "quantity",
    allow_zero: bool = False,
) -> Decimal:
    """A quantity as a Decimal with three places, or a refusal naming the field.

    By-the-piece products take whole numbers only; weighed products take kilograms
    to the gram.
    """
    try:
        value = Decimal(str(quantity))
    except (InvalidOperation, ValueError, TypeError):
        raise InvalidQuantity(
            f"{field} must be a number.", {"field": field, "value": str(quantity)}
        ) from None
    if not value.is_finite():
        raise InvalidQuantity(f"{field} must be a number.", {"field": field})
    if value < 0 or (value == 0 and not allow_zero):
        raise InvalidQuantity(
            f"{field} must be {'zero or more' if allow_zero else 'more than zero'}.",
            {"field": field, "value": str(value)},
        )
    if value >= MAX_QUANTITY:
        # Before quantizing: 1e30 has no room for three decimal places.
        raise InvalidQuantity(
            f"{field} is too large.", {"field": field, "max": str(MAX_QUANTITY)}
        )
    if value != value.quantize(QUANTITY_STEP):
        raise InvalidQuantity(
            f"{field} has more than three decimal places.",
            {"field": field, "value": str(value)},
        )
    if not product.is_weighed and value != value.to_integral_value():
        raise InvalidQuantity(
            f"{product.sku} is sold by the piece: {field} must be a whole number.",
            {"field": field, "value": str(value), "sku": product.sku},
        )
    return value.quantize(QUANTITY_STEP)


# --- Store products: what a store sells, at which list price, where ------------

# What a manager may change on a store product. The counts change only through
# the stock services below (each with its ledger row), the shelf price only
# through pricing (``shelf_prices_set``), and the store and product never: the
# ledger belongs to them.
STORE_PRODUCT_SETTINGS = (
    "is_active",
    "zone",
    "shelf_location",
    "list_price",
    "unit_cost",
    "online_buffer",
)
MONEY_STEP = Decimal("0.01")
MAX_MONEY = Decimal("10000000000")  # what the money columns can hold


def _parse_money(field: str, value: Any) -> Decimal:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        raise InvalidInput(
            f"{field} must be an amount.", {"field": field, "value": str(value)}
        ) from None
    if not amount.is_finite() or amount < 0 or amount >= MAX_MONEY:
        raise InvalidInput(
            f"{field} must be an amount of zero or more.",
            {"field": field, "value": str(value)},
        )
    if amount != amount.quantize(MONEY_STEP):
        raise InvalidInput(
            f"{field} has more than two decimal places.",
            {"field": field, "value": str(value)},
        )
    return amount.quantize(MONEY_STEP)


def store_product_settings_check(
    *, store_id: int, product: Product, data: Mapping[str, Any]
) -> dict[str, Any]:
    """The settings in ``data`` checked and normalised, or a refusal naming the field.

    Only the names in ``STORE_PRODUCT_SETTINGS`` are accepted: a count or the
    shelf price is refused here, whoever asks. Money has two places and is not
    negative; the online buffer is a quantity of the product (zero allowed); a
    zone must be one of the store's own. Reads nothing but ``data``.
    """
    values: dict[str, Any] = {}
    for name, value in data.items():
        if name not in STORE_PRODUCT_SETTINGS:
            raise InvalidInput(
                f"{name} cannot be set here: stock counts change through receiving, "
                "count corrections and write-offs, the shelf price through pricing.",
                {"field": name},
            )
        if name in ("list_price", "unit_cost"):
            values[name] = _parse_money(name, value)
        elif name == "online_buffer":
            values[name] = parse_quantity(
                product=product, quantity=value, field=name, allow_zero=True
            )
        elif name == "zone":
            if value is not None and (
                not isinstance(value, Zone) or value.store_id != store_id
            ):
                code = getattr(value, "code", value)
                raise InvalidInput(
                    f"Zone {code} belongs to another store.", {"field": "zone"}
                )
            values[name] = value
        elif name == "shelf_location":
            values[name] = (value or "").strip()
        else:
            values[name] = bool(value)
    return values


@transaction.atomic
def store_product_create(
    *,
    store: Store,
    product: Product,
    list_price: Any,
    unit_cost: Any,
    zone: Zone | None = None,
    shelf_location: str = "",
    online_buffer: Any = ZERO,
    is_active: bool = True,
) -> StoreProduct:
    """A store starts selling a product.

    It starts with nothing on hand or reserved (goods arrive through
    ``stock_receive``, so the ledger explains every unit) and with its shelf price
    at the list price until pricing sets one. Refused when the store already
    sells the product, also when a twin request created it a moment before.
    """
    values = store_product_settings_check(
        store_id=store.pk,
        product=product,
        data={
            "list_price": list_price,
            "unit_cost": unit_cost,
            "zone": zone,
            "shelf_location": shelf_location,
            "online_buffer": online_buffer,
            "is_active": is_active,
        },
    )
    already = InvalidInput(
        f"{store.code} already sells {product.sku}.",
        {"field": "product", "sku": product.sku},
    )
    if StoreProduct.objects.filter(store=store, product=product).exists():
        raise already
    try:
        # A twin request (a double-clicked Save) may insert between the check
        # and here: the unique constraint decides, and the loser is refused.
        with transaction.atomic():
            return StoreProduct.objects.create(
                store=store,
                product=product,
                shelf_price=values["list_price"],
                on_hand=ZERO,
                reserved=ZERO,
                **values,
            )
    except IntegrityError:
        if StoreProduct.objects.filter(store=store, product=product).exists():
            raise already from None
        raise


def store_product_update(
    *, store_product: StoreProduct, data: Mapping[str, Any]
) -> StoreProduct:
    """Change some of a store product's settings, and only those.

    One ``UPDATE`` of the named fields by primary key (HackSoft's
    ``model_update``), never a save of the whole row: a row read before an order
    reserved would otherwise write its stale counts back and lose the
    reservation. The counts and the shelf price are refused (see
    ``store_product_settings_check``). Takes no lock beyond the UPDATE's own.
    Returns the store product with the new values set on it.
    """
    values = store_product_settings_check(
        store_id=store_product.store_id, product=store_product.product, data=data
    )
    if not values:
        return store_product
    now = timezone.now()
    StoreProduct.objects.filter(pk=store_product.pk).update(**values, updated_at=now)
    for name, value in values.items():
        setattr(store_product, name, value)
    store_product.updated_at = now
    return store_product


# --- Internal building blocks -------------------------------------------------


def _lock_store_product(store_product_id: int) -> StoreProduct:
    return StoreProduct.objects.select_for_update(of=("self",)).get(pk=store_product_id)


def _already_done(
    store_product_id: int, request_id: str | None
) -> StockMovement | None:
    """The change a staff form's one-time ``request_id`` already made, if any.

    Caller holds the store product's row lock: a twin request waits for the
    first to commit, then finds its movement here.
    """
    if not request_id:
        return None
    return StockMovement.objects.filter(
        store_product_id=store_product_id, request_id=request_id
    ).first()


def _refuse_beyond_on_hand(
    locked: StoreProduct, *, product: Product, quantity: Decimal, verb: str
) -> None:
    """Refuse taking more than ``locked`` (its row lock held) has on hand."""
    if quantity > locked.on_hand:
        raise MoreThanOnHand(
            f"Cannot {verb} {quantity} of {product.sku}: only {locked.on_hand} on "
            "hand. If the shelf holds more, correct the count first.",
            {
                "field": "quantity",
                "sku": product.sku,
                "requested": str(quantity),
                "on_hand": str(locked.on_hand),
            },
        )


def _qty(expression: Any) -> Round:
    """A stock quantity computed in the database, rounded to the fields' three
    places. SQLite (the embedded default) does decimal arithmetic in binary
    floats: 0.3 - 0.1 - 0.2 is -2.8e-17 there, which breaks the checks that
    keep stock at or above zero (a weighed sale failed ``make demo`` on it).
    PostgreSQL's numeric is exact, so the rounding changes nothing there."""
    return Round(expression, 3)


def _consume_lots(*, store_product_id: int, quantity: Decimal) -> None:
    """Take ``quantity`` from the oldest lots first; unlotted stock absorbs the rest.

    The caller holds the store product's row lock, so lots are never raced.
    """
    remaining = quantity
    lots = StockLot.objects.filter(
        store_product_id=store_product_id, quantity_left__gt=0
    ).order_by("best_before", "pk")
    for lot in lots.select_for_update():
        if remaining <= 0:
            break
        take = min(lot.quantity_left, remaining)
        StockLot.objects.filter(pk=lot.pk).update(
            quantity_left=_qty(F("quantity_left") - take)
        )
        remaining -= take


def _consume_lots_of(wanted: Mapping[int, Decimal]) -> None:
    """``_consume_lots`` for several store products at once: their lots read
    (and locked) in one query, oldest first within each, and what each gives
    written in one UPDATE. The caller holds every one's store product row."""
    remaining = dict(wanted)
    taken: dict[int, Decimal] = {}
    lots = (
        StockLot.objects.filter(store_product_id__in=list(wanted), quantity_left__gt=0)
        .order_by("store_product_id", "best_before", "pk")
        .select_for_update()
        .values_list("pk", "store_product_id", "quantity_left")
    )
    for pk, store_product_id, quantity_left in lots:
        if remaining[store_product_id] <= 0:
            continue
        take = min(quantity_left, remaining[store_product_id])
        taken[pk] = take
        remaining[store_product_id] -= take
    if taken:
        StockLot.objects.filter(pk__in=list(taken)).update(
            quantity_left=_qty(
                F("quantity_left")
                - Case(
                    *(When(pk=pk, then=Value(take)) for pk, take in taken.items()),
                    output_field=DecimalField(**QUANTITY),
                )
            )
        )


def _flag_short(
    *, store_product: StoreProduct, room_needed: Decimal, exclude_pk: int | None = None
) -> list[Reservation]:
    """Flag the newest held reservations short until ``room_needed`` is freed.

    Later orders give way so that the earliest promises are kept. Caller holds the
    store product's lock.
    """
    flagged: list[Reservation] = []
    freed = ZERO
    held = (
        Reservation.objects.select_for_update()
        .filter(store_product_id=store_product.pk, state=ReservationState.HELD)
        .order_by("-pk")
    )
    if exclude_pk is not None:
        held = held.exclude(pk=exclude_pk)
    for reservation in held:
        if freed >= room_needed:
            break
        Reservation.objects.filter(pk=reservation.pk).update(
            state=ReservationState.SHORT
        )
        reservation.state = ReservationState.SHORT
        _return_reserved(
            reservation,
            kind=MovementKind.SHORT,
            actor=None,
            reason="no longer fits the shelf count",
        )
        flagged.append(reservation)
        freed += reservation.quantity
    for reservation in flagged:
        logger.info("reservation %s flagged short", reservation.pk)
        reservation_short.send(sender=Reservation, reservation=reservation)
    return flagged


def _return_reserved(
    reservation: Reservation, *, kind: str, actor: Any, reason: str
) -> None:
    """A reservation just left ``held`` without a sale: its units stop being
    reserved, with the ledger row saying why. Caller holds the row lock."""
    StoreProduct.objects.filter(pk=reservation.store_product_id).update(
        reserved=_qty(F("reserved") - reservation.quantity)
    )
    StockMovement.objects.create(
        store_product_id=reservation.store_product_id,
        kind=kind,
        reserved_delta=-reservation.quantity,
        reference=reservation.reference,
        reason=reason,
        actor=actor,
        reservation=reservation,
    )


@dataclass(frozen=True)
class _Take:
    kind: str
    quantity: Decimal
    unit_price: Decimal | None
    reference: str
    reason: str
    actor: Any
    release: Decimal = ZERO
    reservation: Reservation | None = None
    request_id: str = ""


def _take_in_hand(*, store_product_id: int, take: _Take) -> StockMovement:
    """Goods leave the shelf in someone's hand; the caller has decided they may (a
    till sale is never refused; a write-off or a pick was checked against on hand).

    Fast path: one conditional UPDATE that keeps ``reserved <= on_hand``. Slow path
    (the count disagrees with the shelf): lock the row, flag the newest
    reservations short, and if on hand is still too low, record a correction for
    the missing units so that on hand ends at zero, never below.
    """
    if not _take_if_room(store_product_id, take):
        store_product = _lock_store_product(store_product_id)
        if take.release:
            StoreProduct.objects.filter(pk=store_product_id).update(
                reserved=_qty(F("reserved") - take.release)
            )
            store_product.reserved -= take.release
        left_after = store_product.on_hand - take.quantity
        if left_after < store_product.reserved:
            _flag_short(
                store_product=store_product,
                room_needed=store_product.reserved - max(left_after, ZERO),
                exclude_pk=take.reservation.pk if take.reservation else None,
            )
        if left_after < 0:
            StockMovement.objects.create(
                store_product_id=store_product_id,
                kind=MovementKind.CORRECTION,
                on_hand_delta=-left_after,
                reference=take.reference,
                reason=f"count was {-left_after} short of goods taken ({take.kind})",
                actor=take.actor,
            )
            StoreProduct.objects.filter(pk=store_product_id).update(
                on_hand=_qty(F("on_hand") - left_after)
            )
            logger.warning(
                "store product %s: %s took %s with %s counted; corrected",
                store_product_id,
                take.kind,
                take.quantity,
                store_product.on_hand,
            )
        StoreProduct.objects.filter(pk=store_product_id).update(
            on_hand=_qty(F("on_hand") - take.quantity)
        )
    return _take_recorded(store_product_id=store_product_id, take=take)


def _take_if_room(store_product_id: int, take: _Take) -> bool:
    """``_take_in_hand``'s fast path: the one conditional UPDATE that keeps
    ``reserved <= on_hand``; False (nothing written) when the count disagrees."""
    return bool(
        StoreProduct.objects.filter(
            pk=store_product_id,
            on_hand__gte=_qty(F("reserved") - take.release + take.quantity),
        ).update(
            on_hand=_qty(F("on_hand") - take.quantity),
            reserved=_qty(F("reserved") - take.release),
        )
    )


def _take_recorded(*, store_product_id: int, take: _Take) -> StockMovement:
    """The lots and the ledger row of goods that just left the count."""
    _consume_lots(store_product_id=store_product_id, quantity=take.quantity)
    movement = _movement_of(store_product_id=store_product_id, take=take)
    movement.save(force_insert=True)
    return movement


def _movement_of(*, store_product_id: int, take: _Take) -> StockMovement:
    """The ledger row of goods that left the count (not written yet)."""
    return StockMovement(
        store_product_id=store_product_id,
        kind=take.kind,
        on_hand_delta=-take.quantity,
        reserved_delta=-take.release,
        unit_price=take.unit_price,
        reference=take.reference,
        reason=take.reason,
        actor=take.actor,
        reservation=take.reservation,
        request_id=take.request_id,
    )


# --- Goods in and counts -------------------------------------------------------


@transaction.atomic
def stock_receive(
    *,
    store_product: StoreProduct,
    quantity: Any,
    actor: Any = None,
    reference: str = "",
    best_before: dt.date | None = None,
    received_at: dt.datetime | None = None,
    request_id: str | None = None,
) -> StockMovement:
    """Goods arrive on the shelf. Perishables (a shelf life) are received as a lot.

    With a ``request_id`` (a staff form's one-time token) the receipt happens
    once: the same id again returns the first receipt and changes nothing.
    Then the store product's row is locked first.
    """
    product = store_product.product
    quantity = parse_quantity(product=product, quantity=quantity)
    if request_id:
        _lock_store_product(store_product.pk)
        if (done := _already_done(store_product.pk, request_id)) is not None:
            return done
    received_at = received_at or timezone.now()
    StoreProduct.objects.filter(pk=store_product.pk).update(
        on_hand=_qty(F("on_hand") + quantity)
    )
    if best_before is None and product.shelf_life_days is not None:
        local_day = timezone.localtime(received_at, store_product.store.tz).date()
        best_before = local_day + dt.timedelta(days=product.shelf_life_days)
    if best_before is not None:
        StockLot.objects.create(
            store_product=store_product,
            received_at=received_at,
            best_before=best_before,
            quantity_received=quantity,
            quantity_left=quantity,
            reference=reference,
        )
    return StockMovement.objects.create(
        store_product=store_product,
        kind=MovementKind.RECEIVE,
        on_hand_delta=quantity,
        reference=reference,
        actor=actor,
        request_id=request_id or "",
    )


@transaction.atomic
def stock_correct(
    *,
    store_product: StoreProduct,
    counted: Any,
    reason: str,
    actor: Any = None,
    request_id: str | None = None,
) -> StockMovement | None:
    """Set on hand to what staff counted on the shelf, with the reason.

    A count below what online orders hold flags the newest reservations short.
    Returns None when the count matches (nothing to record). With a
    ``request_id`` the correction happens once: sent again (after a sale
    meanwhile) it returns the first correction instead of undoing the sale.
    """
    if not reason or not reason.strip():
        raise InvalidQuantity("A count correction needs a reason.", {"field": "reason"})
    counted = parse_quantity(
        product=store_product.product,
        quantity=counted,
        field="counted",
        allow_zero=True,
    )
    locked = _lock_store_product(store_product.pk)
    if (done := _already_done(locked.pk, request_id)) is not None:
        return done
    delta = counted - locked.on_hand
    if delta == 0:
        return None
    if counted < locked.reserved:
        _flag_short(store_product=locked, room_needed=locked.reserved - counted)
    StoreProduct.objects.filter(pk=locked.pk).update(on_hand=_qty(F("on_hand") + delta))
    if delta < 0:
        _consume_lots(store_product_id=locked.pk, quantity=-delta)
    return StockMovement.objects.create(
        store_product=locked,
        kind=MovementKind.CORRECTION,
        on_hand_delta=delta,
        reason=reason.strip(),
        actor=actor,
        request_id=request_id or "",
    )


@transaction.atomic
def stock_write_off(
    *,
    store_product: StoreProduct,
    quantity: Any,
    reason: str,
    actor: Any = None,
    request_id: str | None = None,
) -> StockMovement:
    """Waste leaves the shelf (spoiled, damaged, past its date). Oldest lots first.

    Never more than is on hand: a larger write-off is refused, naming what is on
    hand, and nothing changes (a count that is wrong is corrected with
    ``stock_correct``, never covered by a write-off). Units that online orders
    hold may be written off; the newest such reservations are flagged short.
    With a ``request_id`` it happens once: the same id again returns the first
    write-off. Locks the store product's row.
    """
    if not reason or not reason.strip():
        raise InvalidQuantity("A write-off needs a reason.", {"field": "reason"})
    quantity = parse_quantity(product=store_product.product, quantity=quantity)
    locked = _lock_store_product(store_product.pk)
    if (done := _already_done(locked.pk, request_id)) is not None:
        return done
    _refuse_beyond_on_hand(
        locked, product=store_product.product, quantity=quantity, verb="write off"
    )
    return _take_in_hand(
        store_product_id=store_product.pk,
        take=_Take(
            kind=MovementKind.WRITE_OFF,
            quantity=quantity,
            unit_price=None,
            reference="",
            reason=reason.strip(),
            actor=actor,
            request_id=request_id or "",
        ),
    )


def stock_sell_in_store(
    *,
    store_product: StoreProduct,
    quantity: Any,
    unit_price: Decimal,
    reference: str = "",
    actor: Any = None,
) -> StockMovement:
    """A shopper pays for goods already in hand: never refused for stock.

    One line of ``stock_sell_in_store_lines`` (which see)."""
    [movement] = stock_sell_in_store_lines(
        lines=[SaleLine(store_product, quantity, unit_price)],
        reference=reference,
        actor=actor,
    )
    return movement


@dataclass(frozen=True)
class SaleLine:
    """One line of a till payment: goods in the shopper's hand, at a price."""

    store_product: StoreProduct
    quantity: Any
    unit_price: Decimal


def stock_sell_in_store_lines(
    *, lines: Sequence[SaleLine], reference: str = "", actor: Any = None
) -> list[StockMovement]:
    """The lines of one till payment leave the count: never refused for stock.
    Returns each line's ledger row, in the order of ``lines``.

    Each line is its own conditional UPDATE, in store-product order (the lock
    order); when the count has room (nearly always) its lots are then taken in
    one read and one UPDATE for every line and its ledger rows written in one
    INSERT. That is one transaction, the caller's when there is one (a till
    checkout), without a savepoint of its own: only the database can fail in
    it, and the caller cannot go on after that anyway. A line whose count
    disagrees with the shelf takes ``_take_in_hand``'s slow path in a savepoint
    as before, since the shortages it flags run orders' listeners, whose
    refusals a caller may catch. Bad quantities are refused before anything is
    written. Called outside a transaction, it opens one for all of it."""
    if not connection.in_atomic_block:
        with transaction.atomic():
            return stock_sell_in_store_lines(
                lines=lines, reference=reference, actor=actor
            )
    takes = sorted(
        (
            (
                line.store_product.pk,
                index,
                _Take(
                    kind=MovementKind.SALE_IN_STORE,
                    quantity=parse_quantity(
                        product=line.store_product.product, quantity=line.quantity
                    ),
                    unit_price=line.unit_price,
                    reference=reference,
                    reason="",
                    actor=actor,
                ),
            )
            for index, line in enumerate(lines)
        ),
        key=lambda item: (item[0], item[1]),
    )
    movements: dict[int, StockMovement] = {}
    with_room: list[tuple[int, int, _Take]] = []
    for store_product_id, index, take in takes:
        with transaction.atomic(savepoint=False):
            if _take_if_room(store_product_id, take):
                with_room.append((store_product_id, index, take))
                continue
        # Every count changed so far gets its lots and ledger rows before the
        # slow path, so that a refusal caught above it leaves none without.
        movements.update(_sales_recorded(with_room))
        with_room = []
        with transaction.atomic():
            movements[index] = _take_in_hand(
                store_product_id=store_product_id, take=take
            )
    movements.update(_sales_recorded(with_room))
    return [movements[index] for index in range(len(lines))]


def _sales_recorded(
    sold: Sequence[tuple[int, int, _Take]],
) -> dict[int, StockMovement]:
    """The lots and ledger rows of till lines whose counts just changed (each
    a store product id, the line's index and its take): one read and one
    UPDATE of the lots, one INSERT of the rows. Returns the rows by index."""
    if not sold:
        return {}
    with transaction.atomic(savepoint=False):
        wanted: dict[int, Decimal] = {}
        for store_product_id, _, take in sold:
            wanted[store_product_id] = (
                wanted.get(store_product_id, ZERO) + take.quantity
            )
        _consume_lots_of(wanted)
        created = StockMovement.objects.bulk_create(
            [
                _movement_of(store_product_id=store_product_id, take=take)
                for store_product_id, _, take in sold
            ]
        )
    return {
        index: movement for (_, index, _), movement in zip(sold, created, strict=True)
    }


# --- Online reservations ----------------------------------------------------------


@dataclass(frozen=True)
class ReservationLine:
    store_product: StoreProduct
    quantity: Any


def _merge_lines(
    lines: Sequence[ReservationLine],
) -> dict[int, tuple[StoreProduct, Decimal]]:
    merged: dict[int, tuple[StoreProduct, Decimal]] = {}
    for index, line in enumerate(lines):
        quantity = parse_quantity(
            product=line.store_product.product,
            quantity=line.quantity,
            field=f"lines[{index}].quantity",
        )
        previous = merged.get(line.store_product.pk)
        total = quantity + (previous[1] if previous else ZERO)
        merged[line.store_product.pk] = (line.store_product, total)
    return merged


def _shortage(store_product: StoreProduct, requested: Decimal) -> dict[str, str]:
    return {
        "sku": store_product.product.sku,
        "requested": str(requested),
        "available": str(store_product.available_online),
    }


_RESERVE_ONE_SQL = """
WITH taken AS (
    UPDATE {store_product} SET reserved = reserved + %(quantity)s
    WHERE id = %(store_product_id)s
      AND on_hand - reserved - online_buffer >= %(quantity)s
    RETURNING id
), held AS (
    INSERT INTO {reservation} (store_product_id, quantity, reference, reserved_until,
                               state, quantity_picked, created_at, updated_at)
    SELECT id, %(quantity)s, %(reference)s, %(reserved_until)s, 'held', 0,
           %(now)s, %(now)s
    FROM taken
    RETURNING id, store_product_id
)
INSERT INTO {movement} (store_product_id, kind, on_hand_delta, reserved_delta,
                        reference, reason, reservation_id, created_at)
SELECT store_product_id, 'reserve', 0, %(quantity)s, %(reference)s, '', id, %(now)s
FROM held
RETURNING reservation_id
"""


@functools.cache
def _reserve_one_sql() -> str:
    return _RESERVE_ONE_SQL.format(
        store_product=StoreProduct._meta.db_table,
        reservation=Reservation._meta.db_table,
        movement=StockMovement._meta.db_table,
    )


def _reserve_one_in_one_statement(
    *,
    store_product: StoreProduct,
    quantity: Decimal,
    reference: str,
    reserved_until: dt.datetime | None,
) -> Reservation | None:
    """PostgreSQL: the conditional UPDATE, the reservation and its ledger row as one
    statement (one round trip, the row locked for no longer than the statement).

    None when the UPDATE matched no row, that is, not enough available online.
    """
    now = timezone.now()
    sql = _reserve_one_sql()
    params = {
        "quantity": quantity,
        "store_product_id": store_product.pk,
        "reference": reference,
        "reserved_until": reserved_until,
        "now": now,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    reservation = Reservation(
        pk=row[0],
        store_product=store_product,
        quantity=quantity,
        reference=reference,
        reserved_until=reserved_until,
        state=ReservationState.HELD,
        quantity_picked=ZERO,
        created_at=now,
        updated_at=now,
    )
    reservation._state.adding = False
    reservation._state.db = connection.alias
    return reservation


def _refuse_one(store_product_id: int, quantity: Decimal) -> InsufficientStock:
    current = StoreProduct.objects.select_related("product").get(pk=store_product_id)
    short = _shortage(current, quantity)
    return InsufficientStock(
        f"Not enough stock for {short['sku']}: {short['available']} available.",
        {"lines": [short]},
    )


def stock_reserve(
    *,
    lines: Sequence[ReservationLine],
    reference: str,
    reserved_until: dt.datetime | None = None,
) -> list[Reservation]:
    """Hold stock for an online order: every line or none.

    Each line may take only ``on_hand - reserved - online_buffer``. One line is one
    conditional UPDATE (on PostgreSQL one statement with its reservation and
    ledger rows). Several lines lock their rows in primary-key order, check them
    all and refuse once, listing every short line with what is available.
    """
    if not lines:
        raise InvalidQuantity(
            "A reservation needs at least one line.", {"field": "lines"}
        )
    merged = _merge_lines(lines)
    if len(merged) == 1 and connection.vendor == "postgresql":
        [(store_product, quantity)] = merged.values()
        reservation = _reserve_one_in_one_statement(
            store_product=store_product,
            quantity=quantity,
            reference=reference,
            reserved_until=reserved_until,
        )
        if reservation is None:
            raise _refuse_one(store_product.pk, quantity)
        return [reservation]
    with transaction.atomic():
        return _reserve_lines(merged, reference, reserved_until)


def _reserve_lines(
    merged: dict[int, tuple[StoreProduct, Decimal]],
    reference: str,
    reserved_until: dt.datetime | None,
) -> list[Reservation]:
    ordered_ids = sorted(merged)
    if len(ordered_ids) > 1:
        locked = {
            sp.pk: sp
            for sp in StoreProduct.objects.select_for_update(of=("self",))
            .select_related("product")
            .filter(pk__in=ordered_ids)
            .order_by("pk")
        }
        short = [
            _shortage(locked[pk], merged[pk][1])
            for pk in ordered_ids
            if locked[pk].available_online < merged[pk][1]
        ]
        if short:
            raise InsufficientStock(
                "Not enough stock for " + ", ".join(s["sku"] for s in short) + ".",
                {"lines": short},
            )
    for pk in ordered_ids:
        quantity = merged[pk][1]
        updated = StoreProduct.objects.filter(
            pk=pk,
            on_hand__gte=_qty(F("reserved") + F("online_buffer") + quantity),
        ).update(reserved=_qty(F("reserved") + quantity))
        if not updated:
            raise _refuse_one(pk, quantity)
    reservations = Reservation.objects.bulk_create(
        [
            Reservation(
                store_product=merged[pk][0],
                quantity=merged[pk][1],
                reference=reference,
                reserved_until=reserved_until,
            )
            for pk in ordered_ids
        ]
    )
    StockMovement.objects.bulk_create(
        [
            StockMovement(
                store_product_id=r.store_product_id,
                kind=MovementKind.RESERVE,
                reserved_delta=r.quantity,
                reference=reference,
                reservation=r,
            )
            for r in reservations
        ]
    )
    return reservations


def _claim_held(
    reservation: Reservation, new_state: str, **changes: Any
) -> StoreProduct:
    """Move a held reservation to ``new_state`` (with ``changes`` to its other
    fields in the same UPDATE); refuse if it is no longer held.

    Locks the store product first (the lock order every service keeps) and
    returns it as locked.
    """
    locked = _lock_store_product(reservation.store_product_id)
    updated = Reservation.objects.filter(
        pk=reservation.pk, state=ReservationState.HELD
    ).update(state=new_state, updated_at=timezone.now(), **changes)
    if not updated:
        current = Reservation.objects.get(pk=reservation.pk)
        raise ReservationNotHeld(
            f"Reservation {reservation.pk} is {current.state}, not held.",
            {"reservation": reservation.pk, "state": current.state},
        )
    reservation.state = new_state
    return locked


@transaction.atomic
def reservation_release(
    *, reservation: Reservation, actor: Any = None, reason: str = ""
) -> Reservation:
    """Give held units back to the shelf (cancelled or unpaid order).

    Releasing one already released is a no-op, so retries are safe.
    """
    if reservation.state == ReservationState.RELEASED:
        return reservation
    try:
        _claim_held(reservation, ReservationState.RELEASED)
    except ReservationNotHeld as exc:
        if exc.extra.get("state") == ReservationState.RELEASED:
            reservation.state = ReservationState.RELEASED
            return reservation
        raise
    _give_back(reservation, actor=actor, reason=reason)
    return reservation


def _give_back(reservation: Reservation, *, actor: Any, reason: str) -> None:
    """The units of a reservation just moved to released return to the shelf."""
    _return_reserved(reservation, kind=MovementKind.RELEASE, actor=actor, reason=reason)


@transaction.atomic
def _release_if_expired(*, reservation: Reservation, now: dt.datetime) -> bool:
    """Release a hold only if it is still held *and* still expired.

    The claim is one conditional UPDATE on both, so an order paid after the sweep
    loaded its list (payment clears ``reserved_until``) keeps its units. Locks the
    store product first, like every service.
    """
    _lock_store_product(reservation.store_product_id)
    updated = Reservation.objects.filter(
        pk=reservation.pk, state=ReservationState.HELD, reserved_until__lt=now
    ).update(state=ReservationState.RELEASED, updated_at=timezone.now())
    if not updated:
        return False
    reservation.state = ReservationState.RELEASED
    _give_back(reservation, actor=None, reason="expired unpaid")
    return True


@transaction.atomic
def reservation_pick(
    *,
    reservation: Reservation,
    quantity: Any,
    unit_price: Decimal,
    actor: Any = None,
) -> Reservation:
    """The picker took ``quantity`` off the shelf for this reservation.

    What was picked is sold and what was reserved is released, in one transaction:
    a weighed line rarely matches its reservation. A heavier pick than reserved
    still leaves the shelf (the goods are in the bag), but never more than is on
    hand: that is refused, naming what is on hand, and the reservation stays
    held (the picker corrects the count first). Locks the store product's row.
    """
    product = reservation.store_product.product
    quantity = parse_quantity(product=product, quantity=quantity)
    locked = _claim_held(reservation, ReservationState.PICKED, quantity_picked=quantity)
    try:
        _refuse_beyond_on_hand(locked, product=product, quantity=quantity, verb="pick")
    except MoreThanOnHand:
        reservation.state = ReservationState.HELD  # the claim is rolled back
        raise
    reservation.quantity_picked = quantity
    _take_in_hand(
        store_product_id=reservation.store_product_id,
        take=_Take(
            kind=MovementKind.PICK,
            quantity=quantity,
            unit_price=unit_price,
            reference=reservation.reference,
            reason="",
            actor=actor,
            release=reservation.quantity,
            reservation=reservation,
        ),
    )
    return reservation


@transaction.atomic
def reservation_mark_short(
    *,
    reservation: Reservation,
    actor: Any = None,
    reason: str = "shelf empty",
    announce: bool = True,
) -> Reservation:
    """The picker found nothing on the shelf for this reservation.

    ``announce=False``: the caller reports the shortage upward itself (the
    picking flow sends delivery's ``line_short``), so ``reservation_short`` is
    not sent a second time for it."""
    _claim_held(reservation, ReservationState.SHORT)
    _return_reserved(reservation, kind=MovementKind.SHORT, actor=actor, reason=reason)
    if announce:
        reservation_short.send(sender=Reservation, reservation=reservation)
    return reservation


def reservations_release_expired(
    *, now: dt.datetime | None = None, limit: int = 1000
) -> int:
    """Release held reservations whose ``reserved_until`` has passed.

    Each in its own short transaction; one picked, released or paid (its expiry
    cleared) in the meantime is skipped. Returns how many were released.
    """
    now = now or timezone.now()
    expired = list(
        Reservation.objects.filter(
            state=ReservationState.HELD, reserved_until__lt=now
        ).select_related("store_product__product")[:limit]
    )
    return sum(
        _release_if_expired(reservation=reservation, now=now) for reservation in expired
    )


def reservations_confirm(*, reservations: Sequence[Reservation]) -> int:
    """A paid order keeps its units until picked: clear the expiry of held ones."""
    return Reservation.objects.filter(
        pk__in=[r.pk for r in reservations], state=ReservationState.HELD
    ).update(reserved_until=None, updated_at=timezone.now())


# --- Shelf prices (computed by pricing) ------------------------------------------


def _check_shelf_prices(prices: Mapping[int, Decimal]) -> dict[int, Decimal]:
    checked: dict[int, Decimal] = {}
    for pk, price in prices.items():
        if (
            not isinstance(price, Decimal)
            or not price.is_finite()
            or price < 0
            or price != price.quantize(Decimal("0.01"))
        ):
            raise InvalidInput(
                f"The shelf price of store product {pk} must be a Decimal with two "
                "places, not negative.",
                {"field": "prices", "store_product": pk, "value": str(price)},
            )
        checked[int(pk)] = price
    return checked


@transaction.atomic
def shelf_prices_set(*, store: Store, prices: Mapping[int, Decimal]) -> int:
    """Set the shelf price of many products of one store: the one price now.

    Pricing computes the prices; this is the only way they reach the shelf, so the
    scan read, the app, checkout and the labels all read the same number.
    ``prices`` maps store product ids to prices; ids of another store are left
    alone. The rows are locked in primary-key order first (the lock order every
    stock service keeps, so a bulk reprice cannot deadlock an order), then set
    in two statements whatever the number of products (``_column_bulk_set``).
    Returns the number of rows updated.
    """
    checked = _check_shelf_prices(prices)
    return _column_bulk_set(store=store, column="shelf_price", values=checked)


def _column_bulk_set(
    *,
    store: Store,
    column: str,
    values: Mapping[int, Decimal],
    only_changed: bool = False,
) -> int:
    """Write ``values`` (store product id -> checked value) into ``column`` of
    the store's rows; ids of another store are left alone. The rows are locked
    in primary-key order first (the lock order every stock service keeps, so a
    bulk write cannot deadlock an order), then set by one ``UPDATE ... FROM
    unnest(ids, values)`` on PostgreSQL: two statements whatever the number of
    products. Other databases use a ``CASE`` update in batches. With
    ``only_changed`` rows already holding their value are not written. Returns
    the number of rows written."""
    if not values:
        return 0
    now = timezone.now()
    ids = sorted(values)
    field = StoreProduct._meta.get_field(column)
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(StoreProduct._meta.db_table)
        name = connection.ops.quote_name(field.column)
        changed = f"AND sp.{name} <> v.value" if only_changed else ""
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id FROM {table} WHERE store_id = %s AND id = ANY(%s) "  # noqa: S608 (table name from the model)
                "ORDER BY id FOR UPDATE",
                [store.pk, ids],
            )
            cursor.execute(
                f"UPDATE {table} AS sp SET {name} = v.value, updated_at = %s "  # noqa: S608 (names from the model)
                "FROM unnest(%s::bigint[], %s::numeric[]) AS v(id, value) "
                f"WHERE sp.id = v.id AND sp.store_id = %s {changed}",
                [now, ids, [values[pk] for pk in ids], store.pk],
            )
            return cursor.rowcount
    updated = 0
    for start in range(0, len(ids), 2000):
        batch = ids[start : start + 2000]
        current = dict(
            StoreProduct.objects.select_for_update()
            .filter(store=store, pk__in=batch)
            .order_by("pk")
            .values_list("pk", column)
        )
        batch = [
            pk
            for pk in batch
            if pk in current and not (only_changed and current[pk] == values[pk])
        ]
        if not batch:
            continue
        updated += StoreProduct.objects.filter(store=store, pk__in=batch).update(
            **{
                column: Case(
                    *(When(pk=pk, then=Value(values[pk])) for pk in batch),
                    output_field=field,
                )
            },
            updated_at=now,
        )
    return updated


# --- Online buffers (set from the forecast) ----------------------------------------


def _check_buffers(store: Store, buffers: Mapping[int, Decimal]) -> dict[int, Decimal]:
    """The buffers as three-place Decimals, or a refusal naming the store product.

    A buffer is a quantity of the product: not negative, to the gram, and whole
    for products sold by the piece. Ids of another store are dropped here (left
    alone, as ``shelf_prices_set`` does).
    """
    units = dict(
        StoreProduct.objects.filter(store=store, pk__in=list(buffers)).values_list(
            "pk", "product__sale_unit"
        )
    )
    checked: dict[int, Decimal] = {}
    for pk, value in buffers.items():
        if int(pk) not in units:
            continue
        if (
            not isinstance(value, Decimal)
            or not value.is_finite()
            or value < 0
            or value >= MAX_QUANTITY
            or value != value.quantize(QUANTITY_STEP)
            or (
                units[int(pk)] != SaleUnit.KILOGRAM
                and value != value.to_integral_value()
            )
        ):
            raise InvalidInput(
                f"The online buffer of store product {pk} must be a quantity of "
                "zero or more (whole pieces, or kilograms to the gram).",
                {"field": "online_buffer", "store_product": pk, "value": str(value)},
            )
        checked[int(pk)] = value.quantize(QUANTITY_STEP)
    return checked


@transaction.atomic
def store_product_buffers_set(*, store: Store, buffers: Mapping[int, Decimal]) -> int:
    """Set the online buffer of many products of one store (the nightly job).

    The buffer is what the app never promises (``on_hand - reserved -
    online_buffer``): raising it never touches a count or a reservation already
    held, it only makes the next reservations stop sooner. ``buffers`` maps
    store product ids to quantities (checked: never negative, whole pieces for
    products sold by the piece; one bad value refuses the whole call and
    nothing changes); ids of another store are left alone. Only rows whose
    buffer differs are written. The rows are locked in primary-key order first
    (the lock order every stock service keeps, so that a bulk update cannot
    deadlock a multi-line checkout), then set by ``_column_bulk_set``.
    Callers keep the batches small (a few hundred rows) so that checkouts wait
    for the lock no longer than a few milliseconds. Returns the rows changed.
    """
    checked = _check_buffers(store, buffers)
    return _column_bulk_set(
        store=store, column="online_buffer", values=checked, only_changed=True
    )
