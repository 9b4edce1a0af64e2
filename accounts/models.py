"""The custom user: one account for shoppers and staff, signed in by phone or e-mail.

Roles are not stored here: a user's role in a store lives in
``inventory.StoreStaff`` beside the store.
"""

from typing import Any, ClassVar

import phonenumbers
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone


def phone_digits(phone: str) -> str:
    """Digits with an optional leading plus: how phones were stored before
    they were read in the default region (still matched at log-in)."""
    phone = (phone or "").strip()
    prefix = "+" if phone.startswith("+") else ""
    return prefix + "".join(ch for ch in phone if ch.isdigit())


def normalize_phone(phone: str) -> str:
    """The one form phones are stored and compared in, for sign-up and log-in.

    A number that is possible is written in E.164 (``+8613800000000``); one typed
    without its country code is read in ``HEMA_DEFAULT_PHONE_REGION`` (the
    stores' country, CN), so ``138 0000 0000`` is the same account as
    ``+86 138-0000-0000``. Anything else keeps its digits (and the callers
    refuse what is too short).
    """
    digits = phone_digits(phone)
    try:
        parsed = phonenumbers.parse(
            (phone or "").strip(), settings.HEMA_DEFAULT_PHONE_REGION
        )
    except phonenumbers.NumberParseException:
        return digits
    if not phonenumbers.is_possible_number(parsed):
        return digits
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create(
        self, email: str | None, phone: str | None, password: str | None, **extra: Any
    ) -> "User":
        email = self.normalize_email(email).lower() if email else None
        phone = normalize_phone(phone) if phone else None
        if not email and not phone:
            raise ValueError("A user needs an e-mail address or a phone number.")
        user = self.model(email=email, phone=phone, **extra)
        user.set_password(password)
        user.full_clean(exclude=["password"])
        user.save(using=self._db)
        return user

    def create_user(
        self,
        email: str | None = None,
        password: str | None = None,
        phone: str | None = None,
        **extra: Any,
    ) -> "User":
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create(email, phone, password, **extra)

    def create_superuser(
        self, email: str, password: str | None = None, **extra: Any
    ) -> "User":
        extra["is_staff"] = True
        extra["is_superuser"] = True
        return self._create(email, extra.pop("phone", None), password, **extra)

    def get_by_login(self, login: str) -> "User":
        """Find the account by e-mail (case-insensitive) or by phone number."""
        login = (login or "").strip()
        if "@" in login:
            return self.get(email__iexact=login)
        phone = normalize_phone(login)
        # An account stored before phones were read in the default region
        # keeps the digits typed then, with or without the country code; the
        # E.164 form wins if both exist.
        candidates = {phone, phone_digits(login)}
        region = settings.HEMA_DEFAULT_PHONE_REGION
        home = f"+{phonenumbers.country_code_for_region(region)}"
        if phone.startswith(home):
            candidates.add(phone.removeprefix(home))
        found = list(self.filter(phone__in=candidates)[:2])
        if not found:
            raise self.model.DoesNotExist
        return next((u for u in found if u.phone == phone), found[0])


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField(null=True, blank=True, unique=True)
    phone = models.CharField(max_length=20, null=True, blank=True, unique=True)
    full_name = models.CharField(max_length=150, blank=True)
    is_staff = models.BooleanField(
        default=False, help_text="Can log in to the admin site (store managers)."
    )
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(email__isnull=False) | Q(phone__isnull=False),
                name="user_has_email_or_phone",
            ),
            models.UniqueConstraint(Lower("email"), name="user_email_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.email or self.phone or f"user {self.pk}"

    def get_full_name(self) -> str:
        return self.full_name or str(self)

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else str(self)
