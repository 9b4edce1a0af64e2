"""Log-in lock-out: per account and per address, for the app and the admin alike.

django-axes records every failed ``authenticate()`` (its signal handlers) in the
database and refuses a locked-out one before the password is checked
(``accounts.backends.LockoutBackend``). The rule: ``HEMA_LOGIN_FAILURE_LIMIT``
failures for one account (whichever address they come from) or from one
address (whichever accounts they try) lock that account or address out for
``HEMA_LOGIN_COOLOFF_MINUTES``; each attempt while locked out starts the wait
again; a log-in that succeeds forgets that account's own failures, never the
address's failures at other accounts (axes' ``AXES_RESET_ON_SUCCESS`` would
forget every failure from the address: logging in to an account of one's own
between guesses would then reset the lock on the account being guessed).
The counts live in the database, not in the cache, so they hold across web
processes and while Redis is away; a manager unlocks early by deleting the
access attempt in the admin.
"""

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model

from accounts.errors import LogInLockedOut
from accounts.models import normalize_phone


def login_key(request: Any, credentials: dict[str, Any] | None) -> str:
    """The account a log-in names (axes' "username"): ``account:<id>`` for an
    account that exists, whichever of its e-mail (any case) or phone (any
    format) was typed, so that they count together; else the login as the
    backend compares it. Looked up once per request."""
    credentials = credentials or {}
    login = str(
        credentials.get("username")
        or credentials.get("email")
        or credentials.get("phone")
        or ""
    ).strip()
    if not login:
        return ""
    known = getattr(request, "_hema_login_keys", None)
    if known is None:
        known = {}
        if request is not None:
            request._hema_login_keys = known
    if login not in known:
        user_model = get_user_model()
        try:
            known[login] = account_key(user_model.objects.get_by_login(login))
        except user_model.DoesNotExist:
            known[login] = login.lower() if "@" in login else normalize_phone(login)
    return known[login]


def account_key(user: Any) -> str:
    """The axes "username" of an existing account (see ``login_key``)."""
    return f"account:{user.pk}"


def failures_forget(*, user: Any) -> int:
    """A log-in to ``user`` succeeded: forget the failures counted against it
    (from every address). Failures from the same address at other accounts
    keep counting for the address. Returns how many attempt rows went."""
    from axes.models import AccessAttempt

    deleted, _ = AccessAttempt.objects.filter(username=account_key(user)).delete()
    return deleted


def lockout_seconds() -> int:
    return int(settings.AXES_COOLOFF_TIME.total_seconds())


def lockout_message() -> str:
    minutes = max(1, lockout_seconds() // 60)
    return (
        "Too many failed log-ins for this account or from this address: "
        f"try again in {minutes} minutes."
    )


def is_locked_out(request: Any) -> bool:
    """Whether the ``authenticate()`` just made with ``request`` was refused, or
    counted as the failure that reached the limit."""
    return bool(getattr(request, "axes_locked_out", False))


def raise_if_locked_out(request: Any) -> None:
    if is_locked_out(request):
        raise LogInLockedOut(lockout_message(), retry_after=lockout_seconds())
