"""Checkout of both channels: a cart becomes one order, its stock and its payment.

Everything of one checkout is one transaction: the order, its lines, the stock
reservation (app) or the in-store sale, the payment and the cart's closing. A
wallet too low, a short line or a cart checked out twice leaves nothing behind.
Locks are taken cart first, then the wallet (when it pays), then stock rows in
primary-key order.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from delivery.promise import Quote, quote
from orders.carts import cart_get
from orders.errors import (
    CartEmpty,
    CartExpired,
    InvalidCartOperation,
    ProductUnavailable,
)
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
)
from orders.numbering import order_number_next
from orders.payments import WALLET, gateway_get, order_lines_reserve, order_pay
from orders.tax import money, tax_included, tax_rate_for
from orders.wallet import wallet_lock


@dataclass
class CheckoutResult:
    order: Order
    payment: Payment
    quote: Quote | None = None
    repriced: list[dict[str, str]] = field(default_factory=list)


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


def _order_create(
    *,
    cart: Cart,
    member: Member,
    mode: str,
    address: Address | None,
    promise: Quote | None,
    number: str,
    now: dt.datetime,
) -> tuple[Order, list[OrderLine], list[dict[str, str]]]:
    lines = list(cart.lines.select_related("store_product__product").order_by("pk"))
    if not lines:
        raise CartEmpty("The cart is empty.", {"field": "cart"})
    if cart.channel == Channel.APP:
        # Withdrawn since it was added (a recall, a delisting): not reserved or sold
        # online. In store the goods are already in the shopper's hand.
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
    order = Order.objects.create(
        number=number,
        member=member,
        store=cart.store,
        channel=cart.channel,
        fulfilment_mode=mode,
        currency=cart.store.currency,
        delivery_latitude=address.latitude if address else None,
        delivery_longitude=address.longitude if address else None,
        delivery_label=address.label if address else "",
        delivery_note=address.note if address else "",
        delivery_distance_km=promise.distance_km if promise else None,
        promised_by=promise.deadline if promise else None,
        payment_due_at=now + dt.timedelta(minutes=settings.HEMA_CHECKOUT_HOLD_MINUTES),
    )
    order_lines, repriced = [], []
    for line in lines:
        price, repriced_from = _charged_price(line, now)
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
    OrderLine.objects.bulk_create(order_lines)
    subtotal = sum((line.line_total for line in order_lines), Decimal("0.00"))
    tax = sum((line.tax_amount for line in order_lines), Decimal("0.00"))
    Order.objects.filter(pk=order.pk).update(
        subtotal=subtotal, total=subtotal, tax_total=tax
    )
    order.subtotal = order.total = subtotal
    order.tax_total = tax
    OrderEvent.objects.create(
        order=order, to_state=OrderState.CREATED, actor=member.user, note=cart.channel
    )
    return order, order_lines, repriced


@dataclass(frozen=True)
class _Prepared:
    """What a checkout settles before its transaction: the promise and a number."""

    address: Address | None
    promise: Quote | None
    number: str


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


def _prepare(
    *,
    channel: str,
    member: Member,
    cart_uuid: Any,
    fulfilment_mode: str,
    payment_method: str,
    address: Address | None,
    now: dt.datetime,
) -> _Prepared:
    """Refuse what can be refused without a lock, quote the promise (coverage
    included) and take an order number (its own short transaction)."""
    modes, wrong_mode, wrong_channel = _MODES[channel]
    if fulfilment_mode not in modes:
        raise InvalidCartOperation(
            wrong_mode, {"field": "fulfilment_mode", "allowed": list(modes)}
        )
    gateway_get(payment_method)
    cart = cart_get(member=member, cart_uuid=cart_uuid)
    if cart.channel != channel:
        raise InvalidCartOperation(wrong_channel, {"field": "cart"})
    address = _address_for(member, fulfilment_mode, address)
    promise = None
    if address is not None:
        promise = quote(
            store=cart.store,
            latitude=address.latitude,
            longitude=address.longitude,
            line_count=cart.lines.count(),
            at=now,
        )
    number = order_number_next(store=cart.store, at=now)
    return _Prepared(address=address, promise=promise, number=number)


def checkout_app(
    *,
    member: Member,
    cart_uuid: Any,
    fulfilment_mode: str,
    payment_method: str,
    address: Address | None = None,
    now: dt.datetime | None = None,
) -> CheckoutResult:
    """An app order: coverage and promise, stock reserved all or nothing, payment.

    Paid with the wallet, the order is ``paid`` when this returns; with a provider
    it is ``created`` and holds its stock until the provider's webhook (or the
    hold lapses and the order is cancelled).
    """
    now = now or timezone.now()
    prepared = _prepare(
        channel=Channel.APP,
        member=member,
        cart_uuid=cart_uuid,
        fulfilment_mode=fulfilment_mode,
        payment_method=payment_method,
        address=address,
        now=now,
    )
    with transaction.atomic():
        cart = cart_get(member=member, cart_uuid=cart_uuid, for_update=True)
        if payment_method == WALLET:
            wallet_lock(member=member)  # before the stock rows: see wallet_lock
        order, lines, _ = _order_create(
            cart=cart,
            member=member,
            mode=fulfilment_mode,
            address=prepared.address,
            promise=prepared.promise,
            number=prepared.number,
            now=now,
        )
        order_lines_reserve(
            lines=lines, reference=prepared.number, reserved_until=order.payment_due_at
        )
        _close_cart(cart)
        payment = order_pay(order=order, method=payment_method, member=member)
    order.refresh_from_db()
    return CheckoutResult(order=order, payment=payment, quote=prepared.promise)


def checkout_in_store(
    *,
    member: Member,
    cart_uuid: Any,
    fulfilment_mode: str,
    payment_method: str,
    address: Address | None = None,
    now: dt.datetime | None = None,
) -> CheckoutResult:
    """Pay an in-store cart. Lines scanned within the hold keep their price; older
    ones are charged the price now and listed in ``repriced``. The goods leave
    the count through the in-store sale once paid (never refused for stock).
    """
    now = now or timezone.now()
    prepared = _prepare(
        channel=Channel.IN_STORE,
        member=member,
        cart_uuid=cart_uuid,
        fulfilment_mode=fulfilment_mode,
        payment_method=payment_method,
        address=address,
        now=now,
    )
    with transaction.atomic():
        cart = cart_get(member=member, cart_uuid=cart_uuid, for_update=True)
        order, _, repriced = _order_create(
            cart=cart,
            member=member,
            mode=fulfilment_mode,
            address=prepared.address,
            promise=prepared.promise,
            number=prepared.number,
            now=now,
        )
        _close_cart(cart)
        payment = order_pay(order=order, method=payment_method, member=member)
    order.refresh_from_db()
    return CheckoutResult(
        order=order, payment=payment, quote=prepared.promise, repriced=repriced
    )
