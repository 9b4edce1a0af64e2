"""Idempotency-Key for the shopper's POSTs that create orders, payments and
refunds: the rule of ``hema.idempotency`` over orders' ``IdempotencyKey`` table
(its docstring says how a key behaves)."""

from __future__ import annotations

import datetime as dt

from hema.idempotency import HEADER, KEEP_FOR, MAX_KEY_LENGTH, IdempotencyGuard
from orders.models import IdempotencyKey

__all__ = [
    "HEADER",
    "KEEP_FOR",
    "MAX_KEY_LENGTH",
    "guard",
    "idempotency_keys_purge",
    "idempotent",
    "key_lock_id",
]

guard = IdempotencyGuard(IdempotencyKey, b"orders.idempotency")
idempotent = guard.idempotent
key_lock_id = guard.key_lock_id


def idempotency_keys_purge(*, now: dt.datetime | None = None) -> int:
    """Forget keys older than the retention period."""
    return guard.purge(now=now)
