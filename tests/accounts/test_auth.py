"""Log-in by e-mail or phone, for the app (the backend) and the admin site."""

import pytest
from django.contrib.auth import authenticate
from django.db import IntegrityError, transaction

from accounts.forms import UserCreationForm
from accounts.models import User, normalize_phone

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-9"


@pytest.fixture
def shopper():
    return User.objects.create_user(
        email="Li.Wei@Hema.test", phone="+86 138-0013-8000", password=PASSWORD
    )


def test_create_user_normalises_email_and_phone(shopper):
    shopper.refresh_from_db()

    assert (shopper.email, shopper.phone) == ("li.wei@hema.test", "+8613800138000")


@pytest.mark.parametrize(
    "login",
    [
        "li.wei@hema.test",
        "LI.WEI@HEMA.TEST",
        "  Li.Wei@hema.test ",
        "+8613800138000",
        "+86 138 0013 8000",
        "+86 (138) 0013-8000",
    ],
)
def test_log_in_by_email_any_case_or_by_phone_any_format(shopper, login):
    assert authenticate(None, username=login, password=PASSWORD) == shopper


def test_log_in_by_keyword_email_or_phone(shopper):
    assert authenticate(None, email="li.wei@hema.test", password=PASSWORD) == shopper
    assert authenticate(None, phone="+86 13800138000", password=PASSWORD) == shopper


@pytest.mark.parametrize(
    ("login", "password"),
    [
        ("li.wei@hema.test", "wrong-password"),
        ("+8613800138000", "wrong-password"),
        ("nobody@hema.test", PASSWORD),
        ("+8613900000000", PASSWORD),
        ("", PASSWORD),
        ("li.wei@hema.test", None),
    ],
)
def test_wrong_password_or_unknown_login_is_refused(shopper, login, password):
    assert authenticate(None, username=login, password=password) is None


def test_inactive_user_is_refused(shopper):
    User.objects.filter(pk=shopper.pk).update(is_active=False)

    assert authenticate(None, username="li.wei@hema.test", password=PASSWORD) is None
    assert authenticate(None, username="+8613800138000", password=PASSWORD) is None


def test_phone_only_and_email_only_users(db):
    by_phone = User.objects.create_user(phone="13911112222", password=PASSWORD)
    by_email = User.objects.create_user(email="a@hema.test", password=PASSWORD)

    assert (by_phone.email, str(by_phone)) == (None, "+8613911112222")
    assert authenticate(None, username="139 1111 2222", password=PASSWORD) == by_phone
    assert by_email.phone is None
    assert authenticate(None, username="A@hema.test", password=PASSWORD) == by_email


def test_a_user_needs_an_email_or_a_phone(db):
    with pytest.raises(ValueError, match="needs an e-mail address or a phone number"):
        User.objects.create_user(email="", phone="", password=PASSWORD)
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(email=None, phone=None)
    assert User.objects.count() == 0


def test_the_creation_form_needs_an_email_or_a_phone(db):
    form = UserCreationForm(
        data={"email": "", "phone": "", "password1": PASSWORD, "password2": PASSWORD}
    )

    assert not form.is_valid()
    assert "Give an e-mail address or a phone number." in form.non_field_errors()
    assert User.objects.count() == 0


def test_emails_are_unique_whatever_their_case(shopper):
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(email="LI.WEI@hema.test")
    assert User.objects.count() == 1


def test_normalize_phone():
    assert normalize_phone(" +86 (138) 0013-8000 ") == "+8613800138000"
    # Without its country code, a number is the stores' country's (CN).
    assert normalize_phone("138 0013 8000") == "+8613800138000"
    assert normalize_phone("+44 20 7946 0958") == "+442079460958"
    # What is no possible number keeps its digits (and is refused elsewhere).
    assert normalize_phone("12-34") == "1234"


# --- Admin log-in ----------------------------------------------------------------


@pytest.fixture
def staff(db):
    return User.objects.create_user(
        email="manager@hema.test",
        phone="+8613700001111",
        password=PASSWORD,
        is_staff=True,
    )


def test_admin_login_page_asks_for_email_or_phone(client):
    response = client.get("/admin/login/")

    assert response.status_code == 200
    assert "E-mail or phone" in response.content.decode()


@pytest.mark.parametrize("login", ["Manager@Hema.test", "+86 137 0000 1111"])
def test_admin_login_accepts_a_staff_users_email_or_phone(client, staff, login):
    response = client.post(
        "/admin/login/?next=/admin/", {"username": login, "password": PASSWORD}
    )

    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


@pytest.mark.parametrize(
    ("login", "password", "make_inactive"),
    [
        ("manager@hema.test", "wrong-password", False),
        ("manager@hema.test", PASSWORD, True),
    ],
)
def test_admin_login_refuses_a_wrong_password_or_inactive_user(
    client, staff, login, password, make_inactive
):
    if make_inactive:
        User.objects.filter(pk=staff.pk).update(is_active=False)

    response = client.post("/admin/login/", {"username": login, "password": password})

    assert response.status_code == 200
    assert (
        "Please enter the correct e-mail or phone and password"
        in response.content.decode()
    )
    assert client.get("/admin/").status_code == 302


def test_admin_login_refuses_a_shopper(client, shopper):
    response = client.post(
        "/admin/login/", {"username": "li.wei@hema.test", "password": PASSWORD}
    )

    assert response.status_code == 200
    assert (
        "Please enter the correct e-mail or phone and password for a staff account"
        in (response.content.decode())
    )
