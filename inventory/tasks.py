"""Inventory's Celery tasks: thin, idempotent wrappers around services."""

from celery import shared_task

from inventory.services import reservations_release_expired


@shared_task(name="inventory.release_expired_reservations")
def release_expired_reservations_task() -> int:
    """Beat job (every minute): give back the stock of checkouts left unpaid."""
    return reservations_release_expired()
