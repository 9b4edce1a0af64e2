"""Faults around a checkout's commit, injected for real: a TCP proxy of the test's
own (tests/orders/pgproxy.py) between Django and PostgreSQL cuts the connection
right before or right after the COMMIT of the transaction that writes the order.
The client then retries as the IETF draft asks: the paid order comes back, or the
checkout runs once; never a second order or charge, never a key blocked."""

import time
import uuid
from decimal import Decimal

import pytest
from django.db import connection
from rest_framework.test import APIClient

from inventory.models import Reservation, StockMovement
from orders.models import Cart, IdempotencyKey, Order, Payment, WalletEntry
from tests.conftest import requires_postgres
from tests.orders.conftest import race, snapshot
from tests.orders.pgproxy import AFTER_COMMIT, BEFORE_COMMIT, proxied_database

D = Decimal
ORDER_INSERT = b'INSERT INTO "orders_order"'
OUTCOME_UNKNOWN = {
    "error": "outcome_unknown",
    "message": "The database connection was lost before this request's outcome was "
    "known. Retry with the same Idempotency-Key: it returns the first result if "
    "there was one, or runs the request once.",
    "extra": {"field": "Idempotency-Key"},
}
# Both carts' endpoints: the app checkout and the in-store payment.
ENDPOINTS = {
    "checkout": ("app", "checkout", "pickup", "paid"),
    "pay": ("in_store", "pay", "carry_out", "completed"),
}

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]


def pay(shopper, cart_uuid: str, endpoint: str, key: str):
    _, path, mode, _ = ENDPOINTS[endpoint]
    return shopper.client.post(
        f"/api/v1/carts/{cart_uuid}/{path}/",
        {"fulfilment_mode": mode, "payment_method": "wallet"},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


def wait_until_the_cut_session_is_gone(timeout: float = 10) -> None:
    """PostgreSQL ends a session whose client vanished as soon as it reads the end
    of its socket, and its transaction-scoped locks (the key's) go with it. Wait
    for that, so that the retry is not racing the server's bookkeeping."""
    deadline = time.monotonic() + timeout
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND "
                "database = (SELECT oid FROM pg_database "
                "WHERE datname = current_database())"
            )
            if cursor.fetchone()[0] == 0:
                return
        assert time.monotonic() < deadline, "the cut session still holds its locks"
        time.sleep(0.02)


def assert_answered_outcome_unknown(response) -> None:
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response.json() == OUTCOME_UNKNOWN
    assert response["Retry-After"] == "1"


@pytest.mark.parametrize("endpoint", ["checkout", "pay"])
def test_a_connection_cut_right_after_the_commit_then_the_retry_gets_the_paid_order(
    store, stocked, shopper, endpoint
):
    # Given a cart of two apples (12.80 each) and a wallet of 200.00
    apples, _ = stocked
    channel, _, _, paid_state = ENDPOINTS[endpoint]
    cart_uuid = shopper.cart_with(store, [(apples, "2")], channel=channel)

    with proxied_database() as proxy:
        # When the connection is cut right after PostgreSQL committed the checkout,
        # before its answer reached Django
        proxy.arm(AFTER_COMMIT, marker=ORDER_INSERT)
        first = pay(shopper, cart_uuid, endpoint, key="cut-after")
        assert proxy.cut_done.is_set()
        assert proxy.cuts == 1

        # Then the client is told in JSON that the outcome is unknown, to retry
        assert_answered_outcome_unknown(first)
        # though the order was paid, and its answer committed with it
        order = Order.objects.get()
        assert (order.state, order.total) == (paid_state, D("25.60"))
        assert IdempotencyKey.objects.filter(key="cut-after").count() == 1
        wait_until_the_cut_session_is_gone()

        # When the app retries with the same key
        retry = pay(shopper, cart_uuid, endpoint, key="cut-after")

    # Then it gets the paid order, as the first answer would have been
    assert retry.status_code == 201, retry.json()
    assert retry["Idempotent-Replayed"] == "true"
    body = retry.json()
    assert body["order"]["id"] == str(order.uuid)
    assert body["order"]["state"] == paid_state
    assert body["payment"]["state"] == "succeeded"
    assert body["payment"]["amount"] == "25.60"
    # and everything happened once: one order, one payment, one debit, one hold/sale
    assert Order.objects.count() == 1
    assert Payment.objects.filter(purpose="order").count() == 1
    assert WalletEntry.objects.filter(kind="payment").count() == 1
    assert shopper.balance == D("174.40")
    apples.refresh_from_db()
    if channel == "app":
        assert (apples.on_hand, apples.reserved) == (D("20.000"), D("2.000"))
        assert Reservation.objects.count() == 1
    else:
        assert (apples.on_hand, apples.reserved) == (D("18.000"), D("0.000"))
        assert StockMovement.objects.filter(kind="sale_in_store").count() == 1
    assert Cart.objects.get(uuid=cart_uuid).state == "checked_out"

    # And if the key's record was lost as well (a new key for the same request),
    # the cart's order comes back (200), not cart_expired, and nothing is repeated
    before = snapshot()
    again = pay(shopper, cart_uuid, endpoint, key="a-new-key")
    assert again.status_code == 200, again.json()
    assert again.json() == body
    assert snapshot() == before


@pytest.mark.parametrize("endpoint", ["checkout", "pay"])
def test_a_connection_cut_right_before_the_commit_keeps_nothing_and_frees_the_key(
    store, stocked, shopper, endpoint
):
    # Given a cart of two apples and a wallet of 200.00
    apples, _ = stocked
    channel = ENDPOINTS[endpoint][0]
    cart_uuid = shopper.cart_with(store, [(apples, "2")], channel=channel)
    before = snapshot()

    with proxied_database() as proxy:
        # When the connection is cut just before the checkout's COMMIT is sent
        proxy.arm(BEFORE_COMMIT, marker=ORDER_INSERT)
        first = pay(shopper, cart_uuid, endpoint, key="cut-before")
        assert proxy.cuts == 1

        # Then the client is told in JSON to retry, and nothing was kept: no
        # order, no charge, no stock, the cart open, no key record
        assert_answered_outcome_unknown(first)
        wait_until_the_cut_session_is_gone()
        assert snapshot() == before
        assert not IdempotencyKey.objects.filter(key="cut-before").exists()

        # When the app retries with the same key at once
        retry = pay(shopper, cart_uuid, endpoint, key="cut-before")

    # Then the checkout runs, once (not 409, not cart_expired)
    assert retry.status_code == 201, retry.json()
    assert "Idempotent-Replayed" not in retry
    assert Order.objects.count() == 1
    # the rolled-back attempt gave its order number back
    assert retry.json()["order"]["number"].endswith("-0001")
    assert Payment.objects.filter(purpose="order").count() == 1
    assert shopper.balance == D("174.40")


def test_a_connection_cut_of_another_transaction_leaves_the_checkout_alone(
    store, stocked, shopper
):
    # Given the proxy armed for a transaction that never comes (a marker no
    # checkout writes): the proxy itself changes nothing
    apples, _ = stocked
    cart_uuid = shopper.cart_with(store, [(apples, "1")])
    with proxied_database() as proxy:
        proxy.arm(AFTER_COMMIT, marker=b'DELETE FROM "orders_order"')
        response = shopper.checkout(cart_uuid, key="no-cut")
        assert proxy.cuts == 0

    assert response.status_code == 201, response.json()
    assert shopper.balance == D("187.20")


@pytest.mark.slow
def test_a_double_tap_with_two_keys_at_once_makes_one_order(store, stocked, shopper):
    # Given an app cart, checked out twice at the same moment with two new keys
    # (an app that makes a key per tap), five times over
    apples, _ = stocked
    for round_no in range(5):
        cart_uuid = shopper.cart_with(store, [(apples, "1")])

        def tap(cart_uuid=cart_uuid):
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Token {shopper.client.token}")
            response = client.post(
                f"/api/v1/carts/{cart_uuid}/checkout/",
                {"fulfilment_mode": "pickup", "payment_method": "wallet"},
                format="json",
                HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
            )
            return response.status_code, response.json()

        first, second = race(tap, tap)

        # Then one made the order (201) and the other was answered with it (200)
        assert sorted([first[0], second[0]]) == [200, 201], (first, second)
        assert first[1]["order"]["id"] == second[1]["order"]["id"]
        assert first[1]["payment"]["uuid"] == second[1]["payment"]["uuid"]
        assert Order.objects.count() == round_no + 1

    # And each order was charged once
    assert Payment.objects.filter(purpose="order").count() == 5
    assert shopper.balance == D("200.00") - 5 * D("12.80")
    apples.refresh_from_db()
    assert apples.reserved == D("5.000")
