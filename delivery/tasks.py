"""Delivery's Celery tasks: thin and safe to run twice."""

from celery import shared_task

from delivery.api import guard


@shared_task(name="delivery.purge_idempotency_keys")
def purge_staff_idempotency_keys_task() -> int:
    """Forget staff scanners' Idempotency-Keys older than 24 hours."""
    return guard.purge()
