"""Members: sign-up and log-in by phone or e-mail, their own addresses, and the
wallet whose ledger sums to its balance."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from rest_framework.test import APIClient

from accounts.models import User
from orders.models import Address, Member, Wallet, WalletEntry
from orders.wallet import wallet_ledger_total
from tests.orders.conftest import PASSWORD, post, provider_pays, sign_up, snapshot

pytestmark = pytest.mark.django_db
D = Decimal


def refused(code: str, message: str, field: str) -> dict:
    return {"error": code, "message": message, "extra": {"field": field}}


def accounts() -> list:
    return list(User.objects.order_by("pk").values_list("pk", "email", "phone"))


# --- Sign-up --------------------------------------------------------------------------


def test_sign_up_by_phone_gives_a_token_a_member_and_an_empty_wallet():
    response = APIClient().post(
        "/api/v1/auth/signup/",
        {"phone": "+86 138-0000-1234", "password": PASSWORD, "full_name": "Li Wei"},
        format="json",
    )

    assert response.status_code == 201
    assert set(response.json()) == {"token"}
    user = User.objects.get()
    assert (user.phone, user.email, user.full_name) == (
        "+8613800001234",
        None,
        "Li Wei",
    )
    assert user.check_password(PASSWORD)
    wallet = Wallet.objects.get(member__user=user)
    assert (wallet.balance, wallet.currency) == (D("0.00"), "CNY")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert client.get("/api/v1/me/").json() == {
        "email": None,
        "phone": "+8613800001234",
        "full_name": "Li Wei",
    }


def test_sign_up_by_email_keeps_it_in_lower_case():
    client = sign_up(APIClient(), email="Li.Wei@Example.COM")

    assert client.get("/api/v1/me/").json() == {
        "email": "li.wei@example.com",
        "phone": None,
        "full_name": "",
    }
    assert Member.objects.get().user.email == "li.wei@example.com"


@pytest.mark.parametrize(
    ("first", "second", "field"),
    [
        ({"phone": "+86 138 0000 1234"}, {"phone": "+8613800001234"}, "phone"),
        ({"email": "li@example.com"}, {"email": "LI@Example.com"}, "email"),
        (
            {"email": "li@example.com"},
            {"email": "li@example.com", "phone": "+86 139 0000 0000"},
            "email",
        ),
    ],
)
def test_a_second_account_with_the_same_phone_or_email_is_refused(first, second, field):
    sign_up(APIClient(), **first)
    before = (accounts(), snapshot())

    response = APIClient().post(
        "/api/v1/auth/signup/", {"password": PASSWORD, **second}, format="json"
    )

    what = "phone" if field == "phone" else "e-mail"
    assert (response.status_code, response.json()) == (
        400,
        refused("signup_refused", f"An account with this {what} exists.", field),
    )
    assert (accounts(), snapshot()) == before
    assert Member.objects.count() == 1


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("Xq7#", "This password is too short. It must contain at least 8 characters."),
        ("12345678", "This password is too common. This password is entirely numeric."),
        ("password", "This password is too common."),
        ("83920174", "This password is entirely numeric."),
    ],
)
def test_a_weak_password_is_refused(password, message):
    response = APIClient().post(
        "/api/v1/auth/signup/",
        {"email": "li@example.com", "password": password},
        format="json",
    )

    assert (response.status_code, response.json()) == (
        400,
        refused("signup_refused", message, "password"),
    )
    assert accounts() == []
    assert Member.objects.count() == Wallet.objects.count() == 0


@pytest.mark.parametrize(
    ("details", "expected"),
    [
        (
            {},
            refused(
                "signup_refused", "Give an e-mail address or a phone number.", "email"
            ),
        ),
        (
            {"phone": "12-34"},
            refused("signup_refused", "That phone number is too short.", "phone"),
        ),
        (
            {"email": "not-an-address"},
            {
                "error": "invalid_input",
                "message": "email: Enter a valid email address.",
                "extra": {
                    "field": "email",
                    "fields": {"email": ["Enter a valid email address."]},
                },
            },
        ),
    ],
)
def test_sign_up_without_a_usable_phone_or_email_is_refused(details, expected):
    response = APIClient().post(
        "/api/v1/auth/signup/", {"password": PASSWORD, **details}, format="json"
    )

    assert (response.status_code, response.json()) == (400, expected)
    assert accounts() == []


# --- Log-in ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "login",
    ["+86 138 0000 1234", "+8613800001234", "li@example.com", "  LI@EXAMPLE.com "],
)
def test_log_in_by_phone_or_email(login):
    signed_up = sign_up(APIClient(), phone="+86 138 0000 1234", email="li@example.com")

    response = APIClient().post(
        "/api/v1/auth/login/", {"login": login, "password": PASSWORD}, format="json"
    )

    assert (response.status_code, response.json()) == (200, {"token": signed_up.token})


@pytest.mark.parametrize(
    ("login", "password"),
    [
        ("li@example.com", "wrong-password-1"),
        ("nobody@example.com", PASSWORD),
        ("+861", PASSWORD),
    ],
)
def test_log_in_with_a_wrong_login_or_password_is_refused(login, password):
    sign_up(APIClient(), email="li@example.com")

    response = APIClient().post(
        "/api/v1/auth/login/", {"login": login, "password": password}, format="json"
    )

    assert (response.status_code, response.json()) == (
        400,
        refused("login_refused", "Wrong login or password.", "login"),
    )


def test_a_deactivated_account_cannot_log_in():
    sign_up(APIClient(), email="li@example.com")
    User.objects.update(is_active=False)

    response = APIClient().post(
        "/api/v1/auth/login/",
        {"login": "li@example.com", "password": PASSWORD},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["error"] == "login_refused"


def test_the_profile_needs_a_signed_in_member():
    response = APIClient().get("/api/v1/me/")

    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"


# --- Addresses ------------------------------------------------------------------------


def test_a_member_sees_and_removes_only_their_own_addresses(make_shopper):
    # Given Alice's address
    alice, bob = make_shopper(balance=None), make_shopper(balance=None)
    address_id = alice.add_address()

    # Then Bob does not see it, and cannot remove it
    assert bob.client.get("/api/v1/me/addresses/").json() == []
    removed_by_bob = bob.client.delete(f"/api/v1/me/addresses/{address_id}/")
    assert (removed_by_bob.status_code, removed_by_bob.json()) == (
        404,
        refused("address_not_found", "No such address.", "address_id"),
    )
    assert Address.objects.get(pk=address_id).is_active is True
    assert alice.client.get("/api/v1/me/addresses/").json() == [
        {
            "id": address_id,
            "label": "Home",
            "latitude": "31.235000",
            "longitude": "121.480000",
            "note": "",
        }
    ]

    # When Alice removes it, it is gone from her list; removing it again is 404
    assert alice.client.delete(f"/api/v1/me/addresses/{address_id}/").status_code == 204
    assert alice.client.get("/api/v1/me/addresses/").json() == []
    assert alice.client.delete(f"/api/v1/me/addresses/{address_id}/").status_code == 404


def test_an_address_off_the_globe_is_refused(shopper):
    response = shopper.client.post(
        "/api/v1/me/addresses/",
        {"label": "Home", "latitude": "91.000000", "longitude": "121.480000"},
        format="json",
    )

    assert (response.status_code, response.json()) == (
        400,
        {
            "error": "invalid_input",
            "message": "latitude: Ensure this value is less than or equal to 90.",
            "extra": {
                "field": "latitude",
                "fields": {
                    "latitude": ["Ensure this value is less than or equal to 90."]
                },
            },
        },
    )
    assert Address.objects.count() == 0


# --- The wallet -----------------------------------------------------------------------


def test_the_wallet_ledger_sums_to_the_balance(
    store, stocked, shopper, django_capture_on_commit_callbacks
):
    # Given top-ups of 200.00, a paid order, a cancelled (refunded) order and another
    apples, _ = stocked
    post(
        shopper.client,
        "/api/v1/wallet/top-ups/",
        {"amount": "50.00", "payment_method": "sandbox"},
    )
    provider_pays(shopper.member.payments.get(state="pending").provider_reference)
    cancelled = shopper.order(store, [(apples, "3")])
    with django_capture_on_commit_callbacks(execute=True):
        post(shopper.client, f"/api/v1/orders/{cancelled.uuid}/cancel/", {})
    shopper.order(store, [(apples, "2")])

    # When the member looks at the wallet
    response = shopper.client.get("/api/v1/wallet/").json()

    # Then the balance is what the entries add up to, newest entry first
    assert response["balance"] == "224.40"  # 200 + 50 - 38.40 + 38.40 - 25.60
    assert response["currency"] == "CNY"
    assert [(e["kind"], e["amount"]) for e in response["entries"]] == [
        ("payment", "-25.60"),
        ("refund", "38.40"),
        ("payment", "-38.40"),
        ("top_up", "50.00"),
        ("top_up", "200.00"),
    ]
    wallet = Wallet.objects.get(member=shopper.member)
    assert wallet_ledger_total(wallet) == wallet.balance == D("224.40")


def test_each_member_sees_only_their_own_wallet(make_shopper):
    alice, bob = make_shopper(balance="80.00"), make_shopper(balance=None)

    assert alice.client.get("/api/v1/wallet/").json()["balance"] == "80.00"
    assert bob.client.get("/api/v1/wallet/").json() == {
        "balance": "0.00",
        "currency": "CNY",
        "entries": [],
    }


def test_the_database_refuses_a_negative_balance(shopper):
    with pytest.raises(IntegrityError), transaction.atomic():
        Wallet.objects.filter(member=shopper.member).update(balance=D("-0.01"))

    assert shopper.balance == D("200.00")
    assert WalletEntry.objects.count() == 1
