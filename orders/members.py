"""Sign-up, log-in and addresses of app members (token authentication)."""

from typing import Any

from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.lockout import raise_if_locked_out
from accounts.models import normalize_phone
from accounts.tokens import token_issue
from orders.errors import AddressNotFound, LogInRefused, SignupRefused
from orders.models import Address, Member
from orders.wallet import wallet_for


@transaction.atomic
def member_sign_up(
    *, password: str, email: str = "", phone: str = "", full_name: str = ""
) -> tuple[Member, str]:
    """A new account with its member profile and empty wallet; returns a token."""
    user_model = get_user_model()
    email = (email or "").strip().lower()
    phone = normalize_phone(phone) if phone else ""
    if not email and not phone:
        raise SignupRefused(
            "Give an e-mail address or a phone number.", {"field": "email"}
        )
    if phone and len(phone.lstrip("+")) < 6:
        raise SignupRefused("That phone number is too short.", {"field": "phone"})
    candidate = user_model(
        email=email or None, phone=phone or None, full_name=full_name
    )
    try:
        validate_password(password, user=candidate)
    except ValidationError as exc:
        raise SignupRefused(" ".join(exc.messages), {"field": "password"}) from None
    if email and user_model.objects.filter(email__iexact=email).exists():
        raise SignupRefused("An account with this e-mail exists.", {"field": "email"})
    if phone and user_model.objects.filter(phone=phone).exists():
        raise SignupRefused("An account with this phone exists.", {"field": "phone"})
    try:
        with transaction.atomic():
            user = user_model.objects.create_user(
                email=email or None,
                phone=phone or None,
                password=password,
                full_name=full_name,
            )
    except (IntegrityError, ValidationError):
        raise SignupRefused(
            "An account with these details exists.", {"field": "email"}
        ) from None
    member = Member.objects.create(user=user)
    wallet_for(member)
    return member, token_issue(user=user).key


def member_log_in(*, login: str, password: str, request: Any = None) -> str:
    """A token for the member, or a refusal.

    Too many failures for the account or from the address lock it out for a
    while (``accounts.lockout``): refused with 429 whatever the password.
    """
    user = authenticate(request, username=login, password=password)
    if user is None:
        raise_if_locked_out(request)
        raise LogInRefused("Wrong login or password.", {"field": "login"})
    Member.objects.get_or_create(user=user)
    return token_issue(user=user).key


def address_add(
    *, member: Member, label: str, latitude: Any, longitude: Any, note: str = ""
) -> Address:
    return Address.objects.create(
        member=member, label=label, latitude=latitude, longitude=longitude, note=note
    )


def address_remove(*, member: Member, address_id: Any) -> None:
    """Retire one of the member's own addresses; another member's does not exist."""
    updated = Address.objects.filter(
        member=member, pk=address_id, is_active=True
    ).update(is_active=False)
    if not updated:
        raise AddressNotFound("No such address.", {"field": "address_id"})
