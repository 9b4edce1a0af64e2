"""The managers' order screens: lists, cancel and refund with a reason, scoping."""

from decimal import Decimal

import pytest
from django.test import Client

from orders.models import Order, Refund, Wallet
from tests.factories import StoreFactory, StoreStaffFactory, UserFactory

pytestmark = pytest.mark.django_db
D = Decimal


def staff_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def form_token(client: Client, url: str) -> str:
    """The one-time token a form page hands the browser (see orders/admin.py)."""
    return client.get(url).context["form"].initial["token"]


@pytest.fixture
def superuser_client():
    return staff_client(UserFactory(is_staff=True, is_superuser=True))


@pytest.fixture
def paid_order(store, stocked, shopper) -> Order:
    apples, _ = stocked
    return shopper.order(store, [(apples, "2")])


def test_order_pages_load_for_a_superuser(superuser_client, paid_order):
    for url in (
        "/admin/orders/order/",
        "/admin/orders/order/?channel__exact=app&state__exact=paid",
        f"/admin/orders/order/{paid_order.pk}/change/",
        f"/admin/orders/order/{paid_order.pk}/cancel/",
        f"/admin/orders/order/{paid_order.pk}/refund/",
        "/admin/orders/wallet/",
        "/admin/orders/member/",
    ):
        response = superuser_client.get(url)
        assert response.status_code == 200, url
    listing = superuser_client.get("/admin/orders/order/").content.decode()
    assert paid_order.number in listing


def test_a_manager_cancels_a_paid_order_with_a_reason(
    store, paid_order, shopper, django_capture_on_commit_callbacks
):
    manager = UserFactory(is_staff=True)
    StoreStaffFactory(user=manager, store=store, role="manager")
    balance_before = shopper.balance

    client = staff_client(manager)
    url = f"/admin/orders/order/{paid_order.pk}/cancel/"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url,
            {"reason": "shopper called the store", "token": form_token(client, url)},
        )

    assert response.status_code == 302
    paid_order.refresh_from_db()
    assert (paid_order.state, paid_order.refund_status) == ("cancelled", "refunded")
    refund = Refund.objects.get(order=paid_order)
    assert (refund.amount, refund.reason, refund.state) == (
        D("25.60"),
        "shopper called the store",
        "succeeded",
    )
    assert shopper.balance == balance_before + D("25.60")


def test_a_refund_without_a_reason_or_above_the_total_changes_nothing(
    store, paid_order, superuser_client
):
    url = f"/admin/orders/order/{paid_order.pk}/refund/"
    token = form_token(superuser_client, url)
    no_reason = superuser_client.post(
        url, {"amount": "5.00", "reason": "", "token": token}
    )
    too_much = superuser_client.post(
        url, {"amount": "30.00", "reason": "goodwill", "token": token}
    )

    assert no_reason.status_code == 200
    assert too_much.status_code == 200
    assert "At most 25.60 is left to refund" in too_much.content.decode()
    assert not Refund.objects.exists()
    paid_order.refresh_from_db()
    assert paid_order.refunded_total == 0


def test_a_partial_refund_marks_the_order_partially_refunded(
    paid_order, superuser_client, django_capture_on_commit_callbacks
):
    url = f"/admin/orders/order/{paid_order.pk}/refund/"
    token = form_token(superuser_client, url)
    with django_capture_on_commit_callbacks(execute=True):
        response = superuser_client.post(
            url, {"amount": "5.00", "reason": "bruised apple", "token": token}
        )
    assert response.status_code == 302
    paid_order.refresh_from_db()
    assert (paid_order.refund_status, paid_order.refunded_total) == (
        "partially_refunded",
        D("5.00"),
    )


def test_a_manager_of_another_store_neither_sees_nor_acts_on_the_order(paid_order):
    elsewhere = UserFactory(is_staff=True)
    StoreStaffFactory(user=elsewhere, store=StoreFactory(code="BJ01"), role="manager")
    client = staff_client(elsewhere)

    listing = client.get("/admin/orders/order/")
    cancel = client.post(
        f"/admin/orders/order/{paid_order.pk}/cancel/", {"reason": "not mine"}
    )

    assert paid_order.number not in listing.content.decode()
    assert cancel.status_code == 403
    paid_order.refresh_from_db()
    assert paid_order.state == "paid"


def test_wallets_are_read_only(superuser_client, shopper):
    wallet = Wallet.objects.get(member=shopper.member)
    response = superuser_client.post(
        f"/admin/orders/wallet/{wallet.pk}/change/", {"balance": "9999.00"}
    )
    assert response.status_code == 403
    wallet.refresh_from_db()
    assert wallet.balance == shopper.balance
