"""API tokens: issued at log-in, valid for ``HEMA_TOKEN_TTL_DAYS``, revoked at
log-out. One token per user (DRF's ``Token``): log-out ends it on every device."""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token


def token_expires_at(token: Token):
    return token.created + timedelta(days=settings.HEMA_TOKEN_TTL_DAYS)


def token_is_expired(token: Token) -> bool:
    return timezone.now() >= token_expires_at(token)


@transaction.atomic
def token_issue(*, user) -> Token:
    """The user's token; an expired one is replaced by a new one.

    Locks the user's token row so that two log-ins at once issue one token.
    """
    token = Token.objects.select_for_update().filter(user=user).first()
    if token is not None and token_is_expired(token):
        token.delete()
        token = None
    if token is None:
        token, _ = Token.objects.get_or_create(user=user)
    return token


def token_revoke(*, token: Token) -> None:
    """Log-out: the token no longer authenticates anyone."""
    Token.objects.filter(pk=token.pk).delete()
