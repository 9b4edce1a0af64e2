"""Idempotency-Key for POSTs that create orders, payments and refunds.

Follows the IETF draft (and Stripe): the key is required (400 without it); the
same key with the same request replays the first response; the same key with
another request is a 422; a retry while the first is still running is a 409.
Keys are per user and kept at least 24 hours. A first attempt that ended in a
server error is forgotten, so that the retry runs again.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.response import Response

from hema.api import error_body
from hema.errors import ApplicationError
from orders.errors import (
    IdempotencyKeyInFlight,
    IdempotencyKeyMissing,
    IdempotencyKeyReused,
)
from orders.models import IdempotencyKey, IdempotencyState

HEADER = "Idempotency-Key"
KEEP_FOR = dt.timedelta(hours=24)
# Longer than the web server's request timeout (gunicorn: 60 s) by a wide margin.
ABANDONED_AFTER = dt.timedelta(minutes=10)
MAX_KEY_LENGTH = 255


def _fingerprint(request: Request) -> str:
    body = json.dumps(request.data, sort_keys=True, default=str)
    raw = f"{request.method} {request.path}\n{body}"
    return hashlib.sha256(raw.encode()).hexdigest()


def _abandoned(record: IdempotencyKey) -> bool:
    """In progress for longer than any request may run: its process died, and
    its transaction with it, so the retry may run again."""
    return (
        record.state == IdempotencyState.IN_PROGRESS
        and record.created_at < timezone.now() - ABANDONED_AFTER
    )


def _claim(user: Any, key: str, fingerprint: str) -> IdempotencyKey | None:
    """Record the key as in progress; return the earlier record if there is one.

    An earlier attempt that failed forgets its key as it ends, possibly between
    our refused insert and our read: then the key is free again and we claim it.
    """
    for _ in range(3):
        try:
            with transaction.atomic():
                IdempotencyKey.objects.create(
                    user=user,
                    key=key,
                    fingerprint=fingerprint,
                    state=IdempotencyState.IN_PROGRESS,
                )
        except IntegrityError:
            earlier = IdempotencyKey.objects.filter(user=user, key=key).first()
            if earlier is None:
                continue
            if _abandoned(earlier):
                IdempotencyKey.objects.filter(
                    pk=earlier.pk, state=IdempotencyState.IN_PROGRESS
                ).delete()
                continue
            return earlier
        return None
    raise IdempotencyKeyInFlight(
        "Another request with this key is starting and ending; retry later.",
        {"field": HEADER},
    )


def idempotent(view_method: Callable[..., Response]) -> Callable[..., Response]:
    """Decorate an APIView's ``post``."""

    @functools.wraps(view_method)
    def wrapper(self: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
        key = request.headers.get(HEADER, "").strip()
        if not key or len(key) > MAX_KEY_LENGTH:
            raise IdempotencyKeyMissing(
                f"Send an {HEADER} header (1-{MAX_KEY_LENGTH} characters) so that "
                "a retry cannot act twice.",
                {"field": HEADER},
            )
        fingerprint = _fingerprint(request)
        earlier = _claim(request.user, key, fingerprint)
        if earlier is not None:
            if earlier.fingerprint != fingerprint:
                raise IdempotencyKeyReused(
                    f"This {HEADER} was used for another request.", {"field": HEADER}
                )
            if earlier.state == IdempotencyState.IN_PROGRESS:
                raise IdempotencyKeyInFlight(
                    "The first request with this key is still running; retry later.",
                    {"field": HEADER},
                )
            response = Response(earlier.response_body, status=earlier.response_status)
            response["Idempotent-Replayed"] = "true"
            return response
        try:
            response = view_method(self, request, *args, **kwargs)
        except ApplicationError as exc:
            # A refusal is an answer: the same request replays the same refusal.
            body = error_body(exc.code, exc.message, exc.extra)
            _finish(request.user, key, exc.status_code, body)
            raise
        except Exception:
            IdempotencyKey.objects.filter(user=request.user, key=key).delete()
            raise
        if response.status_code >= 500:
            IdempotencyKey.objects.filter(user=request.user, key=key).delete()
        else:
            _finish(request.user, key, response.status_code, response.data)
        return response

    return wrapper


def _finish(user: Any, key: str, status: int, body: Any) -> None:
    IdempotencyKey.objects.filter(user=user, key=key).update(
        state=IdempotencyState.DONE,
        response_status=status,
        response_body=json.loads(json.dumps(body, default=str)),
    )


def idempotency_keys_purge(*, now: dt.datetime | None = None) -> int:
    """Forget finished keys older than the retention period."""
    cutoff = (now or timezone.now()) - KEEP_FOR
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
