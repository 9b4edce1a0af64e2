"""Log-in by phone number or e-mail with one password, for the app and the admin."""

from typing import Any

from axes.backends import AxesStandaloneBackend
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from accounts.lockout import failures_forget


class LockoutBackend(AxesStandaloneBackend):
    """First in ``AUTHENTICATION_BACKENDS``: refuses a locked-out account or
    address before any password is checked (see ``accounts.lockout``).

    Only requests are locked out: code that authenticates without one (a
    management command, a test) has no address to count and is let through.
    """

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> None:
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)


class PhoneOrEmailBackend(ModelBackend):
    """The password check. A right password on a request forgets that
    account's failed log-ins (``accounts.lockout.failures_forget``)."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> Any:
        user_model = get_user_model()
        login = username or kwargs.get(user_model.USERNAME_FIELD) or kwargs.get("phone")
        if not login or password is None:
            return None
        try:
            user = user_model.objects.get_by_login(login)
        except user_model.DoesNotExist:
            # Run the hasher anyway so that timing does not reveal unknown logins.
            user_model().set_password(password)
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            if request is not None:
                failures_forget(user=user)
            return user
        return None
