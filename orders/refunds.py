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
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from hema.jobs import enqueue_on_commit
from orders.domain_keys import domain_key_released
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
# What a task or the sweep may still send; settled and needs-attention ones not.
RETRYABLE = (RefundState.PENDING, RefundState.FAILED, RefundState.SUBMITTED)


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
    request_id: str = "",
) -> Refund:
    """Write a pending refund (the outbox row) and count it against the order.

    The order's refunded total grows with a conditional UPDATE that keeps it
    within the total, so two refunds can never return more than was paid.
    ``request_id`` names the request that asked for it, once per order (a
    unique constraint); see ``order_refund``. Caller holds a transaction with
    the order locked; the payment task is enqueued on commit.
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
        request_id=request_id,
        next_attempt_at=timezone.now(),
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
        next_attempt_at=timezone.now(),
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
    request_id: str = "",
    line: OrderLine | None = None,
) -> Refund:
    """A manager's goodwill or correction refund on a paid order, with a reason.

    ``line``, when given, is the line the refund is for (it must be the order's);
    the amount is still the caller's, and counts against the order's total.

    ``request_id`` (the client's, or one derived from its Idempotency-Key) makes
    a retry safe even when its key's record was lost: the same id on the same
    order returns the first refund and changes nothing; the same id for another
    amount is refused. A derived id is released with its key (see
    orders/domain_keys.py). Locks the order row, so two such requests take turns.
    """
    if not reason or not reason.strip():
        raise RefundRefused("A refund needs a reason.", {"field": "reason"})
    order = Order.objects.select_for_update().get(pk=order.pk)
    if request_id:
        first = order.refunds.filter(request_id=request_id).first()
        if first is not None and domain_key_released(
            request_id, used_at=first.created_at, now=timezone.now()
        ):
            Refund.objects.filter(pk=first.pk).update(request_id="")
        elif first is not None:
            if first.amount != money(Decimal(amount)):
                raise RefundRefused(
                    f"Request {request_id!r} already refunded {first.amount} on "
                    f"{order.number}; a new refund needs a new request id.",
                    {
                        "field": "request_id",
                        "refunded": str(first.amount),
                        "requested": str(amount),
                    },
                )
            return first
    if order.state in (
        OrderState.CREATED,
        OrderState.CANCELLED,
    ) and not _succeeded_payment(order):
        raise RefundRefused(
            f"Order {order.number} is {order.state}: nothing was paid.",
            {"field": "order", "state": order.state},
        )
    if line is not None and line.order_id != order.pk:
        raise RefundRefused(
            f"That line is not on order {order.number}.", {"field": "line"}
        )
    return refund_create(
        order=order,
        amount=amount,
        reason=reason.strip(),
        actor=actor,
        line=line,
        request_id=request_id,
    )


def _retry_delay(attempt: int) -> dt.timedelta:
    """Exponential backoff: the base delay, doubled after each failed attempt,
    at most six hours."""
    seconds = settings.HEMA_REFUND_RETRY_SECONDS * 2 ** max(attempt - 1, 0)
    return dt.timedelta(seconds=min(seconds, 6 * 3600))


def _refund_claim(refund_id: int, now: dt.datetime) -> Refund | None:
    """Take a due refund for one attempt, or None (settled, not due, or taken).

    Under the refund's row lock (skip_locked: a refund another worker holds is
    left to it): the attempt is counted and ``next_attempt_at`` moves a lease
    ahead, so that no other task or sweep sends it while this attempt runs
    outside any transaction (no network call under a lock). A refund whose
    attempts are used up goes in front of the managers instead.
    """
    with transaction.atomic():
        refund = (
            Refund.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("payment__member", "order")
            .filter(pk=refund_id, state__in=RETRYABLE, next_attempt_at__lte=now)
            .first()
        )
        if refund is None:
            return None
        if refund.attempts >= settings.HEMA_REFUND_MAX_ATTEMPTS:
            reason = (
                f"not confirmed after {refund.attempts} sends"
                if refund.state == RefundState.SUBMITTED
                else refund.last_error or "retries used up"
            )
            _needs_attention(refund, reason)
            return None
        refund.attempts += 1
        refund.next_attempt_at = now + dt.timedelta(
            seconds=settings.HEMA_REFUND_LEASE_SECONDS
        )
        refund.provider_key = refund.provider_key or (
            f"{refund.uuid.hex}-{refund.attempts}"
        )
        refund.save(update_fields=["attempts", "next_attempt_at", "provider_key"])
        return refund


def _needs_attention(refund: Refund, error: str) -> None:
    """Out of attempts: kept, shown to the store's managers, logged at ERROR."""
    Refund.objects.filter(pk=refund.pk).update(
        state=RefundState.NEEDS_ATTENTION,
        next_attempt_at=None,
        last_error=error[:255],
        updated_at=timezone.now(),
    )
    logger.error(
        "refund %s of %s on order %s needs attention after %s attempts: %s",
        refund.pk,
        refund.amount,
        refund.order.number,
        refund.attempts,
        error,
    )


def _attempt_failed(
    refund: Refund, error: str, now: dt.datetime, *, definite: bool = False
) -> str:
    """A failed attempt: retried after a backoff, or, out of attempts, shown to
    the managers. ``definite``: the provider said no, so the next attempt is a
    new request (a new idempotency key); otherwise the outcome is unknown and
    the next attempt repeats this one's key. Conditional on the attempt, so that
    a late answer to an old attempt changes nothing."""
    current = Refund.objects.filter(
        pk=refund.pk, attempts=refund.attempts, state__in=RETRYABLE
    )
    if refund.attempts >= settings.HEMA_REFUND_MAX_ATTEMPTS:
        if current.exists():
            _needs_attention(refund, error)
            return RefundState.NEEDS_ATTENTION
    else:
        fields: dict[str, Any] = {
            "state": RefundState.FAILED,
            "next_attempt_at": now + _retry_delay(refund.attempts),
            "last_error": error[:255],
            "updated_at": now,
        }
        if definite:
            fields["provider_key"] = ""
        if current.update(**fields):
            logger.warning(
                "refund %s attempt %s failed, retried at %s: %s",
                refund.pk,
                refund.attempts,
                fields["next_attempt_at"],
                error,
            )
            return RefundState.FAILED
    return Refund.objects.values_list("state", flat=True).get(pk=refund.pk)


def refund_pay(*, refund_id: int, now: dt.datetime | None = None) -> str:
    """Pay one due refund through the method that took the money.

    The wallet pays at once (the credit and the state in one transaction, the
    credit once per refund whatever runs twice). A provider is sent the request
    (outside any transaction) and the refund is ``submitted`` until its webhook;
    unconfirmed after ``HEMA_REFUND_CONFIRM_SECONDS`` it is sent again under the
    same idempotency key. A failed attempt is retried with exponential backoff
    (``next_attempt_at``), and after ``HEMA_REFUND_MAX_ATTEMPTS`` the refund
    ``needs_attention``: never dropped. Safe to run twice: see ``_refund_claim``.
    Returns the refund's state afterwards.
    """
    now = now or timezone.now()
    refund = _refund_claim(refund_id, now)
    if refund is None:
        return Refund.objects.values_list("state", flat=True).get(pk=refund_id)
    attempt = Refund.objects.filter(
        pk=refund.pk, attempts=refund.attempts, state__in=RETRYABLE
    )
    try:
        with transaction.atomic():
            settled = gateway_get(refund.payment.method).refund(refund=refund)
            if settled:
                attempt.update(
                    state=RefundState.SUCCEEDED,
                    succeeded_at=timezone.now(),
                    next_attempt_at=None,
                    last_error="",
                )
    except Exception as exc:
        return _attempt_failed(refund, f"{type(exc).__name__}: {exc}", now)
    if not settled:
        attempt.update(
            state=RefundState.SUBMITTED,
            provider_refund_id=refund.provider_refund_id,
            next_attempt_at=timezone.now()
            + dt.timedelta(seconds=settings.HEMA_REFUND_CONFIRM_SECONDS),
            last_error="",
        )
    return Refund.objects.values_list("state", flat=True).get(pk=refund_id)


def refunds_sweep(
    *, older_than_seconds: int = 60, limit: int = 200, now: dt.datetime | None = None
) -> int:
    """Send every refund that is due: pending ones a lost task or a down broker
    left (older than ``older_than_seconds``, so that a fresh one is left to its
    task), failed ones whose backoff has passed, and submitted ones the provider
    never confirmed. Returns how many were paid (or sent) by this run."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=older_than_seconds)
    ids = list(
        Refund.objects.filter(
            state__in=RETRYABLE, next_attempt_at__lte=now, created_at__lt=cutoff
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    done = (RefundState.SUCCEEDED, RefundState.SUBMITTED)
    return sum(refund_pay(refund_id=pk, now=now) in done for pk in ids)


@transaction.atomic
def refund_retry(*, refund: Refund, actor: Any = None) -> Refund:
    """A manager sends a refund that needs attention (or waits on its backoff)
    again now, with a fresh set of attempts; recorded on the order's timeline.

    Refused for a refund that succeeded or is still with the provider.
    """
    refund = (
        Refund.objects.select_for_update(of=("self",))
        .select_related("order")
        .get(pk=refund.pk)
    )
    if refund.state not in (RefundState.NEEDS_ATTENTION, RefundState.FAILED):
        raise RefundRefused(
            f"This refund is {refund.state}: only a failed one is retried.",
            {"field": "refund", "state": refund.state},
        )
    now = timezone.now()
    Refund.objects.filter(pk=refund.pk).update(
        state=RefundState.PENDING, attempts=0, next_attempt_at=now, updated_at=now
    )
    order_event_record(
        refund.order,
        refund.order.state,
        refund.order.state,
        actor,
        f"refund {refund.amount} retried after: {refund.last_error}",
    )
    _pay_after_commit(refund)
    refund.refresh_from_db()
    return refund


def refund_provider_reported(
    *, provider: str, reference: str, succeeded: bool, provider_refund_id: str = ""
) -> bool:
    """The provider's webhook settles a refund sent to it (our uuid as reference).

    ``refund.succeeded``: the money went back, whatever we last thought of the
    attempt (a send that timed out may still have gone through). ``refund.failed``
    on a submitted refund: a definite failure, retried with backoff as a new
    request, unless it names (``provider_refund_id``) another attempt than the
    one in flight: a late failure of an earlier attempt must not renew the key
    of one that may still succeed, or the next attempt would refund again.
    Returns whether a refund of ours changed; anything else is ignored.
    """
    try:
        refund_uuid = uuid.UUID(reference)
    except ValueError:
        return False  # not one of our refunds, as an unknown one
    ours = Refund.objects.filter(
        uuid=refund_uuid, payment__method=provider, attempts__gt=0
    )
    if succeeded:
        now = timezone.now()
        return bool(
            ours.exclude(state=RefundState.SUCCEEDED).update(
                state=RefundState.SUCCEEDED,
                succeeded_at=now,
                next_attempt_at=None,
                last_error="",
                updated_at=now,
            )
        )
    refund = (
        ours.select_for_update(of=("self",))
        .select_related("order")
        .filter(state=RefundState.SUBMITTED)
        .first()
    )
    if refund is None:
        return False
    if provider_refund_id and provider_refund_id != refund.provider_refund_id:
        logger.warning(
            "refund %s: ignored a failure of attempt %s, not the one in flight (%s)",
            refund.pk,
            provider_refund_id,
            refund.provider_refund_id or "none",
        )
        return False
    _attempt_failed(
        refund, "the provider reported it failed", timezone.now(), definite=True
    )
    return True
