"""Payments and refunds through one small gateway interface.

The wallet is the built-in method: it pays and refunds at once. An external
provider (card, Alipay-style) takes the shopper's money in its own app; we learn
of it from a signed webhook, and refunds to it are submitted and confirmed by a
webhook too. A refund always returns to the method that paid.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import secrets
import time
import uuid
from decimal import Decimal
from typing import Any, Protocol

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from inventory.errors import InsufficientStock
from inventory.models import ReservationState
from inventory.services import (
    ReservationLine,
    reservations_confirm,
    stock_reserve,
    stock_sell_in_store,
)
from orders.errors import (
    AlreadyPaid,
    InvalidTransition,
    PaymentMethodUnknown,
    WebhookRejected,
)
from orders.lifecycle import (
    order_cancel,
    order_stock_lock,
    order_transition,
    refund_create,
    refund_outside_total,
)
from orders.models import (
    Member,
    Order,
    OrderLine,
    OrderLineState,
    OrderState,
    Payment,
    PaymentPurpose,
    PaymentState,
    Refund,
    RefundState,
    WalletEntryKind,
    WebhookEvent,
)
from orders.wallet import wallet_credit, wallet_debit, wallet_lock

logger = logging.getLogger(__name__)
WALLET = "wallet"


class PaymentGateway(Protocol):
    name: str

    def charge(self, *, payment: Payment) -> None:
        """Take the money now, or leave the payment pending for the webhook."""

    def refund(self, *, refund: Refund) -> None:
        """Return the money now, or submit it and leave it for the webhook."""


class WalletGateway:
    name = WALLET

    def charge(self, *, payment: Payment) -> None:
        wallet_debit(
            member=payment.member,
            amount=payment.amount,
            reference=payment.provider_reference,
        )
        _payment_mark_succeeded(payment)

    def refund(self, *, refund: Refund) -> None:
        wallet_credit(
            member=refund.payment.member,
            amount=refund.amount,
            kind=WalletEntryKind.REFUND,
            reference=str(refund.uuid),
        )
        Refund.objects.filter(pk=refund.pk).update(
            state=RefundState.SUCCEEDED, succeeded_at=timezone.now()
        )


class ProviderGateway:
    """An external provider: the app pays with ``provider_reference``; the
    provider's signed webhook reports the outcome."""

    def __init__(self, name: str, secret: str) -> None:
        self.name = name
        self.secret = secret

    def charge(self, *, payment: Payment) -> None:
        return None  # pending until the provider's payment.succeeded webhook

    def refund(self, *, refund: Refund) -> None:
        Refund.objects.filter(pk=refund.pk).update(state=RefundState.SUBMITTED)

    def sign(self, body: bytes, timestamp: int) -> str:
        mac = hmac.new(
            self.secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
        )
        return f"t={timestamp},v1={mac.hexdigest()}"

    def verify(self, body: bytes, header: str, now: float | None = None) -> dict:
        """The event, if the signature is ours and recent; else a refusal."""
        parts = dict(
            item.split("=", 1) for item in (header or "").split(",") if "=" in item
        )
        try:
            timestamp = int(parts["t"])
            given = parts["v1"]
        except (KeyError, ValueError):
            raise WebhookRejected(
                "Missing or malformed signature header.", {"field": "Hema-Signature"}
            ) from None
        now = time.time() if now is None else now
        if abs(now - timestamp) > settings.HEMA_WEBHOOK_TOLERANCE_SECONDS:
            raise WebhookRejected(
                "The signature timestamp is too old.", {"field": "Hema-Signature"}
            )
        expected = self.sign(body, timestamp).split("v1=", 1)[1]
        if not hmac.compare_digest(expected, given):
            raise WebhookRejected("Bad signature.", {"field": "Hema-Signature"})
        try:
            event = json.loads(body)
        except ValueError:
            raise WebhookRejected("The body is not JSON.", {"field": "body"}) from None
        except RecursionError:
            raise WebhookRejected(
                "The body is nested too deeply.", {"field": "body"}
            ) from None
        if not isinstance(event, dict) or not {"id", "type", "data"} <= event.keys():
            raise WebhookRejected(
                "An event needs id, type and data.", {"field": "body"}
            )
        event_id, kind = event["id"], event["type"]
        if (
            isinstance(event_id, bool)
            or not isinstance(event_id, str | int)
            or not isinstance(kind, str)
            or not 0 < len(str(event_id)) <= EVENT_ID_MAX
            or not 0 < len(kind) <= EVENT_TYPE_MAX
        ):
            raise WebhookRejected(
                f"An event's id is a string or number of at most {EVENT_ID_MAX} "
                f"characters and its type a string of at most {EVENT_TYPE_MAX}.",
                {"field": "body"},
            )
        if _holds_nul(event):
            raise WebhookRejected(
                "An event may not contain NUL characters.", {"field": "body"}
            )
        return event


EVENT_ID_MAX = WebhookEvent._meta.get_field("event_id").max_length
EVENT_TYPE_MAX = WebhookEvent._meta.get_field("event_type").max_length


def _holds_nul(value: Any) -> bool:
    """Whether a NUL hides in a decoded JSON value (PostgreSQL stores none)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


def gateway_get(method: str) -> PaymentGateway:
    if method == WALLET:
        return WalletGateway()
    secret = settings.HEMA_PAYMENT_PROVIDERS.get(method)
    if secret is None:
        known = [WALLET, *sorted(settings.HEMA_PAYMENT_PROVIDERS)]
        raise PaymentMethodUnknown(
            f"Unknown payment method {method!r}.",
            {"field": "payment_method", "allowed": known},
        )
    return ProviderGateway(method, secret)


def payment_methods() -> list[str]:
    return [WALLET, *sorted(settings.HEMA_PAYMENT_PROVIDERS)]


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
        for line in sorted(lines, key=lambda line: line.store_product_id):
            stock_sell_in_store(
                store_product=line.store_product,
                quantity=line.quantity,
                unit_price=line.unit_price,
                reference=order.number,
            )
    if order.fulfilment_mode == "carry_out":
        order_transition(
            order=order, to_state=OrderState.COMPLETED, actor=actor, note="carried out"
        )
    return order


@transaction.atomic
def order_pay(*, order: Order, method: str, member: Member) -> Payment:
    """Pay an order awaiting payment. Wallet: paid at once, or refused with the
    balance and nothing changed. Provider: a pending payment the webhook settles."""
    gateway = gateway_get(method)
    if isinstance(gateway, WalletGateway):
        wallet_lock(member=member)  # before any stock row: see wallet_lock
    order_stock_lock(order)  # stock before the order: see order_stock_lock
    order = Order.objects.select_for_update().get(pk=order.pk)
    if order.state != OrderState.CREATED:
        raise AlreadyPaid(
            f"Order {order.number} is {order.state}, not awaiting payment.",
            {"field": "order", "state": order.state},
        )
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
    gateway.charge(payment=payment)
    if payment.state == PaymentState.SUCCEEDED:
        order_mark_paid(order=order, payment=payment, actor=member.user)
    return payment


@transaction.atomic
def top_up_start(*, member: Member, amount: Decimal, method: str) -> Payment:
    """Money into the wallet comes from a provider; the webhook credits it."""
    if method == WALLET:
        raise PaymentMethodUnknown(
            "A wallet is topped up from a payment provider, not from itself.",
            {"field": "payment_method", "allowed": payment_methods()[1:]},
        )
    gateway = gateway_get(method)
    payment = Payment.objects.create(
        member=member,
        purpose=PaymentPurpose.TOP_UP,
        method=gateway.name,
        amount=amount,
        currency="CNY",
        provider_reference=_new_reference("top"),
    )
    gateway.charge(payment=payment)
    return payment


def _payment_succeeded_from_provider(payment: Payment) -> None:
    """The provider took the money. Caller holds the payment's row lock."""
    if payment.purpose == PaymentPurpose.TOP_UP:
        if _payment_mark_succeeded(payment):
            wallet_credit(
                member=payment.member,
                amount=payment.amount,
                kind=WalletEntryKind.TOP_UP,
                reference=payment.provider_reference,
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
        try:
            refund_uuid = uuid.UUID(reference)
        except ValueError:
            return "ignored"  # not one of our refunds, as an unknown one
        state = (
            RefundState.SUCCEEDED if kind == "refund.succeeded" else RefundState.FAILED
        )
        updated = Refund.objects.filter(
            uuid=refund_uuid, payment__method=provider, state=RefundState.SUBMITTED
        ).update(
            state=state,
            succeeded_at=timezone.now() if state == RefundState.SUCCEEDED else None,
        )
        return "processed" if updated else "ignored"
    return "ignored"


def refund_pay(*, refund_id: int) -> str:
    """Pay one pending refund through the method that took the money.

    Safe to run twice: only a pending (or failed) refund is claimed, under a
    row lock. Returns the refund's state afterwards.
    """
    with transaction.atomic():
        refund = (
            Refund.objects.select_for_update(skip_locked=True)
            .select_related("payment__member")
            .filter(pk=refund_id, state__in=[RefundState.PENDING, RefundState.FAILED])
            .first()
        )
        if refund is None:
            return Refund.objects.values_list("state", flat=True).get(pk=refund_id)
        Refund.objects.filter(pk=refund.pk).update(attempts=refund.attempts + 1)
        try:
            with transaction.atomic():
                gateway_get(refund.payment.method).refund(refund=refund)
        except Exception as exc:
            logger.exception("refund %s failed", refund.pk)
            Refund.objects.filter(pk=refund.pk).update(
                state=RefundState.FAILED, last_error=str(exc)[:255]
            )
            return RefundState.FAILED
    return Refund.objects.values_list("state", flat=True).get(pk=refund_id)


def refunds_sweep(*, older_than_seconds: int = 60, limit: int = 200) -> int:
    """Pay refunds that a lost task or a down broker left pending."""
    cutoff = timezone.now() - dt.timedelta(seconds=older_than_seconds)
    ids = list(
        Refund.objects.filter(
            state__in=[RefundState.PENDING, RefundState.FAILED],
            created_at__lt=cutoff,
            attempts__lt=10,
        ).values_list("pk", flat=True)[:limit]
    )
    return sum(refund_pay(refund_id=pk) == RefundState.SUCCEEDED for pk in ids)
