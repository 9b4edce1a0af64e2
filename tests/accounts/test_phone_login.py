"""A phone number typed without its country code logs in: the stores' country
(HEMA_DEFAULT_PHONE_REGION, CN) is the default, on the admin log-in and the API
log-in alike, and sign-up stores the same form."""

import pytest
from django.contrib.auth import authenticate
from django.test import Client, override_settings
from rest_framework.test import APIClient

from accounts.models import User, normalize_phone
from tests.demo_manager import PASSWORD, demo_manager

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager(store):
    """The demo manager, whose phone seed_demo stores as +8613800000000."""
    user = demo_manager(store)
    assert user.phone == "+8613800000000"
    return user


@pytest.mark.parametrize("typed", ["13800000000", "138 0000 0000", "+86 138-0000-0000"])
def test_the_admin_login_takes_the_phone_without_its_country_code(manager, typed):
    client = Client()

    response = client.post(
        "/admin/login/?next=/admin/", {"username": typed, "password": PASSWORD}
    )

    assert response.status_code == 302, response.content.decode()[:500]
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").context["user"] == manager


@pytest.mark.parametrize("typed", ["13800000000", "+8613800000000"])
def test_the_api_login_takes_the_phone_without_its_country_code(manager, typed):
    response = APIClient().post(
        "/api/v1/auth/login/", {"login": typed, "password": PASSWORD}, format="json"
    )

    assert response.status_code == 200, response.json()
    assert response.json()["token"]


def test_a_wrong_admin_login_says_email_or_phone(manager):
    response = Client().post(
        "/admin/login/", {"username": "13800000000", "password": "not-it-123"}
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert "Please enter the correct e-mail or phone and password" in html
    assert "correct email" not in html


def test_sign_up_stores_the_phone_with_its_country_code_and_sees_duplicates():
    client = APIClient()
    first = client.post(
        "/api/v1/auth/signup/",
        {"phone": "139 0000 1234", "password": "a-long-pass-123"},
        format="json",
    )
    again = client.post(
        "/api/v1/auth/signup/",
        {"phone": "+8613900001234", "password": "a-long-pass-123"},
        format="json",
    )

    assert first.status_code == 201, first.json()
    assert User.objects.get().phone == "+8613900001234"
    assert again.status_code == 400
    assert again.json()["message"] == "An account with this phone exists."


def test_an_account_stored_before_keeps_logging_in(db):
    """A phone saved as bare digits before phones were read in the default
    region is still found, typed either way."""
    user = User.objects.create_user(email="old@hema.test", password=PASSWORD)
    User.objects.filter(pk=user.pk).update(phone="13911112222")

    assert authenticate(None, username="13911112222", password=PASSWORD) == user
    assert authenticate(None, username="+86 139 1111 2222", password=PASSWORD) == user


@override_settings(HEMA_DEFAULT_PHONE_REGION="GB")
def test_the_default_region_is_a_setting():
    assert normalize_phone("020 7946 0958") == "+442079460958"
