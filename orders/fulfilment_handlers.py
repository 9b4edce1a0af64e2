"""Orders' side of the contract with delivery.

Orders opens a fulfilment for every paid order that leaves through the store
(``order_fulfilment_open``, in the payment's transaction). From then on the
order's states past ``paid`` move only here, in the listeners of delivery's
signals, each inside the delivery transaction that sent it: a listener that
fails rolls the pick, the packing or the collection back with it. Refunds are
written as pending ``Refund`` rows (the outbox), paid after commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from delivery.fulfilment import LineSpec, open_fulfilment
from delivery.models import Fulfilment, FulfilmentLine
from orders.lifecycle import (
    DELIVERY_FAILED_MOVES,
    order_line_short,
    order_transition,
    refund_what_is_left,
)
from orders.models import (
    Channel,
    FulfilmentMode,
    Order,
    OrderLine,
    OrderLineState,
    OrderState,
)
from orders.refunds import refund_create
from orders.tax import money

S = OrderState


def line_spec(line: OrderLine) -> LineSpec:
    """What delivery needs of an order line to fill it."""
    return LineSpec(
        order_line_id=line.pk,
        store_product=line.store_product,
        quantity=line.quantity,
        unit_price=line.unit_price,
        reservation_id=line.reservation_id,
        weight_tolerance=line.weight_tolerance,
    )


def order_fulfilment_open(
    order: Order, lines: Iterable[OrderLine], *, slot_id: int | None = None
) -> None:
    """A paid order that leaves through the store gets its fulfilment: app
    delivery and pickup are picked; an in-store purchase sent home is packed at
    the counter. Carried out in store: nothing to do. Caller holds the payment's
    transaction; ``slot_id`` is the slot its delivery booked, when the caller
    has just booked it."""
    if order.fulfilment_mode == FulfilmentMode.CARRY_OUT:
        return
    open_fulfilment(
        order_id=order.pk,
        reference=order.number,
        store=order.store,
        mode=order.fulfilment_mode,
        deadline=order.promised_by,
        paid_at=order.paid_at,
        lines=[line_spec(line) for line in lines if line.state == OrderLineState.OPEN],
        skips_picking=order.channel == Channel.IN_STORE,
        latitude=order.delivery_latitude,
        longitude=order.delivery_longitude,
        slot_id=slot_id,
    )


def _order_locked(order_id: int) -> Order:
    return Order.objects.select_for_update().get(pk=order_id)


def _picking_started(order: Order, actor: Any, note: str) -> None:
    """The first picker action moves a paid order to ``picking``."""
    if order.state == S.PAID:
        order_transition(order=order, to_state=S.PICKING, actor=actor, note=note)


def on_line_picked(
    sender: Any,
    line: FulfilmentLine,
    quantity: Decimal,
    actor: Any = None,
    **kwargs: Any,
) -> None:
    """The line left the shelf. The shopper pays for what was picked up to what
    they ordered: a lighter weighed line refunds the difference (through the
    outbox); a heavier one costs them nothing more."""
    order = _order_locked(line.fulfilment.order_id)
    order_line = OrderLine.objects.get(pk=line.order_line_id)
    _picking_started(order, actor, f"first pick: {order_line.sku}")
    OrderLine.objects.filter(pk=order_line.pk, state=OrderLineState.OPEN).update(
        state=OrderLineState.PICKED
    )
    if quantity < order_line.quantity:
        charged = money(order_line.unit_price * quantity)
        difference = order_line.line_total - charged
        if difference > 0:
            refund_what_is_left(
                order=order,
                amount=difference,
                reason=f"{order_line.sku} picked {quantity} of {order_line.quantity}",
                actor=actor,
                line=order_line,
            )


def on_line_short(
    sender: Any, line: FulfilmentLine, actor: Any = None, **kwargs: Any
) -> None:
    """The picker found the shelf short: the shopper's substitution preference
    applies, or the line is refunded (the till sale's shortage path)."""
    order = _order_locked(line.fulfilment.order_id)
    order_line = OrderLine.objects.select_related(
        "store_product__product", "order"
    ).get(pk=line.order_line_id)
    _picking_started(order, actor, f"{order_line.sku} short at the shelf")
    order_line_short(line=order_line, actor=actor)


def _advance(fulfilment: Fulfilment, to_state: str, actor: Any, note: str) -> Order:
    order = _order_locked(fulfilment.order_id)
    return order_transition(order=order, to_state=to_state, actor=actor, note=note)


def on_packed(
    sender: Any, fulfilment: Fulfilment, actor: Any = None, **kwargs: Any
) -> None:
    """Packed: from picking, or from paid for an in-store purchase sent home."""
    _advance(fulfilment, S.PACKED, actor, "packed")


def on_ready(
    sender: Any, fulfilment: Fulfilment, code: str, actor: Any = None, **kwargs: Any
) -> None:
    """A pickup order waits at the counter; the shopper's timeline shows the
    collection code they will be asked for."""
    _advance(fulfilment, S.READY, actor, f"ready: collection code {code}")


def on_collected(
    sender: Any, fulfilment: Fulfilment, actor: Any = None, **kwargs: Any
) -> None:
    _advance(fulfilment, S.COLLECTED, actor, "collected at the counter")


def on_out_for_delivery(
    sender: Any, fulfilment: Fulfilment, actor: Any = None, **kwargs: Any
) -> None:
    _advance(fulfilment, S.OUT_FOR_DELIVERY, actor, "out for delivery")


def on_delivered(
    sender: Any, fulfilment: Fulfilment, actor: Any = None, **kwargs: Any
) -> None:
    _advance(fulfilment, S.DELIVERED, actor, "delivered")


def on_delivery_failed(
    sender: Any,
    fulfilment: Fulfilment,
    reason: str = "",
    outcome: str = "refund",
    actor: Any = None,
    **kwargs: Any,
) -> None:
    """The rider could not deliver. By the store's setting (``outcome``) the
    order goes back to ``packed`` to be delivered again, or is ``cancelled`` and
    what is left of its payment refunded (a pending refund, the outbox); the
    timeline says why either way."""
    order = _order_locked(fulfilment.order_id)
    note = f"delivery failed: {reason}" if reason else "delivery failed"
    if outcome == "redeliver":
        order_transition(
            order=order,
            to_state=S.PACKED,
            actor=actor,
            note=f"{note}; to be delivered again",
            extra_moves=DELIVERY_FAILED_MOVES,
        )
        return
    order_transition(
        order=order,
        to_state=S.CANCELLED,
        actor=actor,
        note=f"{note}; refunded",
        extra_moves=DELIVERY_FAILED_MOVES,
    )
    order.refresh_from_db(fields=["total", "refunded_total"])
    left = order.total - order.refunded_total
    if left > 0:
        refund_create(order=order, amount=left, reason=note, actor=actor)


def connect() -> None:
    """Called once from ``OrdersConfig.ready``."""
    from delivery import signals

    for signal, handler in [
        (signals.line_picked, on_line_picked),
        (signals.line_short, on_line_short),
        (signals.packed, on_packed),
        (signals.ready, on_ready),
        (signals.collected, on_collected),
        (signals.out_for_delivery, on_out_for_delivery),
        (signals.delivered, on_delivered),
        (signals.delivery_failed, on_delivery_failed),
    ]:
        signal.connect(handler, dispatch_uid=f"orders.{handler.__name__}")
