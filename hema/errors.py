"""The one base class of domain errors, turned into HTTP errors in ``hema.api``."""

from typing import Any


class ApplicationError(Exception):
    """A refusal the caller can act on.

    ``code`` is a stable machine-readable name, ``status_code`` the HTTP status the
    API answers with, ``extra`` the details (which field, what is available).
    """

    code = "application_error"
    status_code = 400

    def __init__(self, message: str, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class NotFound(ApplicationError):
    code = "not_found"
    status_code = 404


class InvalidInput(ApplicationError):
    code = "invalid_input"
    status_code = 400


class Conflict(ApplicationError):
    code = "conflict"
    status_code = 409


class Unprocessable(ApplicationError):
    code = "unprocessable"
    status_code = 422


class IdempotencyKeyMissing(InvalidInput):
    code = "idempotency_key_missing"


class IdempotencyKeyReused(Unprocessable):
    code = "idempotency_key_reused"


class IdempotencyKeyInFlight(Conflict):
    code = "idempotency_key_in_flight"
