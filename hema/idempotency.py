"""Idempotency-Key for POSTs: the shopper's (orders) and the staff scanners'
(delivery) follow one rule, kept here so that neither app imports the other.

Follows the IETF draft (and Stripe): the key is required (400 without it); the
same key with the same request replays the first response; the same key with
another request is a 422; a retry while the first is still running is a 409.
Keys are per user and kept at least 24 hours.

The answer is stored in the same transaction as the effect. The decorated view
runs inside one transaction that first takes a transaction-scoped lock on the
key (PostgreSQL ``pg_try_advisory_xact_lock`` on a hash of user and key), then
looks for an earlier answer, runs the view and writes the answer's row before
committing. So:

* a commit carries its answer: a retry after a lost answer (a connection cut
  right after the commit) replays it;
* a rollback carries neither: a request that failed, died or lost its
  connection before the commit leaves no row, and PostgreSQL frees the lock
  when the transaction or its connection ends, so the key is free at once;
* a retry while the first still runs cannot take the lock: 409.

A refusal (a domain error) is an answer too: its effect is rolled back and the
refusal is kept in a short transaction of its own, so that the same request
replays the same refusal. Invalid input and server errors are not kept. A
connection lost during the request answers 503 (JSON, ``Retry-After``): the
outcome is unknown to this process, and a retry with the same key either
replays the committed answer or runs the request once.

SQLite has no advisory locks; there the unique (user, key) row is the only
guard: a second request that commits the same key first wins, and the loser's
effect is rolled back and the winner's answer replayed.

Each app keeps its answers in its own table (a model with ``user``, ``key``,
``fingerprint``, ``response_status``, ``response_body`` and ``created_at``) and
makes its decorator with ``IdempotencyGuard(model, namespace)``.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any

from django.db import (
    DatabaseError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    connection,
    transaction,
)
from django.db.models import JSONField, Model, Value
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.response import Response

from hema.api import error_body
from hema.errors import (
    ApplicationError,
    IdempotencyKeyInFlight,
    IdempotencyKeyMissing,
    IdempotencyKeyReused,
)

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
KEEP_FOR = dt.timedelta(hours=24)
MAX_KEY_LENGTH = 255
RETRY_AFTER_SECONDS = 1


def _fingerprint(request: Request) -> str:
    body = json.dumps(request.data, sort_keys=True, default=str)
    raw = f"{request.method} {request.path}\n{body}"
    return hashlib.sha256(raw.encode()).hexdigest()


def _in_flight() -> IdempotencyKeyInFlight:
    return IdempotencyKeyInFlight(
        "The first request with this key is still running; retry later.",
        {"field": HEADER},
    )


def _replay(record: Any, fingerprint: str) -> Response:
    if record.fingerprint != fingerprint:
        raise IdempotencyKeyReused(
            f"This {HEADER} was used for another request.", {"field": HEADER}
        )
    response = Response(record.response_body, status=record.response_status)
    response["Idempotent-Replayed"] = "true"
    return response


def _jsonable(body: Any) -> Any:
    return json.loads(json.dumps(body, default=str))


class _Refused(Exception):
    """The view refused: roll its effect back, then keep the refusal."""

    def __init__(self, error: ApplicationError) -> None:
        super().__init__(error.message)
        self.error = error


class _NotKept(Exception):
    """A server error answered by the view: roll back and keep nothing."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


class _KeyTaken(Exception):
    """Another request committed this key first (SQLite, or a lock id collision
    that let both run)."""


def _outcome_unknown() -> Response:
    response = Response(
        error_body(
            "outcome_unknown",
            "The database connection was lost before this request's outcome was "
            f"known. Retry with the same {HEADER}: it returns the first result if "
            "there was one, or runs the request once.",
            {"field": HEADER},
        ),
        status=503,
    )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class IdempotencyGuard:
    """The Idempotency-Key rule over one table of kept answers.

    ``namespace`` keeps the advisory lock ids of one table's keys apart from
    another's (a user's key in one app never makes the other's wait).
    """

    def __init__(self, model: type[Model], namespace: bytes) -> None:
        self.model = model
        self.namespace = namespace + b"\x00"

    def key_lock_id(self, user_id: int, key: str) -> int:
        """The advisory lock id of a user's key: 64 bits of a SHA-256, signed as
        PostgreSQL's ``bigint``. A collision only makes a retry wait (409)."""
        digest = hashlib.sha256(
            self.namespace + f"{user_id}\x00{key}".encode()
        ).digest()
        return int.from_bytes(digest[:8], "big", signed=True)

    def key_lock(self, user_id: int, key: str) -> bool:
        """Take the key's lock for the rest of the transaction, or False if
        another transaction holds it (its request is still running). SQLite:
        always True."""
        if connection.vendor != "postgresql":
            return True
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_try_advisory_xact_lock(%s)",
                [self.key_lock_id(user_id, key)],
            )
            return bool(cursor.fetchone()[0])

    def _keep(
        self, *, user: Any, key: str, fingerprint: str, status: int, body: Any
    ) -> None:
        """Write the answer's row; the caller's transaction commits it with the
        effect. No savepoint: a refused insert aborts the caller's transaction,
        which ``_KeyTaken`` then leaves, rolling the effect back."""
        try:
            self.model.objects.create(
                user=user,
                key=key,
                fingerprint=fingerprint,
                response_status=status,
                # No body (a 204) is kept as JSON null, not SQL NULL.
                response_body=(
                    Value(None, output_field=JSONField())
                    if body is None
                    else _jsonable(body)
                ),
            )
        except IntegrityError:
            raise _KeyTaken from None

    def _keep_refusal(
        self, *, user: Any, key: str, fingerprint: str, error: ApplicationError
    ) -> None:
        """Keep a refusal in its own short transaction (it has no effect to go
        with). If another request with the key runs or has answered meanwhile,
        its answer is the one kept; a database that is gone just leaves the
        refusal unkept."""
        body = error_body(error.code, error.message, error.extra)
        try:
            with transaction.atomic():
                if not self.key_lock(user.pk, key):
                    return
                if self.model.objects.filter(user=user, key=key).exists():
                    return
                self._keep(
                    user=user,
                    key=key,
                    fingerprint=fingerprint,
                    status=error.status_code,
                    body=body,
                )
        except (_KeyTaken, DatabaseError):
            logger.warning("refusal for key %r not kept", key, exc_info=True)

    def idempotent(
        self, view_method: Callable[..., Response]
    ) -> Callable[..., Response]:
        """Decorate an APIView's ``post``: the view runs in one transaction with
        its key's lock, and its answer is stored in that transaction."""
        guard = self

        @functools.wraps(view_method)
        def wrapper(self: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
            key = request.headers.get(HEADER, "").strip()
            if not key or len(key) > MAX_KEY_LENGTH:
                raise IdempotencyKeyMissing(
                    f"Send an {HEADER} header (1-{MAX_KEY_LENGTH} characters) so "
                    "that a retry cannot act twice.",
                    {"field": HEADER},
                )
            fingerprint = _fingerprint(request)
            user = request.user
            try:
                with transaction.atomic():
                    if not guard.key_lock(user.pk, key):
                        raise _in_flight()
                    earlier = guard.model.objects.filter(user=user, key=key).first()
                    if earlier is not None:
                        return _replay(earlier, fingerprint)
                    try:
                        response = view_method(self, request, *args, **kwargs)
                    except ApplicationError as exc:
                        raise _Refused(exc) from exc
                    if response.status_code >= 500:
                        raise _NotKept(response)
                    guard._keep(
                        user=user,
                        key=key,
                        fingerprint=fingerprint,
                        status=response.status_code,
                        body=response.data,
                    )
                return response
            except _Refused as refused:
                guard._keep_refusal(
                    user=user, key=key, fingerprint=fingerprint, error=refused.error
                )
                raise refused.error from None
            except _NotKept as not_kept:
                return not_kept.response
            except _KeyTaken:
                first = guard.model.objects.filter(user=user, key=key).first()
                if first is None:  # pragma: no cover - the winner's row was purged
                    raise _in_flight() from None
                return _replay(first, fingerprint)
            except (OperationalError, InterfaceError):
                logger.warning(
                    "connection lost during a request with key %r", key, exc_info=True
                )
                return _outcome_unknown()

        return wrapper

    def purge(self, *, now: dt.datetime | None = None) -> int:
        """Forget keys older than the retention period."""
        cutoff = (now or timezone.now()) - KEEP_FOR
        deleted, _ = self.model.objects.filter(created_at__lt=cutoff).delete()
        return deleted
