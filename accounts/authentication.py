"""Token authentication with expiry (replaces DRF's ``TokenAuthentication``)."""

from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from accounts.tokens import token_is_expired


class ExpiringTokenAuthentication(TokenAuthentication):
    """``Authorization: Token <key>``; a token older than ``HEMA_TOKEN_TTL_DAYS``
    is refused with 401 (log in again for a new one)."""

    def authenticate_credentials(self, key: str):
        user, token = super().authenticate_credentials(key)
        if token_is_expired(token):
            raise exceptions.AuthenticationFailed("Token has expired: log in again.")
        return user, token
