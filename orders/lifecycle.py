"""The order state machine, cancellations and shortages.

Every state change goes through ``order_transition`` and leaves an ``OrderEvent``.
A cancellation or a shortage that owes money back writes its refund through
``orders.refunds`` in the same transaction.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from delivery.fulfilment import (
    LineSpec,
    fulfilment_cancel,
    fulfilment_close_empty,
    fulfilment_line_add,
)
from delivery.promise import booking_release
from inventory.errors import InsufficientStock
from inventory.models import Reservation, ReservationState, StoreProduct
from inventory.services import ReservationLine, reservation_release, stock_reserve
from orders.errors import InvalidTransition, RefundRefused
from orders.events import order_event_record
from orders.models import (
    Channel,
    FulfilmentMode,
    Order,
    OrderLine,
    OrderLineState,
    OrderState,
    SubstitutionPreference,
)
from orders.refunds import refund_create
from orders.tax import money, tax_included, tax_rate_for

logger = logging.getLogger(__name__)

S = OrderState
# Allowed moves per fulfilment mode (the architecture's paths), cancel aside.
PATHS: dict[str, dict[str, set[str]]] = {
    FulfilmentMode.CARRY_OUT: {S.CREATED: {S.PAID}, S.PAID: {S.COMPLETED}},
    FulfilmentMode.DELIVERY: {
        S.CREATED: {S.PAID},
        S.PAID: {S.PICKING},
        S.PICKING: {S.PACKED},
        S.PACKED: {S.OUT_FOR_DELIVERY},
        S.OUT_FOR_DELIVERY: {S.DELIVERED},
    },
    FulfilmentMode.PICKUP: {
        S.CREATED: {S.PAID},
        S.PAID: {S.PICKING},
        S.PICKING: {S.PACKED},
        S.PACKED: {S.READY},
        S.READY: {S.COLLECTED},
    },
}
# Delivery home after an in-store purchase: the goods were in the shopper's hand,
# so they are packed at the counter, never picked.
IN_STORE_DELIVERY_PATH: dict[str, set[str]] = {
    S.CREATED: {S.PAID},
    S.PAID: {S.PACKED},
    S.PACKED: {S.OUT_FOR_DELIVERY},
    S.OUT_FOR_DELIVERY: {S.DELIVERED},
}
CANCELLABLE = {S.CREATED, S.PAID}
# An in-store purchase leaves the shelf in the shopper's hand when it is paid, so
# once paid nothing goes back by cancelling it: a return is a manager's refund.
IN_STORE_CANCELLABLE = {S.CREATED}


def order_path(order: Order) -> dict[str, set[str]]:
    """The moves this order may make: its fulfilment mode's path, by channel."""
    if (
        order.channel == Channel.IN_STORE
        and order.fulfilment_mode == FulfilmentMode.DELIVERY
    ):
        return IN_STORE_DELIVERY_PATH
    return PATHS[order.fulfilment_mode]


def cancellable_states(order: Order) -> set[str]:
    """The states from which this order may still be cancelled."""
    return IN_STORE_CANCELLABLE if order.channel == Channel.IN_STORE else CANCELLABLE


# A failed delivery, and only that (never a member's cancel), takes an order out
# for delivery back to packed (delivered again) or to cancelled (refunded).
DELIVERY_FAILED_MOVES: dict[str, set[str]] = {
    S.OUT_FOR_DELIVERY: {S.PACKED, S.CANCELLED}
}


def order_transition(
    *,
    order: Order,
    to_state: str,
    actor: Any = None,
    note: str = "",
    extra_moves: dict[str, set[str]] | None = None,
) -> Order:
    """Move the order one step along its mode's path; anything else is refused.

    ``extra_moves`` are moves only the caller's flow may make (a failed
    delivery). The UPDATE is conditional on the state read, so two racing moves
    cannot both succeed.

    The state and its timeline event are written in one transaction, the
    caller's when there is one, without a savepoint of their own: a refusal is
    raised before anything is written (or after an UPDATE that matched
    nothing), so a caller that catches it has nothing to roll back. It is the
    most frequent nested write (every picking, packing and delivery signal).
    """
    from_state = order.state
    allowed = set(order_path(order).get(from_state, set()))
    allowed |= (extra_moves or {}).get(from_state, set())
    if from_state in cancellable_states(order):
        allowed.add(S.CANCELLED)
    if to_state not in allowed:
        raise InvalidTransition(
            f"Order {order.number} is {from_state}; it cannot become {to_state}.",
            {"state": from_state, "requested": to_state},
        )
    with transaction.atomic(savepoint=False):
        updated = Order.objects.filter(pk=order.pk, state=from_state).update(
            state=to_state, updated_at=timezone.now()
        )
        if updated:
            order.state = to_state
            order_event_record(order, from_state, to_state, actor, note)
            return order
    current = Order.objects.values_list("state", flat=True).get(pk=order.pk)
    raise InvalidTransition(
        f"Order {order.number} changed meanwhile: it is {current}.",
        {"state": current, "requested": to_state},
    )


def order_totals_refresh(order: Order) -> None:
    """Recompute the order's totals from its lines that are still charged."""
    charged = order.lines.exclude(
        state__in=[OrderLineState.CANCELLED, OrderLineState.SHORT]
    ).exclude(state=OrderLineState.SUBSTITUTED)
    subtotal = sum((line.line_total for line in charged), Decimal("0.00"))
    tax = sum((line.tax_amount for line in charged), Decimal("0.00"))
    Order.objects.filter(pk=order.pk).update(
        subtotal=subtotal, total=subtotal, tax_total=tax
    )
    order.subtotal = order.total = subtotal
    order.tax_total = tax


def _release_lines(order: Order, actor: Any) -> None:
    reservations = Reservation.objects.filter(
        order_line__order=order, state=ReservationState.HELD
    ).select_related("store_product__product")
    for reservation in reservations.order_by("store_product_id"):
        reservation_release(reservation=reservation, actor=actor, reason=order.number)


def order_stock_lock(order: Order) -> None:
    """Lock the stock rows of the order's open lines, in primary-key order.

    Every service that locks an order row together with stock rows takes the
    stock rows first (wallet, then stock, then order): a sale that finds the shelf
    short holds its stock row and then locks the orders it shorts, so the other
    way round the two could deadlock. Caller holds a transaction.
    """
    products = OrderLine.objects.filter(
        order_id=order.pk, state=OrderLineState.OPEN
    ).values("store_product_id")
    list(
        StoreProduct.objects.select_for_update()
        .filter(pk__in=products)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


@transaction.atomic
def order_cancel(
    *, order: Order, actor: Any = None, reason: str = "", request_id: str = ""
) -> Order:
    """Cancel before picking: the stock goes back, a paid order is refunded in full.

    A paid in-store purchase is not cancelled (its goods left in the shopper's
    hand; see ``IN_STORE_CANCELLABLE``). The refund carries ``request_id``, so a
    retry of the same request (its Idempotency-Key record lost, a double click)
    finds the order cancelled by it and returns it unchanged; an id that names
    another refund of the order (a manager's) is refused, nothing changed.

    Locks the stock rows the order holds (primary-key order) before the order row:
    a sale that finds the shelf short holds its stock row and then locks the
    orders it shorts, so the other way round the two could deadlock.
    """
    order_stock_lock(order)
    order = Order.objects.select_for_update().get(pk=order.pk)
    named = order.refunds.filter(request_id=request_id).first() if request_id else None
    if named is not None and order.state == S.CANCELLED:
        return order
    if named is not None:
        # The id names an earlier refund of this order (a manager's, shown to
        # the member): it cannot name this cancellation's refund as well.
        raise RefundRefused(
            f"Request {request_id!r} already refunded {named.amount} on "
            f"{order.number}; a cancellation needs a new request id.",
            {"field": "request_id", "refunded": str(named.amount)},
        )
    was_paid = order.state == S.PAID
    order_transition(order=order, to_state=S.CANCELLED, actor=actor, note=reason)
    if was_paid:
        # Before picking: the store's work for it stops (refused once picked).
        fulfilment_cancel(order_id=order.pk)
    _release_lines(order, actor)
    if order.fulfilment_mode == FulfilmentMode.DELIVERY:
        booking_release(reference=order.number)  # its delivery window's place
    order.lines.filter(state=OrderLineState.OPEN).update(state=OrderLineState.CANCELLED)
    refundable = order.total - order.refunded_total
    if was_paid and refundable > 0:
        refund_create(
            order=order,
            amount=refundable,
            reason=reason or "cancelled",
            actor=actor,
            request_id=request_id,
        )
    return order


# --- Shortages ------------------------------------------------------------------


def _substitute_candidate(line: OrderLine) -> StoreProduct | None:
    """A similar product: same category and unit, in stock online, priced at most
    a fifth above the original; the closest price wins."""
    original = line.store_product
    ceiling = line.unit_price * Decimal("1.2")
    candidates = (
        StoreProduct.objects.filter(
            store_id=original.store_id,
            is_active=True,
            product__category_id=original.product.category_id,
            product__sale_unit=original.product.sale_unit,
            shelf_price__lte=ceiling,
            on_hand__gte=F("reserved") + F("online_buffer") + line.quantity,
        )
        .exclude(pk=original.pk)
        .select_related("product")
    )
    return min(
        candidates, key=lambda sp: abs(sp.shelf_price - line.unit_price), default=None
    )


def _try_substitute(line: OrderLine) -> OrderLine | None:
    """Reserve the closest substitute, if its stock row is free right now.

    A shortage is found while the original product's row is locked (a sale or a
    pick of it). Waiting there for the substitute's row would deadlock with a
    checkout that locked the substitute first and waits for the original (rows
    are locked in primary-key order), so a substitute busy elsewhere is passed
    over and the line is refunded instead.
    """
    candidate = _substitute_candidate(line)
    if candidate is None:
        return None
    try:
        with transaction.atomic():
            free = StoreProduct.objects.select_for_update(skip_locked=True).filter(
                pk=candidate.pk
            )
            if not list(free.values_list("pk", flat=True)):
                return None
            [reservation] = stock_reserve(
                lines=[ReservationLine(candidate, line.quantity)],
                reference=line.order.number,
            )
    except InsufficientStock:
        return None
    # The shopper never pays more for a substitute than for what they chose.
    unit_price = min(candidate.shelf_price, line.unit_price)
    line_total = money(unit_price * line.quantity)
    rate = tax_rate_for(candidate.product.tax_class)
    return OrderLine.objects.create(
        order=line.order,
        store_product=candidate,
        sku=candidate.product.sku,
        name=candidate.product.name,
        sale_unit=candidate.product.sale_unit,
        quantity=line.quantity,
        unit_price=unit_price,
        line_total=line_total,
        tax_rate=rate,
        tax_amount=tax_included(line_total=line_total, rate=rate),
        weight_tolerance=line.weight_tolerance,
        substitution=SubstitutionPreference.NONE,
        substitute_for=line,
        reservation=reservation,
    )


@transaction.atomic
def order_line_short(*, line: OrderLine, actor: Any = None) -> OrderLine | None:
    """A line's units are gone: substitute it if the shopper allowed, else refund it.

    Runs inside the transaction that found the shortage. An unpaid order simply
    drops the line from what it will charge. Returns the substitute line, if any.
    """
    order = Order.objects.select_for_update().get(pk=line.order_id)
    line.order = order
    if line.state != OrderLineState.OPEN or order.state in (S.CANCELLED,):
        return None
    if order.state == S.CREATED:
        OrderLine.objects.filter(pk=line.pk).update(state=OrderLineState.SHORT)
        order_totals_refresh(order)
        order_event_record(
            order, order.state, order.state, actor, f"{line.sku} short before payment"
        )
        if not order.lines.filter(state=OrderLineState.OPEN).exists():
            # Nothing left to sell: the order cannot be paid any more.
            order_cancel(order=order, actor=actor, reason="every line short")
        return None
    substitute = None
    if line.substitution == SubstitutionPreference.ALLOW:
        substitute = _try_substitute(line)
    if substitute is not None:
        OrderLine.objects.filter(pk=line.pk).update(state=OrderLineState.SUBSTITUTED)
        # A paid order being picked: the substitute is picked like the others.
        fulfilment_line_add(
            order_id=order.pk,
            spec=LineSpec(
                order_line_id=substitute.pk,
                store_product=substitute.store_product,
                quantity=substitute.quantity,
                unit_price=substitute.unit_price,
                reservation_id=substitute.reservation_id,
                weight_tolerance=substitute.weight_tolerance,
            ),
        )
        order_event_record(
            order, order.state, order.state, actor, f"{line.sku} -> {substitute.sku}"
        )
        refund_what_is_left(
            order=order,
            amount=line.line_total - substitute.line_total,
            reason=f"substitute {substitute.sku} for {line.sku} costs less",
            actor=actor,
            line=line,
        )
        return substitute
    OrderLine.objects.filter(pk=line.pk).update(state=OrderLineState.SHORT)
    refund_what_is_left(
        order=order,
        amount=line.line_total,
        reason=f"{line.sku} out of stock",
        actor=actor,
        line=line,
    )
    _close_if_nothing_left(order, actor)
    return None


def _close_if_nothing_left(order: Order, actor: Any) -> None:
    """A paid order whose every line went short (and none was replaced) has
    nothing left to pick, pack or deliver: each line was refunded as it went
    short, so the order is closed as cancelled and its fulfilment with it,
    rather than waiting in ``picking`` for a bag that will never come."""
    if order.state not in (S.PAID, S.PICKING):
        return
    if order.lines.filter(
        state__in=[OrderLineState.OPEN, OrderLineState.PICKED]
    ).exists():
        return
    fulfilment_close_empty(order_id=order.pk)
    if order.fulfilment_mode == FulfilmentMode.DELIVERY:
        booking_release(reference=order.number)  # no rider will carry it
    from_state = order.state
    Order.objects.filter(pk=order.pk, state=from_state).update(
        state=S.CANCELLED, updated_at=timezone.now()
    )
    order.state = S.CANCELLED
    order_event_record(
        order, from_state, S.CANCELLED, actor, "every line short: nothing to deliver"
    )


def refund_what_is_left(
    *, order: Order, amount: Decimal, reason: str, actor: Any, line: OrderLine
) -> None:
    """Refund a short line, but never beyond what is left of the order's payment.

    A manager may already have refunded part or all of the order (goodwill); the
    shortage is found inside the sale, pick or count that caused it, which must
    not fail because of that. Caller holds the order's row lock.
    """
    order.refresh_from_db(fields=["total", "refunded_total"])
    amount = min(amount, order.total - order.refunded_total)
    if amount > 0:
        refund_create(order=order, amount=amount, reason=reason, actor=actor, line=line)


def on_reservation_short(sender: Any, reservation: Reservation, **kwargs: Any) -> None:
    """Listener of ``inventory.signals.reservation_short``."""
    line = OrderLine.objects.filter(reservation=reservation).first()
    if line is None:
        return
    logger.info("order line %s short: %s", line.pk, line.sku)
    order_line_short(line=line)


def orders_expire_unpaid(*, now=None, limit: int = 500) -> int:
    """Cancel checkouts nobody paid for in time; their stock goes back."""
    now = now or timezone.now()
    due = list(
        Order.objects.filter(
            Q(state=S.CREATED) & Q(payment_due_at__lt=now)
        ).values_list("pk", flat=True)[:limit]
    )
    cancelled = 0
    for pk in due:
        try:
            order_cancel(order=Order(pk=pk), reason="not paid in time")
        except InvalidTransition:
            continue
        cancelled += 1
    return cancelled
