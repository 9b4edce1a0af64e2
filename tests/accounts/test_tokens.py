"""API tokens expire (HEMA_TOKEN_TTL_DAYS, 30 by default) and log-out revokes
the one in use."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.models import User

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-9"


@pytest.fixture
def shopper() -> User:
    return User.objects.create_user(email="li.wei@hema.test", password=PASSWORD)


def log_in() -> str:
    response = APIClient().post(
        "/api/v1/auth/login/",
        {"login": "li.wei@hema.test", "password": PASSWORD},
        format="json",
    )
    assert response.status_code == 200
    return response.json()["token"]


def profile(token: str):
    return APIClient().get("/api/v1/me/", HTTP_AUTHORIZATION=f"Token {token}")


def age(token: str, days: float) -> None:
    Token.objects.filter(key=token).update(
        created=timezone.now() - timedelta(days=days)
    )


def test_the_default_lifetime_is_30_days(settings):
    assert settings.HEMA_TOKEN_TTL_DAYS == 30


def test_a_token_works_until_it_expires(shopper):
    token = log_in()
    age(token, 29.9)

    assert profile(token).status_code == 200

    age(token, 30)
    response = profile(token)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json() == {
        "error": "authentication_failed",
        "message": "Token has expired: log in again.",
        "extra": {},
    }


def test_the_lifetime_is_configurable(shopper, settings):
    settings.HEMA_TOKEN_TTL_DAYS = 1
    token = log_in()
    age(token, 1.01)

    assert profile(token).status_code == 401


def test_logging_in_again_replaces_an_expired_token_and_keeps_a_live_one(shopper):
    first = log_in()
    assert log_in() == first

    age(first, 31)
    second = log_in()

    assert second != first
    assert profile(second).status_code == 200
    assert list(Token.objects.filter(user=shopper).values_list("key", flat=True)) == [
        second
    ]


def test_log_out_revokes_the_token_in_use(shopper):
    token = log_in()

    response = APIClient().post(
        "/api/v1/auth/logout/", HTTP_AUTHORIZATION=f"Token {token}"
    )

    assert response.status_code == 204
    assert response.content == b""
    assert not Token.objects.filter(user=shopper).exists()
    assert profile(token).status_code == 401
    assert log_in() != token  # a new log-in gets a new token


def test_log_out_needs_a_signed_in_user(shopper):
    token = log_in()

    response = APIClient().post("/api/v1/auth/logout/")

    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"
    assert Token.objects.filter(key=token).exists()


def test_log_out_of_a_session_ends_it(shopper):
    client = APIClient()
    client.force_login(shopper)
    token = log_in()

    response = client.post("/api/v1/auth/logout/")

    assert response.status_code == 204
    assert client.get("/api/v1/me/").status_code in (401, 403)
    assert Token.objects.filter(key=token).exists()  # tokens stay
