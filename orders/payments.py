"""Payments: orders paid from the wallet or a provider, top-ups, provider webhooks.

The gateways (orders/gateways.py) move the money; this module owns the payment's
states and what a payment does to its order. Refunds live in orders/refunds.py.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
import time
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from inventory.errors import InsufficientStock
from inventory.models import ReservationState
from inventory.services import (
    ReservationLine,
    SaleLine,
    reservations_confirm,
    stock_reserve,
    stock_sell_in_store_lines,
)
from orders.domain_keys import domain_key_released
from orders.errors import (
    AlreadyPaid,
    InvalidTransition,
    PaymentMethodUnknown,
    TopUpReferenceReused,
    TopUpRefused,
    WebhookRejected,
)
from orders.fulfilment_handlers import order_fulfilment_open
from orders.gateways import (
    SANDBOX,
    WALLET,
    ProviderGateway,
    WalletGateway,
    gateway_get,
    payment_methods,
)
from orders.lifecycle import order_cancel, order_stock_lock, order_transition
from orders.models import (
    Member,
    Order,
    OrderLine,
    OrderLineState,
    OrderState,
    Payment,
    PaymentPurpose,
    PaymentState,
    WalletEntryKind,
    WebhookEvent,
)
from orders.refunds import (
    refund_create,
    refund_outside_total,
    refund_provider_reported,
)
from orders.wallet import (
    wallet_check_currency,
    wallet_credit,
    wallet_for,
    wallet_lock,
)

logger = logging.getLogger(__name__)


def _new_reference(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def _payment_mark_succeeded(payment: Payment) -> bool:
    """Pending, or reported failed earlier: a provider may report a failed
    attempt and then the retry that took the money; the money wins."""
    updated = Payment.objects.filter(
        pk=payment.pk, state__in=[PaymentState.PENDING, PaymentState.FAILED]
    ).update(state=PaymentState.SUCCEEDED, succeeded_at=timezone.now())
    payment.state = PaymentState.SUCCEEDED
    return bool(updated)


def _reservations_ensure(order: Order) -> None:
    """An unpaid order whose hold lapsed gets its units again, or payment fails."""
    lapsed = [
        line
        for line in order.lines.select_related(
            "reservation", "store_product__product"
        ).filter(state=OrderLineState.OPEN)
        if line.reservation is None or line.reservation.state != ReservationState.HELD
    ]
    if lapsed:
        order_lines_reserve(lines=lapsed, reference=order.number)


def order_lines_reserve(
    *,
    lines: list[OrderLine],
    reference: str,
    reserved_until: dt.datetime | None = None,
) -> None:
    """Reserve the lines' stock, all or none, and link each line to its hold."""
    reservations = stock_reserve(
        lines=[ReservationLine(line.store_product, line.quantity) for line in lines],
        reference=reference,
        reserved_until=reserved_until,
    )
    by_product = {r.store_product_id: r for r in reservations}
    for line in lines:
        line.reservation = by_product[line.store_product_id]
    OrderLine.objects.bulk_update(lines, ["reservation"])


def order_mark_paid(*, order: Order, payment: Payment, actor: Any = None) -> Order:
    """Paid: the order keeps its stock until picked, and its path begins.

    ``actor`` is the member who paid at once (wallet); a provider's webhook pays
    with no actor (the system)."""
    order_transition(
        order=order, to_state=OrderState.PAID, actor=actor, note=payment.method
    )
    now = timezone.now()
    Order.objects.filter(pk=order.pk).update(paid_at=now, payment_due_at=None)
    order.paid_at = now
    lines = list(order.lines.select_related("reservation", "store_product__product"))
    reservations_confirm(
        reservations=[line.reservation for line in lines if line.reservation_id]
    )
    if order.channel == "in_store":
        # The goods are in the shopper's hand: they leave the count now, never refused.
        stock_sell_in_store_lines(
            lines=[
                SaleLine(line.store_product, line.quantity, line.unit_price)
                for line in lines
            ],
            reference=order.number,
        )
    if order.fulfilment_mode == "carry_out":
        order_transition(
            order=order, to_state=OrderState.COMPLETED, actor=actor, note="carried out"
        )
    else:
        order_fulfilment_open(order, lines)
    return order


@transaction.atomic
def order_pay(*, order: Order, method: str, member: Member) -> Payment:
    """Pay an order awaiting payment. Wallet: paid at once, or refused (nothing
    changed) for too low a balance or an order in another currency than the
    wallet's. Provider: a pending payment the webhook settles."""
    gateway = gateway_get(method)
    wallet = None
    if isinstance(gateway, WalletGateway):
        wallet = wallet_lock(member=member)  # before any stock row: see wallet_lock
    order_stock_lock(order)  # stock before the order: see order_stock_lock
    order = Order.objects.select_for_update().get(pk=order.pk)
    if order.state != OrderState.CREATED:
        raise AlreadyPaid(
            f"Order {order.number} is {order.state}, not awaiting payment.",
            {"field": "order", "state": order.state},
        )
    if wallet is not None:
        wallet_check_currency(wallet=wallet, currency=order.currency)
    if order.channel == "app":
        _reservations_ensure(order)
    payment = Payment.objects.create(
        member=member,
        order=order,
        purpose=PaymentPurpose.ORDER,
        method=gateway.name,
        amount=order.total,
        currency=order.currency,
        provider_reference=_new_reference("pay"),
    )
    if gateway.charge(payment=payment):
        _payment_mark_succeeded(payment)
        order_mark_paid(order=order, payment=payment, actor=member.user)
    return payment


@transaction.atomic
def top_up_start(
    *,
    member: Member,
    amount: Decimal,
    method: str,
    reference: str = "",
    currency: str | None = None,
) -> Payment:
    """Money into the wallet comes from a provider; the webhook credits it.

    A top-up is in the wallet's currency (another is refused, nothing changed).
    ``reference`` (the client's, or one derived from its Idempotency-Key) names
    the top-up once per member (a unique constraint): the same reference again
    returns the first top-up, even when the key's record was lost, so a retry
    never starts a second payment; with another amount or method it is refused.
    A derived reference is released with its key (see orders/domain_keys.py).
    """
    if method == WALLET:
        raise PaymentMethodUnknown(
            "A wallet is topped up from a payment provider, not from itself.",
            {"field": "payment_method", "allowed": payment_methods()[1:]},
        )
    gateway = gateway_get(method)
    wallet = wallet_for(member)
    if currency is not None and currency != wallet.currency:
        raise TopUpRefused(
            f"This wallet is topped up in {wallet.currency}, not {currency}.",
            {"field": "currency", "allowed": [wallet.currency]},
        )
    if reference:
        first = _top_up_by_reference(member, reference)
        if first is not None and domain_key_released(
            reference, used_at=first.created_at, now=timezone.now()
        ):
            Payment.objects.filter(pk=first.pk).update(client_reference="")
        elif first is not None:
            return _top_up_same(first, amount=amount, method=gateway.name)
    try:
        with transaction.atomic():
            payment = Payment.objects.create(
                member=member,
                purpose=PaymentPurpose.TOP_UP,
                method=gateway.name,
                amount=amount,
                currency=wallet.currency,
                provider_reference=_new_reference("top"),
                client_reference=reference,
            )
    except IntegrityError:
        # The same reference committed by a request racing this one.
        first = _top_up_by_reference(member, reference) if reference else None
        if first is None:
            raise
        return _top_up_same(first, amount=amount, method=gateway.name)
    gateway.charge(payment=payment)
    return payment


def _top_up_by_reference(member: Member, reference: str) -> Payment | None:
    return Payment.objects.filter(
        member=member, purpose=PaymentPurpose.TOP_UP, client_reference=reference
    ).first()


def _top_up_same(first: Payment, *, amount: Decimal, method: str) -> Payment:
    """The first top-up under a reference, if this request asks for the same."""
    if (first.amount, first.method) != (amount, method):
        raise TopUpReferenceReused(
            f"Top-up {first.client_reference!r} was for {first.amount} with "
            f"{first.method}; a new top-up needs a new reference.",
            {
                "field": "reference",
                "amount": str(first.amount),
                "payment_method": first.method,
            },
        )
    return first


def _payment_succeeded_from_provider(payment: Payment) -> None:
    """The provider took the money. Caller holds the payment's row lock."""
    if payment.purpose == PaymentPurpose.TOP_UP:
        if _payment_mark_succeeded(payment):
            wallet_credit(
                member=payment.member,
                amount=payment.amount,
                kind=WalletEntryKind.TOP_UP,
                reference=payment.provider_reference,
                currency=payment.currency,
            )
        return
    order_stock_lock(Order(pk=payment.order_id))  # see order_stock_lock
    order = Order.objects.select_for_update().get(pk=payment.order_id)
    if payment.state not in (PaymentState.PENDING, PaymentState.FAILED):
        return  # already settled: a retried webhook under another event id
    if order.payments.filter(
        purpose=PaymentPurpose.ORDER, state=PaymentState.SUCCEEDED
    ).exists():
        # Paid another way meanwhile (the wallet, or a second provider payment):
        # this money is extra and goes back in full; the order stays as it is.
        Payment.objects.filter(pk=payment.pk).update(
            state=PaymentState.DUPLICATE, succeeded_at=timezone.now()
        )
        refund_outside_total(
            order=order,
            payment=payment,
            amount=payment.amount,
            reason="paid twice: the order was already paid",
        )
        return
    _payment_mark_succeeded(payment)
    try:
        if order.channel == "app":
            _reservations_ensure(order)
        order_mark_paid(order=order, payment=payment)
    except (InvalidTransition, InsufficientStock) as exc:
        # Money arrived for an order we can no longer serve: give it back. An order
        # still awaiting payment is cancelled first, so that it cannot be paid again.
        logger.warning("payment %s for %s refunded: %s", payment.pk, order.number, exc)
        if order.state == OrderState.CREATED:
            order = order_cancel(
                order=order, reason="paid when it could no longer be served"
            )
        reason = f"cannot fulfil: {exc}"
        within_total = min(payment.amount, order.total - order.refunded_total)
        if within_total > 0:
            refund_create(order=order, amount=within_total, reason=reason)
        beyond_total = payment.amount - within_total
    else:
        # The amount was fixed when the payment started; lines found short since
        # made the total smaller, and what the payment took beyond it goes back.
        reason = "lines short before the payment arrived"
        beyond_total = payment.amount - order.total
    if beyond_total > 0:
        refund_outside_total(
            order=order, payment=payment, amount=beyond_total, reason=reason
        )


def sandbox_refund_confirm(*, reference: str) -> str:
    """The sandbox provider confirms a refund it accepted, as a real one does: its
    ``refund.succeeded`` event, signed with its secret, through ``webhook_handle``
    (the signature checked, the event deduplicated, the refund settled once).
    Returns the webhook's result; refused if the sandbox is not enabled."""
    gateway = gateway_get(SANDBOX)
    event = {
        "id": _new_reference("evt"),
        "type": "refund.succeeded",
        "data": {"reference": reference},
    }
    body = json.dumps(event).encode()
    return webhook_handle(
        provider=gateway.name,
        body=body,
        signature=gateway.sign(body, int(time.time())),
    )


@transaction.atomic
def webhook_handle(*, provider: str, body: bytes, signature: str) -> str:
    """Verify, deduplicate by event id, and apply a provider's event.

    Returns "processed", "duplicate" or "ignored" (an event type we do not use).
    """
    try:
        gateway = gateway_get(provider)
    except PaymentMethodUnknown:
        raise WebhookRejected(
            f"Unknown payment provider {provider!r}.", {"field": "provider"}
        ) from None
    if not isinstance(gateway, ProviderGateway):
        raise WebhookRejected("The wallet has no webhooks.", {"field": "provider"})
    event = gateway.verify(body, signature)
    try:
        with transaction.atomic():
            WebhookEvent.objects.create(
                provider=provider,
                event_id=str(event["id"]),
                event_type=str(event["type"]),
                payload=event,
            )
    except IntegrityError:
        return "duplicate"
    data: Any = event["data"]
    reference = str(data.get("reference", "")) if isinstance(data, dict) else ""
    kind = event["type"]
    if kind in ("payment.succeeded", "payment.failed"):
        payment = (
            Payment.objects.select_for_update()
            .filter(method=provider, provider_reference=reference)
            .first()
        )
        if payment is None:
            raise WebhookRejected(
                f"No payment {reference!r} with {provider}.", {"field": "reference"}
            )
        if kind == "payment.succeeded":
            _payment_succeeded_from_provider(payment)
        else:
            Payment.objects.filter(pk=payment.pk, state=PaymentState.PENDING).update(
                state=PaymentState.FAILED
            )
        return "processed"
    if kind in ("refund.succeeded", "refund.failed"):
        provider_refund_id = data.get("refund_id") if isinstance(data, dict) else None
        changed = refund_provider_reported(
            provider=provider,
            reference=reference,
            succeeded=kind == "refund.succeeded",
            provider_refund_id=str(provider_refund_id or "")[:64],
        )
        return "processed" if changed else "ignored"
    return "ignored"
