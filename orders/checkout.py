"""Checkout of both channels: a cart becomes one order, its stock and its payment.

Everything of one checkout is one transaction: the order number, the order, its
lines, the stock reservation (app) or the in-store sale, the payment and the
cart's closing (the API adds its idempotency answer to that same transaction).
A wallet too low, a short line or a refused address leaves nothing behind.

One order per cart is the checkout's domain key: the order records its cart
(unique). A checkout of a cart its member already checked out, asking for what
that order is (same channel, mode, payment method and address), answers with
that order, marked ``replayed``: a retry whose idempotency record was lost, or
a double tap with a new key, never makes a second order or charge. Asking for
something else of a checked-out cart is refused as before (``cart_expired``).

Locks are taken cart first, then the wallet (when it pays), then the day's order
counter, then stock rows in primary-key order.

What a checkout needs is read once (the cart with its store, its lines with
their products, the locked wallet) and passed down to each step; rows are
written in bulk. Paid from the wallet, the order is written paid at once, as
``payments.order_mark_paid`` would leave it: paid time set, no payment deadline,
its reservations held without expiry, an in-store purchase sold from the count
(and completed when carried out), its fulfilment opened when it leaves through
the store, and its timeline from ``created``.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from delivery.promise import Booking, book, book_best
from inventory.services import (
    ReservationLine,
    SaleLine,
    stock_reserve,
    stock_sell_in_store_lines,
)
from orders.carts import cart_get
from orders.errors import (
    CartEmpty,
    CartExpired,
    InvalidCartOperation,
    ProductUnavailable,
)
from orders.fulfilment_handlers import order_fulfilment_open
from orders.gateways import WALLET, PaymentGateway, gateway_get
from orders.models import (
    Address,
    Cart,
    CartLine,
    CartState,
    Channel,
    FulfilmentMode,
    Member,
    Order,
    OrderEvent,
    OrderLine,
    OrderState,
    Payment,
    PaymentPurpose,
    PaymentState,
    Wallet,
)
from orders.numbering import order_number_next
from orders.selectors import order_checkout_payment, order_repriced_lines
from orders.tax import money, tax_included, tax_rate_for
from orders.wallet import wallet_debit, wallet_lock


@dataclass
class CheckoutResult:
    order: Order
    payment: Payment
    booking: Booking | None = None
    repriced: list[dict[str, str]] = field(default_factory=list)
    # The cart had been checked out before: this is its order, nothing was done.
    replayed: bool = False


@dataclass(frozen=True)
class _CheckoutInfo:
    """What one checkout reads once and hands to every step."""

    cart: Cart
    lines: list[CartLine]
    member: Member
    gateway: PaymentGateway
    wallet: Wallet | None
    mode: str
    address: Address | None
    promise: Booking | None
    number: str
    now: dt.datetime


def _charged_price(line: CartLine, now: dt.datetime) -> tuple[Decimal, Decimal | None]:
    """In store, the scanned price while its hold lasts; otherwise the price now."""
    current = line.store_product.shelf_price
    if line.price_held_until is not None and now <= line.price_held_until:
        return line.held_price, None
    return current, (line.held_price if line.held_price != current else None)


def _order_line(order: Order, line: CartLine, price: Decimal) -> OrderLine:
    product = line.store_product.product
    line_total = money(price * line.quantity)
    rate = tax_rate_for(product.tax_class)
    return OrderLine(
        order=order,
        store_product=line.store_product,
        sku=product.sku,
        name=product.name,
        sale_unit=product.sale_unit,
        quantity=line.quantity,
        unit_price=price,
        line_total=line_total,
        tax_rate=rate,
        tax_amount=tax_included(line_total=line_total, rate=rate),
        substitution=line.substitution,
    )


def _close_cart(cart: Cart) -> None:
    updated = Cart.objects.filter(pk=cart.pk, state=CartState.OPEN).update(
        state=CartState.CHECKED_OUT
    )
    if not updated:
        raise CartExpired("This cart was already checked out.", {"field": "cart"})


def _address_for(member: Member, mode: str, address: Address | None) -> Address | None:
    if mode != FulfilmentMode.DELIVERY:
        return None
    if address is None:
        raise InvalidCartOperation(
            "Delivery needs an address.", {"field": "address_id"}
        )
    if address.member_id != member.pk or not address.is_active:
        raise InvalidCartOperation("No such address.", {"field": "address_id"})
    return address


def _refuse_withdrawn(lines: list[CartLine]) -> None:
    """Withdrawn since it was added (a recall, a delisting): not reserved or sold
    online. In store the goods are already in the shopper's hand."""
    withdrawn = [
        line.store_product.product.sku
        for line in lines
        if not line.store_product.is_active
    ]
    if withdrawn:
        raise ProductUnavailable(
            f"No longer sold: {', '.join(withdrawn)}. Remove it from the cart "
            "to check out.",
            {"field": "cart", "skus": withdrawn},
        )


def _wallet_locked(member: Member) -> Wallet:
    """The member's wallet row, locked for the rest of the transaction (one query
    when it exists; see ``wallet_lock`` for why before any stock row)."""
    wallet = Wallet.objects.select_for_update().filter(member=member).first()
    return wallet if wallet is not None else wallet_lock(member=member)


def _payment_reference() -> str:
    return f"pay_{secrets.token_hex(12)}"


_MODES = {
    Channel.APP: (
        (FulfilmentMode.DELIVERY, FulfilmentMode.PICKUP),
        "An app order is delivered or picked up.",
        "This is an in-store cart: pay it at /pay/.",
    ),
    Channel.IN_STORE: (
        (FulfilmentMode.CARRY_OUT, FulfilmentMode.DELIVERY),
        "In store, the goods are carried out or delivered home.",
        "This is an app cart: use checkout.",
    ),
}


def _checked_out_before(
    *,
    channel: str,
    member: Member,
    cart_uuid: Any,
    mode: str,
    method: str,
    address: Address | None,
) -> CheckoutResult | None:
    """The order a checked-out cart became, if this request asks for just that."""
    order = (
        Order.objects.select_related("store")
        .filter(cart__uuid=cart_uuid, member=member)
        .first()
    )
    if order is None:
        return None
    payment = order_checkout_payment(order=order)
    same_address = address is None or (
        (address.latitude, address.longitude)
        == (order.delivery_latitude, order.delivery_longitude)
    )
    if (
        payment is None
        or (order.channel, order.fulfilment_mode, payment.method)
        != (channel, mode, method)
        or not same_address
    ):
        raise CartExpired(
            f"This cart was checked out as order {order.number}, not as asked now.",
            {"field": "cart", "state": CartState.CHECKED_OUT, "order": str(order.uuid)},
        )
    return CheckoutResult(
        order=order,
        payment=payment,
        repriced=order_repriced_lines(order=order),
        replayed=True,
    )


def _priced(
    info: _CheckoutInfo,
) -> tuple[Order, list[OrderLine], list[dict[str, str]]]:
    """The order and its lines at the prices charged now (not written yet)."""
    cart, address, promise = info.cart, info.address, info.promise
    order = Order(
        number=info.number,
        member=info.member,
        store=cart.store,
        cart=cart,
        channel=cart.channel,
        fulfilment_mode=info.mode,
        currency=cart.store.currency,
        delivery_latitude=address.latitude if address else None,
        delivery_longitude=address.longitude if address else None,
        delivery_label=address.label if address else "",
        delivery_note=address.note if address else "",
        delivery_distance_km=promise.distance_km if promise else None,
        promised_by=promise.deadline if promise else None,
        payment_due_at=info.now
        + dt.timedelta(minutes=settings.HEMA_CHECKOUT_HOLD_MINUTES),
    )
    order_lines, repriced = [], []
    for line in info.lines:
        price, repriced_from = _charged_price(line, info.now)
        order_line = _order_line(order, line, price)
        order_line.repriced_from = repriced_from
        order_lines.append(order_line)
        if repriced_from is not None:
            repriced.append(
                {
                    "sku": order_line.sku,
                    "scanned_price": str(repriced_from),
                    "price": str(price),
                }
            )
    order.subtotal = order.total = sum(
        (line.line_total for line in order_lines), Decimal("0.00")
    )
    order.tax_total = sum((line.tax_amount for line in order_lines), Decimal("0.00"))
    return order, order_lines, repriced


def _timeline(order: Order, info: _CheckoutInfo, paid: bool) -> list[OrderEvent]:
    """The events of a new order: created, and paid (and carried out) at once."""
    actor = info.member.user_id
    events = [
        OrderEvent(
            order=order, to_state=OrderState.CREATED, actor_id=actor, note=order.channel
        )
    ]
    if paid:
        events.append(
            OrderEvent(
                order=order,
                from_state=OrderState.CREATED,
                to_state=OrderState.PAID,
                actor_id=actor,
                note=info.gateway.name,
            )
        )
    if order.state == OrderState.COMPLETED:
        events.append(
            OrderEvent(
                order=order,
                from_state=OrderState.PAID,
                to_state=OrderState.COMPLETED,
                actor_id=actor,
                note="carried out",
            )
        )
    return events


def _place(info: _CheckoutInfo) -> CheckoutResult:
    """Write the order, its stock and its payment. Caller holds the transaction
    and the cart's (and wallet's) lock."""
    order, lines, repriced = _priced(info)
    paid = info.wallet is not None
    if paid:
        order.state = OrderState.PAID
        order.paid_at, order.payment_due_at = info.now, None
        if order.channel == Channel.IN_STORE and info.mode == FulfilmentMode.CARRY_OUT:
            order.state = OrderState.COMPLETED
    if order.channel == Channel.APP:
        # All lines or none; a paid order keeps its units until picked.
        reservations = stock_reserve(
            lines=[ReservationLine(ol.store_product, ol.quantity) for ol in lines],
            reference=info.number,
            reserved_until=order.payment_due_at,
        )
        by_product = {r.store_product_id: r for r in reservations}
        for line in lines:
            line.reservation = by_product[line.store_product_id]
    payment = Payment(
        member=info.member,
        purpose=PaymentPurpose.ORDER,
        method=info.gateway.name,
        amount=order.total,
        currency=order.currency,
        provider_reference=_payment_reference(),
    )
    if paid:
        wallet_debit(
            member=info.member,
            wallet=info.wallet,
            amount=payment.amount,
            reference=payment.provider_reference,
            currency=payment.currency,
        )
        payment.state, payment.succeeded_at = PaymentState.SUCCEEDED, info.now
    order.save(force_insert=True)
    OrderLine.objects.bulk_create(lines)
    payment.order = order
    payment.save(force_insert=True)
    if not paid:
        info.gateway.charge(payment=payment)  # a provider: pending until its webhook
    elif order.channel == Channel.IN_STORE:
        # The goods are in the shopper's hand: they leave the count now, never refused.
        stock_sell_in_store_lines(
            lines=[
                SaleLine(line.store_product, line.quantity, line.unit_price)
                for line in lines
            ],
            reference=order.number,
        )
    if paid:
        order_fulfilment_open(
            order, lines, slot_id=info.promise.slot_id if info.promise else None
        )
    events = OrderEvent.objects.bulk_create(_timeline(order, info, paid))
    _close_cart(info.cart)
    # Everything the answer shows is in hand: no need to read it back.
    order._prefetched_objects_cache = {"lines": lines, "events": events, "refunds": []}
    return CheckoutResult(
        order=order, payment=payment, booking=info.promise, repriced=repriced
    )


def _checkout(
    *,
    channel: str,
    member: Member,
    cart_uuid: Any,
    fulfilment_mode: str,
    payment_method: str,
    address: Address | None,
    now: dt.datetime,
    delivery_quote: str | None = None,
) -> CheckoutResult:
    modes, wrong_mode, wrong_channel = _MODES[channel]
    if fulfilment_mode not in modes:
        raise InvalidCartOperation(
            wrong_mode, {"field": "fulfilment_mode", "allowed": list(modes)}
        )
    gateway = gateway_get(payment_method)
    with transaction.atomic():
        try:
            cart = cart_get(member=member, cart_uuid=cart_uuid, for_update=True)
        except CartExpired:
            replay = _checked_out_before(
                channel=channel,
                member=member,
                cart_uuid=cart_uuid,
                mode=fulfilment_mode,
                method=gateway.name,
                address=address,
            )
            if replay is None:
                raise
            return replay
        if cart.channel != channel:
            raise InvalidCartOperation(wrong_channel, {"field": "cart"})
        address = _address_for(member, fulfilment_mode, address)
        lines = list(cart.lines.select_related("store_product__product").order_by("pk"))
        if not lines:
            raise CartEmpty("The cart is empty.", {"field": "cart"})
        if channel == Channel.APP:
            _refuse_withdrawn(lines)
        wallet = _wallet_locked(member) if gateway.name == WALLET else None
        number = order_number_next(store=cart.store, at=now)
        promise = None
        if address is not None:
            promise = _delivery_book(
                cart=cart,
                address=address,
                token=delivery_quote,
                reference=number,
                line_count=len(lines),
                now=now,
            )
        return _place(
            _CheckoutInfo(
                cart=cart,
                lines=lines,
                member=member,
                gateway=gateway,
                wallet=wallet,
                mode=fulfilment_mode,
                address=address,
                promise=promise,
                number=number,
                now=now,
            )
        )


def _delivery_book(
    *,
    cart: Cart,
    address: Address,
    token: str | None,
    reference: str,
    line_count: int,
    now: dt.datetime,
) -> Booking:
    """Take the delivery capacity the order's promise needs, in the checkout's
    transaction (a refused checkout gives it back): the shopper's chosen quote,
    or without one the best the store can promise now."""
    where = {
        "store": cart.store,
        "latitude": address.latitude,
        "longitude": address.longitude,
        "reference": reference,
        "at": now,
        "line_count": line_count,
    }
    if token:
        return book(token=token, **where)
    return book_best(**where)


def checkout_app(
    *,
    member: Member,
    cart_uuid: Any,
    fulfilment_mode: str,
    payment_method: str,
    address: Address | None = None,
    now: dt.datetime | None = None,
    delivery_quote: str | None = None,
) -> CheckoutResult:
    """An app order: coverage and promise, stock reserved all or nothing, payment.

    A delivery books the capacity of ``delivery_quote`` (a token from the
    store's delivery quote: express or a window); without one it books the best
    the store can promise now.

    Paid with the wallet, the order is ``paid`` when this returns; with a provider
    it is ``created`` and holds its stock until the provider's webhook (or the
    hold lapses and the order is cancelled). A cart checked out before answers
    with its order (see the module docstring).
    """
    return _checkout(
        channel=Channel.APP,
        member=member,
        cart_uuid=cart_uuid,
        fulfilment_mode=fulfilment_mode,
        payment_method=payment_method,
        address=address,
        now=now or timezone.now(),
        delivery_quote=delivery_quote,
    )


def checkout_in_store(
    *,
    member: Member,
    cart_uuid: Any,
    fulfilment_mode: str,
    payment_method: str,
    address: Address | None = None,
    now: dt.datetime | None = None,
    delivery_quote: str | None = None,
) -> CheckoutResult:
    """Pay an in-store cart. Lines scanned within the hold keep their price; older
    ones are charged the price now and listed in ``repriced``. The goods leave
    the count through the in-store sale once paid (never refused for stock).
    """
    return _checkout(
        channel=Channel.IN_STORE,
        member=member,
        cart_uuid=cart_uuid,
        fulfilment_mode=fulfilment_mode,
        payment_method=payment_method,
        address=address,
        now=now or timezone.now(),
        delivery_quote=delivery_quote,
    )
