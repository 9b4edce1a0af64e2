from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import BaseUserCreationForm
from django.contrib.auth.forms import UserChangeForm as BaseUserChangeForm

from accounts.lockout import is_locked_out, lockout_message
from accounts.models import User, normalize_phone


class LoginFieldsMixin:
    """E-mail in lower case and the phone in E.164 (``normalize_phone``): the
    form log-in compares, so that uniqueness is checked on that form too."""

    def clean_phone(self) -> str | None:
        phone = self.cleaned_data.get("phone")
        return normalize_phone(phone) if phone else None

    def clean_email(self) -> str | None:
        email = self.cleaned_data.get("email")
        return email.lower() if email else None


class UserCreationForm(LoginFieldsMixin, BaseUserCreationForm):
    class Meta:
        model = User
        fields = ("email", "phone")

    def clean(self) -> dict:
        data = super().clean()
        if not data.get("email") and not data.get("phone"):
            raise forms.ValidationError("Give an e-mail address or a phone number.")
        return data


class UserChangeForm(LoginFieldsMixin, BaseUserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


class AdminLoginForm(AdminAuthenticationForm):
    """The admin log-in: one field takes the e-mail address or the phone number
    (with or without its country code, see ``normalize_phone``)."""

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "invalid_login": (
            "Please enter the correct e-mail or phone and password for a staff "
            "account. The password is case-sensitive."
        ),
    }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["username"].label = "E-mail or phone"
        self.fields["username"].widget.attrs["autocomplete"] = "username"

    def clean(self) -> dict:
        """A locked-out account or address is told so, and when to try again
        (``accounts.lockout``), instead of "wrong password"."""
        try:
            return super().clean()
        except forms.ValidationError:
            if is_locked_out(self.request):
                raise forms.ValidationError(
                    lockout_message(), code="locked_out"
                ) from None
            raise
