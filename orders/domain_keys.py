"""Domain keys: the request id of a refund (once per order) and the reference
of a top-up (once per member), so that a retry whose Idempotency-Key record was
lost finds the first result instead of acting twice.

A client may send its own, kept for good. Without one, the key is derived from
the request's Idempotency-Key and lives as long as that key's record would
(``orders.idempotency.KEEP_FOR``): after that the same Idempotency-Key is a new
request, as the idempotency contract says, and the derived key is released.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from orders.idempotency import KEEP_FOR

DERIVED_PREFIX = "key-"


def domain_key(*, given: str | None, user: Any, idempotency_key: str) -> str:
    """The client's own key, else one derived from its Idempotency-Key."""
    if given:
        return given
    raw = f"{user.pk}:{idempotency_key.strip()}".encode()
    return DERIVED_PREFIX + hashlib.sha256(raw).hexdigest()[:40]


def domain_key_released(key: str, *, used_at: dt.datetime, now: dt.datetime) -> bool:
    """Whether a derived key used at ``used_at`` names nothing any more."""
    return key.startswith(DERIVED_PREFIX) and used_at < now - KEEP_FOR
