"""Log-in brute force: per-account and per-address lock-outs (accounts.lockout),
on the API and on the admin, with the address taken from X-Forwarded-For only
behind the configured number of proxies."""

import pytest
from axes.models import AccessAttempt
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.models import User

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-9"
LOGIN = "/api/v1/auth/login/"
LIMIT = 10
MESSAGE = (
    "Too many failed log-ins for this account or from this address: "
    "try again in 15 minutes."
)


@pytest.fixture
def shopper() -> User:
    return User.objects.create_user(
        email="li.wei@hema.test", phone="+8613800138000", password=PASSWORD
    )


def log_in(login: str, password: str, ip: str = "10.0.0.1", **headers):
    return APIClient(REMOTE_ADDR=ip).post(
        LOGIN, {"login": login, "password": password}, format="json", **headers
    )


def assert_locked_out(response) -> None:
    assert response.status_code == 429
    assert response["Retry-After"] == "900"
    assert response.json() == {
        "error": "log_in_locked_out",
        "message": MESSAGE,
        "extra": {"retry_after_seconds": 900},
    }


def test_the_account_is_locked_after_the_limit_even_with_the_right_password(shopper):
    wrong = [log_in("li.wei@hema.test", f"guess-{n}").status_code for n in range(9)]
    assert wrong == [400] * 9

    # The tenth failure reaches the limit: refused as locked out from now on.
    assert_locked_out(log_in("li.wei@hema.test", "guess-9"))
    right = log_in("li.wei@hema.test", PASSWORD)

    assert_locked_out(right)
    assert not Token.objects.filter(user=shopper).exists()


def test_the_account_lock_holds_from_every_address_and_login_spelling(shopper):
    for n in range(LIMIT):
        log_in("li.wei@hema.test" if n % 2 else "+86 138 0013 8000", "x", f"10.1.0.{n}")

    assert_locked_out(log_in("LI.WEI@hema.test", PASSWORD, ip="10.9.9.9"))
    assert_locked_out(log_in("+8613800138000", PASSWORD, ip="10.9.9.8"))


def test_the_address_is_locked_whatever_accounts_it_tries(shopper):
    for n in range(LIMIT):
        assert log_in(f"nobody{n}@hema.test", "x").status_code in (400, 429)

    assert_locked_out(log_in("li.wei@hema.test", PASSWORD))
    # The account itself is not locked: from another address it logs in.
    assert log_in("li.wei@hema.test", PASSWORD, ip="10.0.0.2").status_code == 200


def test_a_made_up_forwarded_for_does_not_escape_the_address_lock(shopper):
    for n in range(LIMIT):
        log_in(f"nobody{n}@hema.test", "x", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}")

    assert_locked_out(
        log_in("li.wei@hema.test", PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.99")
    )
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {
        "10.0.0.1"
    }


def test_behind_one_proxy_the_address_it_saw_is_the_client(shopper, settings):
    settings.HEMA_TRUSTED_PROXY_COUNT = 1
    # nginx (10.0.0.1) sets the header to the address it saw; anything the
    # client sent before it is not trusted.
    for n in range(LIMIT):
        log_in(
            f"nobody{n}@hema.test",
            "x",
            HTTP_X_FORWARDED_FOR=f"1.2.3.{n}, 203.0.113.7",
        )

    assert_locked_out(
        log_in("li.wei@hema.test", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.7")
    )
    other = log_in("li.wei@hema.test", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.8")
    assert other.status_code == 200


def test_a_success_forgets_the_accounts_own_failures(shopper):
    for n in range(LIMIT - 1):
        assert (
            log_in("li.wei@hema.test", f"guess-{n}", ip=f"10.2.0.{n}").status_code
            == 400
        )

    assert log_in("li.wei@hema.test", PASSWORD, ip="10.2.0.99").status_code == 200

    # The nine typos are forgotten: nine more are still only wrong passwords.
    again = [
        log_in("+8613800138000", "x", ip=f"10.3.0.{n}").status_code for n in range(9)
    ]
    assert again == [400] * 9
    assert log_in("li.wei@hema.test", PASSWORD, ip="10.3.0.99").status_code == 200


@pytest.mark.parametrize("where", ["api", "admin"])
def test_logging_in_to_ones_own_account_does_not_reset_the_lock_on_another(
    shopper, client, where
):
    """An attacker with an account of their own (a staff one, for the admin)
    logs in to it between guesses: the guesses at the other account, and the
    address's, still count (30 in a row, then the right password is refused)."""
    User.objects.create_user(email="mole@hema.test", password=PASSWORD, is_staff=True)
    for _ in range(3):
        for n in range(LIMIT - 1):
            log_in("li.wei@hema.test", f"guess-{n}", ip="127.0.0.1")
        if where == "api":
            log_in("mole@hema.test", PASSWORD, ip="127.0.0.1")
        else:
            client.post(
                "/admin/login/", {"username": "mole@hema.test", "password": PASSWORD}
            )

    assert_locked_out(log_in("li.wei@hema.test", PASSWORD, ip="127.0.0.1"))
    assert_locked_out(log_in("li.wei@hema.test", PASSWORD, ip="10.7.7.7"))
    assert not Token.objects.filter(user=shopper).exists()


# --- The admin ---------------------------------------------------------------------


@pytest.fixture
def manager() -> User:
    return User.objects.create_user(
        email="manager@hema.test", password=PASSWORD, is_staff=True
    )


def admin_log_in(client: Client, password: str):
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": "manager@hema.test", "password": password},
    )


def test_the_admin_locks_the_account_and_says_so(manager):
    client = Client()
    for n in range(LIMIT - 1):
        response = admin_log_in(client, f"guess-{n}")
        assert "Please enter the correct e-mail or phone and password" in (
            response.content.decode()
        )

    last_wrong = admin_log_in(client, "guess-9")
    right = admin_log_in(client, PASSWORD)

    for response in (last_wrong, right):
        assert response.status_code == 200
        page = response.content.decode()
        assert MESSAGE in page
        assert "Please enter the correct e-mail or phone and password" not in page
    assert client.get("/admin/").status_code == 302  # not signed in


def test_failures_on_the_api_and_the_admin_count_together(manager):
    for n in range(LIMIT // 2):
        log_in("manager@hema.test", f"guess-{n}", ip="10.0.0.5")
        admin_log_in(Client(REMOTE_ADDR="10.0.0.6"), f"guess-{n}")

    assert MESSAGE in admin_log_in(Client(), PASSWORD).content.decode()
