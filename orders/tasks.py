"""Orders' Celery tasks: thin and safe to run twice; the sweeps catch what a lost
task or a down broker left undone."""

from celery import shared_task

from orders.gateways import SANDBOX_CONFIRM_TASK
from orders.idempotency import idempotency_keys_purge
from orders.lifecycle import orders_expire_unpaid
from orders.payments import sandbox_refund_confirm
from orders.refunds import PAY_REFUND_TASK, refund_pay, refunds_sweep


@shared_task(name=PAY_REFUND_TASK)
def pay_refund_task(refund_id: int) -> str:
    return refund_pay(refund_id=refund_id)


@shared_task(name=SANDBOX_CONFIRM_TASK)
def sandbox_confirm_refund_task(reference: str) -> str:
    return sandbox_refund_confirm(reference=reference)


@shared_task(name="orders.sweep_refunds")
def sweep_refunds_task() -> int:
    return refunds_sweep()


@shared_task(name="orders.expire_unpaid")
def expire_unpaid_orders_task() -> int:
    return orders_expire_unpaid()


@shared_task(name="orders.purge_idempotency_keys")
def purge_idempotency_keys_task() -> int:
    return idempotency_keys_purge()
