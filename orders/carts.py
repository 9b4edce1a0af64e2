"""Carts of both channels.

An in-store line is a product the shopper scanned: it keeps the price shown at
the scan for the store's hold period (15 minutes by default). An app line shows
the current price; checkout charges the price at that moment. Scanning or adding
a product already in the cart adds to its line and shows the price now.
"""

import datetime as dt
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from inventory.errors import InsufficientStock, InvalidQuantity
from inventory.models import Store, StoreProduct
from inventory.selectors import store_product_for_scan, store_product_get
from inventory.services import parse_quantity
from orders.errors import CartExpired, CartNotFound, InvalidCartOperation
from orders.models import Cart, CartLine, CartState, Channel, Member

# The most one line may hold (pieces, or kilograms when weighed). It keeps every line
# and its total well inside their columns, which an in-store line (never refused
# for stock) would otherwise overflow.
MAX_LINE_QUANTITY = Decimal("9999.000")


def _check_line_limit(quantity: Decimal) -> None:
    if quantity > MAX_LINE_QUANTITY:
        raise InvalidQuantity(
            f"A line holds at most {MAX_LINE_QUANTITY}.",
            {
                "field": "quantity",
                "value": str(quantity),
                "max": str(MAX_LINE_QUANTITY),
            },
        )


def member_for(user: Any) -> Member:
    member, _ = Member.objects.get_or_create(user=user)
    return member


def cart_open(*, member: Member, store: Store, channel: str) -> Cart:
    """The member's open cart at this store and channel, or a new one."""
    now = timezone.now()
    existing = Cart.objects.filter(
        member=member,
        store=store,
        channel=channel,
        state=CartState.OPEN,
        expires_at__gt=now,
    ).first()
    if existing:
        return existing
    return Cart.objects.create(
        member=member,
        store=store,
        channel=channel,
        expires_at=now + dt.timedelta(hours=settings.HEMA_CART_TTL_HOURS),
    )


def cart_get(*, member: Member, cart_uuid: Any, for_update: bool = False) -> Cart:
    """The member's own open cart; another member's cart does not exist for them."""
    queryset = Cart.objects.select_related("store")
    if for_update:
        queryset = queryset.select_for_update(of=("self",))
    try:
        cart = queryset.get(uuid=cart_uuid, member=member)
    except (Cart.DoesNotExist, ValueError, ValidationError):
        # A malformed UUID names no cart either: 404, not a validation error.
        raise CartNotFound("No such cart.", {"field": "cart"}) from None
    if cart.state != CartState.OPEN:
        raise CartExpired(
            f"This cart is {cart.state}; open a new one.",
            {"field": "cart", "state": cart.state},
        )
    if cart.expires_at <= timezone.now():
        raise CartExpired("This cart has expired; open a new one.", {"field": "cart"})
    return cart


def _check_online_stock(store_product: StoreProduct, quantity: Decimal) -> None:
    if store_product.available_online < quantity:
        raise InsufficientStock(
            f"Only {store_product.available_online} of {store_product.product.sku} "
            "can be ordered online.",
            {
                "lines": [
                    {
                        "sku": store_product.product.sku,
                        "requested": str(quantity),
                        "available": str(store_product.available_online),
                    }
                ]
            },
        )


def _cart_touch_open(cart: Cart, now: dt.datetime) -> None:
    """``_cart_lock_open`` and the cart's ``updated_at`` in one statement: the
    conditional UPDATE locks the row for the caller's transaction (a checkout's
    ``FOR UPDATE`` and other writers' waits on it alike) and touches it only
    while the cart is open. Refused, naming the state, when it is not."""
    if Cart.objects.filter(pk=cart.pk, state=CartState.OPEN).update(updated_at=now):
        return
    raise _cart_expired(Cart.objects.values_list("state", flat=True).get(pk=cart.pk))


def _cart_expired(state: str) -> CartExpired:
    return CartExpired(
        f"This cart is {state}; open a new one.", {"field": "cart", "state": state}
    )


def _cart_lock_open(cart: Cart) -> None:
    """Lock the cart's row for the caller's transaction; refused unless it is
    still open (checked out while this request waited)."""
    state = (
        Cart.objects.select_for_update().values_list("state", flat=True).get(pk=cart.pk)
    )
    if state != CartState.OPEN:
        raise _cart_expired(state)


@transaction.atomic
def cart_line_add(
    *,
    cart: Cart,
    quantity: Any,
    code: str = "",
    sku: str = "",
    substitution: str | None = None,
) -> CartLine:
    """Add a scanned code (in store) or a SKU (app) to the cart.

    A product already in the cart adds to its line (one line per product, a
    unique constraint). Locks the cart row first (the UPDATE of its
    ``updated_at``), so that two quick scans of a product not yet in it take
    turns: the second finds the first's line and adds to it, instead of
    inserting a second one.
    """
    if cart.channel == Channel.IN_STORE:
        if not code:
            raise InvalidCartOperation(
                "An in-store cart adds scanned codes.", {"field": "code"}
            )
        store_product = store_product_for_scan(store=cart.store, code=code)
    else:
        if not sku:
            raise InvalidCartOperation("Name the product's sku.", {"field": "sku"})
        store_product = store_product_get(store=cart.store, sku=sku)
    quantity = parse_quantity(product=store_product.product, quantity=quantity)
    now = timezone.now()
    _cart_touch_open(cart, now)
    hold_until = (
        now + dt.timedelta(minutes=cart.store.price_hold_minutes)
        if cart.channel == Channel.IN_STORE
        else None
    )
    line = CartLine.objects.filter(cart=cart, store_product=store_product).first()
    total = quantity + (line.quantity if line else 0)
    _check_line_limit(total)
    if cart.channel == Channel.APP:
        _check_online_stock(store_product, total)
    adds_to_line = line is not None
    if line is None:
        line = CartLine(cart=cart, store_product=store_product, quantity=quantity)
    else:
        line.quantity = F("quantity") + quantity
    line.held_price = store_product.shelf_price
    line.price_held_until = hold_until
    if substitution:
        line.substitution = substitution
    line.save()
    if adds_to_line:
        # The sum the database made is not known here; a new line holds
        # exactly what was just written.
        line.refresh_from_db(fields=["quantity"])
    return line


def _line_get(cart: Cart, line_id: Any, *, for_update: bool = False) -> CartLine:
    lines = CartLine.objects.select_related("store_product__product")
    if for_update:
        lines = lines.select_for_update(of=("self",))
    try:
        return lines.get(cart=cart, pk=line_id)
    except (CartLine.DoesNotExist, ValueError):
        raise InvalidCartOperation(
            "No such line in this cart.", {"field": "line", "value": str(line_id)}
        ) from None


@transaction.atomic
def cart_line_update(
    *, cart: Cart, line_id: Any, quantity: Any = None, substitution: str | None = None
) -> CartLine:
    """Set a line's quantity or substitution preference.

    Locks the cart row (as adding a line does, so a checkout or a scan takes
    turns with it), then the line's row: a line removed meanwhile is gone for
    this change too, rather than written back by it.
    """
    _cart_lock_open(cart)
    line = _line_get(cart, line_id, for_update=True)
    if quantity is not None:
        line.quantity = parse_quantity(
            product=line.store_product.product, quantity=quantity
        )
        _check_line_limit(line.quantity)
        if cart.channel == Channel.APP:
            _check_online_stock(line.store_product, line.quantity)
    if substitution:
        line.substitution = substitution
    line.save()
    return line


@transaction.atomic
def cart_line_remove(*, cart: Cart, line_id: Any) -> None:
    """Remove a line; under the cart's lock, so not from a cart a checkout
    racing it has just closed."""
    _cart_lock_open(cart)
    _line_get(cart, line_id).delete()
