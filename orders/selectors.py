"""Reads of orders that more than one caller needs."""

from __future__ import annotations

from django.db.models import QuerySet

from orders.models import Order, Payment, PaymentPurpose


def order_queryset() -> QuerySet[Order]:
    """Orders with what their detail answer shows: store, lines, timeline, refunds."""
    return Order.objects.select_related("store").prefetch_related(
        "lines", "events", "refunds"
    )


def order_checkout_payment(*, order: Order) -> Payment | None:
    """The payment the order's checkout started (its first order payment)."""
    return (
        Payment.objects.filter(order=order, purpose=PaymentPurpose.ORDER)
        .order_by("pk")
        .first()
    )


def order_repriced_lines(*, order: Order) -> list[dict[str, str]]:
    """In store: the lines charged the price at payment because their scanned
    price's hold had lapsed, as the checkout listed them."""
    return [
        {
            "sku": line.sku,
            "scanned_price": str(line.repriced_from),
            "price": str(line.unit_price),
        }
        for line in order.lines.filter(repriced_from__isnull=False).order_by("pk")
    ]
