"""A wallet holds one currency: it pays only orders in it and is topped up in it."""

from decimal import Decimal

import pytest

from inventory.services import stock_receive
from orders.models import Order, Payment
from tests.factories import StoreFactory, StoreProductFactory
from tests.orders.conftest import post, snapshot

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def hong_kong():
    """A store selling in HKD, with 10 mangoes at 20.00."""
    store = StoreFactory(code="HK01", currency="HKD", time_zone="Asia/Hong_Kong")
    mangoes = StoreProductFactory(store=store, list_price=D("20.00"))
    stock_receive(store_product=mangoes, quantity=10)
    return store, mangoes


def mismatch(order_currency: str) -> dict:
    return {
        "error": "currency_mismatch",
        "message": f"The wallet holds CNY; it cannot pay or take {order_currency}.",
        "extra": {
            "field": "currency",
            "wallet_currency": "CNY",
            "currency": order_currency,
        },
    }


def test_a_cny_wallet_does_not_pay_an_hkd_checkout(shopper, hong_kong):
    store, mangoes = hong_kong
    cart = shopper.cart_with(store, [(mangoes, "2")])
    before = snapshot()

    response = shopper.checkout(cart, method="wallet")

    assert response.status_code == 422
    assert response.json() == mismatch("HKD")
    assert snapshot() == before
    assert shopper.balance == D("200.00")


def test_a_cny_wallet_does_not_pay_an_hkd_in_store_purchase(shopper, hong_kong):
    store, mangoes = hong_kong
    cart = shopper.cart_with(store, [(mangoes, "1")], channel="in_store")
    before = snapshot()

    response = shopper.pay_in_store(cart, method="wallet")

    assert (response.status_code, response.json()) == (422, mismatch("HKD"))
    assert snapshot() == before


def test_an_hkd_order_awaiting_payment_is_not_paid_from_a_cny_wallet(
    shopper, hong_kong
):
    # Given an HKD order started with a provider, not yet paid
    store, mangoes = hong_kong
    order = shopper.order(store, [(mangoes, "2")], method="sandbox")
    assert (order.state, order.currency) == ("created", "HKD")
    before = snapshot()

    # When the member tries to pay it from the wallet instead
    response = post(
        shopper.client,
        f"/api/v1/orders/{order.uuid}/pay/",
        {"payment_method": "wallet"},
    )

    # Then it is refused and nothing changed
    assert (response.status_code, response.json()) == (422, mismatch("HKD"))
    assert snapshot() == before
    # And the provider still takes HKD for it
    assert Payment.objects.get(order=order).currency == "HKD"
    assert Order.objects.get(pk=order.pk).state == "created"


def test_a_top_up_takes_the_wallets_currency(shopper):
    response = post(
        shopper.client,
        "/api/v1/wallet/top-ups/",
        {"amount": "10.00", "payment_method": "sandbox"},
    )
    named = post(
        shopper.client,
        "/api/v1/wallet/top-ups/",
        {"amount": "10.00", "payment_method": "sandbox", "currency": "cny"},
    )

    assert (response.status_code, named.status_code) == (201, 201)
    assert response.json()["currency"] == named.json()["currency"] == "CNY"


def test_a_top_up_in_another_currency_is_refused_naming_currency(shopper):
    before = snapshot()

    response = post(
        shopper.client,
        "/api/v1/wallet/top-ups/",
        {"amount": "10.00", "payment_method": "sandbox", "currency": "USD"},
    )

    assert response.status_code == 400
    assert response.json() == {
        "error": "top_up_refused",
        "message": "This wallet is topped up in CNY, not USD.",
        "extra": {"field": "currency", "allowed": ["CNY"]},
    }
    assert snapshot() == before
