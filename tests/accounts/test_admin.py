"""Editing a user in the admin keeps the phone and e-mail in the form log-in
compares: a phone typed with spaces still logs in and is still unique."""

import pytest
from django.contrib.auth import authenticate
from django.test import Client

from accounts.models import User

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-9"


@pytest.fixture
def boss() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("boss@hema.test", "pw-123456"))
    return client


def change(boss: Client, user: User, **fields) -> object:
    data = {
        "email": user.email or "",
        "phone": user.phone or "",
        "full_name": user.full_name,
        "is_active": "on",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
        **fields,
    }
    return boss.post(f"/admin/accounts/user/{user.pk}/change/", data)


def test_a_phone_edited_in_the_admin_is_stored_normalised_and_logs_in(boss):
    user = User.objects.create_user(email="li.wei@hema.test", password=PASSWORD)

    response = change(boss, user, phone="+86 138-0013-8000")

    assert response.status_code == 302
    user.refresh_from_db()
    assert user.phone == "+8613800138000"
    assert authenticate(None, username="+86 138 0013 8000", password=PASSWORD) == user


def test_a_phone_another_user_has_in_another_format_is_refused(boss):
    User.objects.create_user(phone="+8613800138000", password=PASSWORD)
    user = User.objects.create_user(email="li.wei@hema.test", password=PASSWORD)

    response = change(boss, user, phone="+86 (138) 0013-8000")

    assert response.status_code == 200
    assert "phone" in response.context["adminform"].form.errors
    user.refresh_from_db()
    assert user.phone is None


def test_an_email_edited_in_the_admin_is_stored_in_lower_case(boss):
    user = User.objects.create_user(phone="+8613800138000", password=PASSWORD)

    response = change(boss, user, email="Li.Wei@Hema.TEST")

    assert response.status_code == 302
    user.refresh_from_db()
    assert user.email == "li.wei@hema.test"


def test_clearing_the_phone_of_an_email_user_stores_none(boss):
    user = User.objects.create_user(
        email="li.wei@hema.test", phone="+8613800138000", password=PASSWORD
    )

    response = change(boss, user, phone="")

    assert response.status_code == 302
    user.refresh_from_db()
    assert user.phone is None
