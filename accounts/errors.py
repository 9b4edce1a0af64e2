"""Refusals of log-in and tokens, mapped to HTTP by ``hema.api``."""

from hema.errors import ApplicationError


class LogInLockedOut(ApplicationError):
    """Too many failed log-ins for this account or from this address."""

    code = "log_in_locked_out"
    status_code = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, {"retry_after_seconds": retry_after})
        self.retry_after = retry_after
