"""Refunds, from the row written with their cause to the money back.

A refund is first written as a pending ``Refund`` row in the same transaction as
its cause (the outbox): a cancellation, a manager's refund, a short line, money
that arrived for an order that could not take it. A task pays it after commit
through the gateway of the method that took the money, and a sweep retries what
a lost task or a down broker left undone. A refund always returns to the method
that paid.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from decimal import Decimal
from typing import Any

from celery import current_app
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from hema.jobs import enqueue_on_commit
from orders.errors import RefundRefused
from orders.events import clip, order_event_record
from orders.gateways import gateway_get
from orders.models import (
    Order,
    OrderLine,
    OrderState,
    Payment,
    PaymentPurpose,
    PaymentState,
    Refund,
    RefundState,
    RefundStatus,
)
from orders.tax import money

logger = logging.getLogger(__name__)

# The task that pays one refund (registered in orders/tasks.py, which imports
# this module; enqueued here by name so that the two do not import each other).
PAY_REFUND_TASK = "orders.pay_refund"
REASON_MAX = Refund._meta.get_field("reason").max_length


def _pay_after_commit(refund: Refund) -> None:
    enqueue_on_commit(current_app.tasks[PAY_REFUND_TASK], refund.pk)


def _succeeded_payment(order: Order) -> Payment | None:
    return order.payments.filter(
        purpose=PaymentPurpose.ORDER, state=PaymentState.SUCCEEDED
    ).first()


def refund_create(
    *,
    order: Order,
    amount: Decimal,
    reason: str,
    actor: Any = None,
    line: OrderLine | None = None,
) -> Refund:
    """Write a pending refund (the outbox row) and count it against the order.

    The order's refunded total grows with a conditional UPDATE that keeps it
    within the total, so two refunds can never return more than was paid.
    Caller holds a transaction; the payment task is enqueued on commit.
    """
    amount = money(Decimal(amount))
    reason = clip(reason, REASON_MAX)
    if amount <= 0:
        raise RefundRefused("A refund must be more than zero.", {"field": "amount"})
    payment = _succeeded_payment(order)
    if payment is None:
        raise RefundRefused(
            f"Order {order.number} has no payment to refund.", {"field": "order"}
        )
    updated = Order.objects.filter(
        pk=order.pk, refunded_total__lte=F("total") - amount
    ).update(refunded_total=F("refunded_total") + amount)
    if not updated:
        order.refresh_from_db(fields=["refunded_total", "total"])
        left = order.total - order.refunded_total
        raise RefundRefused(
            f"At most {left} is left to refund on {order.number}.",
            {"field": "amount", "refundable": str(left), "requested": str(amount)},
        )
    order.refresh_from_db(fields=["refunded_total", "total"])
    status = (
        RefundStatus.FULL
        if order.refunded_total >= order.total
        else RefundStatus.PARTIAL
    )
    Order.objects.filter(pk=order.pk).update(refund_status=status)
    order.refund_status = status
    refund = Refund.objects.create(
        order=order,
        payment=payment,
        line=line,
        amount=amount,
        reason=reason,
        actor=actor,
    )
    order_event_record(
        order, order.state, order.state, actor, f"refund {amount}: {reason}"
    )
    _pay_after_commit(refund)
    return refund


def refund_outside_total(
    *, order: Order, payment: Payment, amount: Decimal, reason: str
) -> Refund:
    """Give back money a payment took beyond what it pays of the order's total.

    A provider payment is fixed when it starts; when lines fall short before it
    arrives, or the order was paid another way meanwhile, part or all of it was
    never part of the order's total, so it does not count against what is left to
    refund. Caller holds a transaction with the order locked; the refund is paid
    by the task after commit, like every other.
    """
    refund = Refund.objects.create(
        order=order,
        payment=payment,
        amount=money(Decimal(amount)),
        reason=clip(reason, REASON_MAX),
    )
    order_event_record(
        order, order.state, order.state, None, f"refund {refund.amount}: {reason}"
    )
    _pay_after_commit(refund)
    return refund


@transaction.atomic
def order_refund(
    *,
    order: Order,
    amount: Decimal,
    reason: str,
    actor: Any = None,
) -> Refund:
    """A manager's goodwill or correction refund on a paid order, with a reason."""
    if not reason or not reason.strip():
        raise RefundRefused("A refund needs a reason.", {"field": "reason"})
    order = Order.objects.select_for_update().get(pk=order.pk)
    if order.state in (
        OrderState.CREATED,
        OrderState.CANCELLED,
    ) and not _succeeded_payment(order):
        raise RefundRefused(
            f"Order {order.number} is {order.state}: nothing was paid.",
            {"field": "order", "state": order.state},
        )
    return refund_create(order=order, amount=amount, reason=reason.strip(), actor=actor)


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
                settled = gateway_get(refund.payment.method).refund(refund=refund)
                if settled:
                    Refund.objects.filter(pk=refund.pk).update(
                        state=RefundState.SUCCEEDED, succeeded_at=timezone.now()
                    )
                else:
                    Refund.objects.filter(pk=refund.pk).update(
                        state=RefundState.SUBMITTED
                    )
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


def refund_provider_reported(*, provider: str, reference: str, succeeded: bool) -> bool:
    """The provider's webhook settles a submitted refund (our uuid as reference).

    Returns whether a refund of ours changed; anything else is ignored.
    """
    try:
        refund_uuid = uuid.UUID(reference)
    except ValueError:
        return False  # not one of our refunds, as an unknown one
    state = RefundState.SUCCEEDED if succeeded else RefundState.FAILED
    updated = Refund.objects.filter(
        uuid=refund_uuid, payment__method=provider, state=RefundState.SUBMITTED
    ).update(
        state=state,
        succeeded_at=timezone.now() if state == RefundState.SUCCEEDED else None,
    )
    return bool(updated)
