"""Bad input and refusals: each answers 4xx naming the field and the reason, and
changes nothing (orders, stock, reservations, wallets, ledgers, carts)."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from inventory.services import stock_correct, stock_receive
from orders.models import Cart, CartLine, Order, Wallet
from orders.wallet import wallet_ledger_total
from tests.conftest import assert_ledger_matches, requires_postgres
from tests.factories import StoreFactory
from tests.orders.conftest import post, race, snapshot

pytestmark = pytest.mark.django_db
D = Decimal

CART_NOT_FOUND = {
    "error": "cart_not_found",
    "message": "No such cart.",
    "extra": {"field": "cart"},
}
ORDER_NOT_FOUND = {
    "error": "order_not_found",
    "message": "No such order.",
    "extra": {"field": "order"},
}


# --- Other members' carts and orders --------------------------------------------------


def test_another_members_cart_is_not_found_for_any_operation(
    store, stocked, make_shopper
):
    # Given a cart of one member with a line in it
    apples, _ = stocked
    owner, other = make_shopper(), make_shopper()
    cart_uuid = owner.cart_with(store, [(apples, "2")])
    line_id = CartLine.objects.get().pk
    before = snapshot()

    # When another member reads, changes or checks it out
    responses = [
        other.client.get(f"/api/v1/carts/{cart_uuid}/"),
        other.add(cart_uuid, apples, "1"),
        other.client.patch(
            f"/api/v1/carts/{cart_uuid}/lines/{line_id}/",
            {"quantity": "5"},
            format="json",
        ),
        other.client.delete(f"/api/v1/carts/{cart_uuid}/lines/{line_id}/"),
        other.checkout(cart_uuid),
        other.pay_in_store(cart_uuid),
    ]

    # Then every answer is the same 404, and nothing changed
    assert [(r.status_code, r.json()) for r in responses] == [(404, CART_NOT_FOUND)] * 6
    assert snapshot() == before
    assert owner.client.get(f"/api/v1/carts/{cart_uuid}/").status_code == 200


def test_a_cart_address_that_is_not_a_uuid_is_not_found(shopper):
    response = shopper.client.get("/api/v1/carts/not-a-uuid/")

    assert (response.status_code, response.json()) == (404, CART_NOT_FOUND)


def test_another_members_order_is_not_found_for_any_operation(
    store, stocked, make_shopper
):
    # Given an order of one member, created with the sandbox provider (unpaid)
    apples, _ = stocked
    owner, other = make_shopper(), make_shopper()
    order = owner.order(store, [(apples, "2")], method="sandbox")
    before = snapshot()

    # When another member reads it, pays it or cancels it
    url = f"/api/v1/orders/{order.uuid}/"
    responses = [
        other.client.get(url),
        post(other.client, f"{url}pay/", {"payment_method": "wallet"}),
        post(other.client, f"{url}cancel/", {"reason": "not mine"}),
    ]

    # Then 404 each time, their history is empty, and nothing changed
    assert [(r.status_code, r.json()) for r in responses] == [
        (404, ORDER_NOT_FOUND)
    ] * 3
    assert other.client.get("/api/v1/orders/").json()["results"] == []
    assert snapshot() == before
    assert other.balance == D("200.00")


def test_an_order_address_that_is_not_a_uuid_is_not_found(shopper):
    response = shopper.client.get("/api/v1/orders/12345/")

    assert (response.status_code, response.json()) == (404, ORDER_NOT_FOUND)


# --- Stock ----------------------------------------------------------------------------


def test_checkout_short_of_stock_lists_each_short_line_with_what_is_available(
    store, stocked, make_store_product, shopper
):
    # Given a cart of apples, salmon and pears, then the shelf is recounted lower
    apples, salmon = stocked
    pears = make_store_product()
    stock_receive(store_product=pears, quantity=5)
    cart_uuid = shopper.cart_with(
        store, [(apples, "10"), (salmon, "1.500"), (pears, "2")]
    )
    stock_correct(store_product=apples, counted=8, reason="recount")
    stock_correct(store_product=salmon, counted="1.000", reason="recount")
    before = snapshot()

    # When the shopper checks out
    response = shopper.checkout(cart_uuid)

    # Then 409 lists apples and salmon (not pears) with what the app may still sell
    assert response.status_code == 409
    assert response.json() == {
        "error": "insufficient_stock",
        "message": f"Not enough stock for {apples.product.sku}, {salmon.product.sku}.",
        "extra": {
            "lines": [
                {
                    "sku": apples.product.sku,
                    "requested": "10.000",
                    "available": "7.000",
                },
                {"sku": salmon.product.sku, "requested": "1.500", "available": "1.000"},
            ]
        },
    }
    # And nothing was ordered, reserved or paid; the cart is still open
    assert snapshot() == before
    assert Order.objects.count() == 0
    assert Cart.objects.get(uuid=cart_uuid).state == "open"
    assert shopper.balance == D("200.00")


def test_adding_more_than_the_app_may_sell_is_refused_with_what_is_available(
    store, stocked, shopper
):
    # Given apples: 20 on hand, 1 kept back from the app
    apples, _ = stocked
    cart_uuid = shopper.cart_with(store, [(apples, "15")])
    before = snapshot()

    # When the shopper adds 5 more (20 in the line)
    response = shopper.add(cart_uuid, apples, "5")

    # Then 409 names the line and the 19 available; the line keeps its 15
    assert response.status_code == 409
    assert response.json() == {
        "error": "insufficient_stock",
        "message": f"Only 19.000 of {apples.product.sku} can be ordered online.",
        "extra": {
            "lines": [
                {
                    "sku": apples.product.sku,
                    "requested": "20.000",
                    "available": "19.000",
                }
            ]
        },
    }
    assert snapshot() == before
    assert CartLine.objects.get().quantity == D("15.000")


# --- Delivery area --------------------------------------------------------------------


def test_address_outside_the_radius_is_refused_with_distance_radius_and_pickup(
    store, stocked, shopper
):
    # Given an address 5.004 km north of the store (radius 3 km)
    apples, _ = stocked
    far = shopper.add_address(latitude="31.275400", longitude="121.473700")
    cart_uuid = shopper.cart_with(store, [(apples, "2")])
    before = snapshot()

    # When the shopper asks for delivery there
    response = shopper.checkout(cart_uuid, mode="delivery", address_id=far)

    # Then 422 says how far, the radius, and that pickup is possible; nothing changed
    assert response.status_code == 422
    assert response.json() == {
        "error": "outside_delivery_area",
        "message": "5.004 km from SH01: the store delivers within 3.00 km. "
        "Pickup in store is available.",
        "extra": {
            "field": "address",
            "distance_km": "5.004",
            "radius_km": "3.00",
            "alternatives": ["pickup"],
        },
    }
    assert snapshot() == before

    # And the offered pickup goes through with the same cart
    pickup = shopper.checkout(cart_uuid, mode="pickup")
    assert pickup.status_code == 201, pickup.json()
    assert pickup.json()["order"]["fulfilment_mode"] == "pickup"


# --- Quantities, products, stores -----------------------------------------------------


def test_fractional_quantity_of_a_by_the_piece_product_is_refused(
    store, stocked, shopper
):
    apples, salmon = stocked
    cart_uuid = shopper.open_cart(store)
    before = snapshot()

    response = shopper.add(cart_uuid, apples, "1.5")

    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_quantity",
        "message": f"{apples.product.sku} is sold by the piece: quantity must be a "
        "whole number.",
        "extra": {"field": "quantity", "value": "1.5", "sku": apples.product.sku},
    }
    assert snapshot() == before
    # A weighed product takes kilograms to the gram
    assert shopper.add(cart_uuid, salmon, "0.750").json()["quantity"] == "0.750"


def test_fractional_quantity_is_refused_when_changing_a_line(store, stocked, shopper):
    apples, _ = stocked
    cart_uuid = shopper.cart_with(store, [(apples, "2")])
    line_id = CartLine.objects.get().pk
    before = snapshot()

    response = shopper.client.patch(
        f"/api/v1/carts/{cart_uuid}/lines/{line_id}/",
        {"quantity": "2.5"},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_quantity"
    assert response.json()["extra"] == {
        "field": "quantity",
        "value": "2.5",
        "sku": apples.product.sku,
    }
    assert snapshot() == before


@pytest.mark.parametrize(
    ("quantity", "message", "extra"),
    [
        ("0", "quantity must be more than zero.", {"field": "quantity", "value": "0"}),
        (
            "-2",
            "quantity must be more than zero.",
            {"field": "quantity", "value": "-2"},
        ),
        (
            "-0.500",
            "quantity must be more than zero.",
            {"field": "quantity", "value": "-0.500"},
        ),
        ("abc", "quantity must be a number.", {"field": "quantity", "value": "abc"}),
        ("NaN", "quantity must be a number.", {"field": "quantity"}),
        (
            "0.0005",
            "quantity has more than three decimal places.",
            {"field": "quantity", "value": "0.0005"},
        ),
    ],
)
def test_zero_negative_or_malformed_quantity_is_refused(
    store, stocked, shopper, quantity, message, extra
):
    _, salmon = stocked
    cart_uuid = shopper.open_cart(store)
    before = snapshot()

    response = shopper.add(cart_uuid, salmon, quantity)

    assert (response.status_code, response.json()) == (
        400,
        {"error": "invalid_quantity", "message": message, "extra": extra},
    )
    assert snapshot() == before


def test_changing_a_line_to_zero_is_refused(store, stocked, shopper):
    apples, _ = stocked
    cart_uuid = shopper.cart_with(store, [(apples, "2")])
    line_id = CartLine.objects.get().pk
    before = snapshot()

    response = shopper.client.patch(
        f"/api/v1/carts/{cart_uuid}/lines/{line_id}/", {"quantity": "0"}, format="json"
    )

    assert (response.status_code, response.json()) == (
        400,
        {
            "error": "invalid_quantity",
            "message": "quantity must be more than zero.",
            "extra": {"field": "quantity", "value": "0"},
        },
    )
    assert snapshot() == before


def test_unknown_product_is_refused(store, stocked, shopper):
    cart_uuid = shopper.open_cart(store)
    before = snapshot()

    response = shopper.client.post(
        f"/api/v1/carts/{cart_uuid}/lines/",
        {"sku": "NOPE-1", "quantity": "1"},
        format="json",
    )

    assert (response.status_code, response.json()) == (
        404,
        {
            "error": "product_not_found",
            "message": "SH01 does not sell 'NOPE-1'.",
            "extra": {"field": "sku", "value": "NOPE-1"},
        },
    )
    assert snapshot() == before


def test_a_product_no_longer_sold_is_refused(store, stocked, shopper):
    apples, _ = stocked
    apples.is_active = False
    apples.save(update_fields=["is_active"])
    cart_uuid = shopper.open_cart(store)
    before = snapshot()

    response = shopper.add(cart_uuid, apples, "1")

    assert response.status_code == 404
    assert response.json()["error"] == "product_not_found"
    assert response.json()["extra"] == {"field": "sku", "value": apples.product.sku}
    assert snapshot() == before


def test_a_label_of_another_store_is_refused_in_store(store, stocked, shopper):
    apples, _ = stocked
    StoreFactory(code="SH02")
    cart_uuid = shopper.open_cart(store, "in_store")
    before = snapshot()

    response = shopper.add(
        cart_uuid, apples, "1", code=f"https://hema.test/q/SH02/{apples.product.sku}"
    )

    assert (response.status_code, response.json()) == (
        400,
        {
            "error": "invalid_code",
            "message": "This label belongs to store SH02, not SH01.",
            "extra": {"field": "code", "label_store": "SH02"},
        },
    )
    assert snapshot() == before


def test_unknown_store_is_refused(shopper):
    before = snapshot()

    response = shopper.client.post(
        "/api/v1/carts/", {"store": "xx99", "channel": "app"}, format="json"
    )

    assert (response.status_code, response.json()) == (
        404,
        {
            "error": "store_not_found",
            "message": "No store with code 'XX99'.",
            "extra": {"field": "store", "value": "XX99"},
        },
    )
    assert snapshot() == before


def test_unknown_fields_on_a_new_cart_are_refused_naming_them(store, shopper):
    """A misspelt field (``chanel``) is not silently dropped: the schema says
    ``additionalProperties: false`` and the server holds to it."""
    before = snapshot()

    response = shopper.client.post(
        "/api/v1/carts/",
        {"store": store.code, "channel": "app", "chanel": "app", "coupon": "X"},
        format="json",
    )

    assert (response.status_code, response.json()) == (
        400,
        {
            "error": "invalid_input",
            "message": "chanel: Unknown field.",
            "extra": {
                "field": "chanel",
                "fields": {"chanel": ["Unknown field."], "coupon": ["Unknown field."]},
            },
        },
    )
    assert snapshot() == before


def test_unknown_channel_is_refused(store, shopper):
    before = snapshot()

    response = shopper.client.post(
        "/api/v1/carts/", {"store": store.code, "channel": "fax"}, format="json"
    )

    assert (response.status_code, response.json()) == (
        400,
        {
            "error": "invalid_input",
            "message": 'channel: "fax" is not a valid choice.',
            "extra": {
                "field": "channel",
                "fields": {"channel": ['"fax" is not a valid choice.']},
            },
        },
    )
    assert snapshot() == before


# --- Carts that cannot be used any more -----------------------------------------------


def test_expired_cart_refuses_changes_and_checkout(store, stocked, shopper):
    # Given a cart whose time ran out
    apples, _ = stocked
    cart_uuid = shopper.cart_with(store, [(apples, "2")])
    Cart.objects.filter(uuid=cart_uuid).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    before = snapshot()
    expired = {
        "error": "cart_expired",
        "message": "This cart has expired; open a new one.",
        "extra": {"field": "cart"},
    }

    # When the shopper adds to it or checks it out
    added = shopper.add(cart_uuid, apples, "1")
    checked_out = shopper.checkout(cart_uuid)

    # Then 409 each time and nothing changed
    assert [(r.status_code, r.json()) for r in (added, checked_out)] == [
        (409, expired)
    ] * 2
    assert snapshot() == before
    # And opening a cart at the store starts a new one
    assert shopper.open_cart(store) != cart_uuid


def test_checked_out_cart_cannot_be_checked_out_again_another_way(
    store, stocked, shopper
):
    # Given a cart checked out for pickup, paid from the wallet
    apples, _ = stocked
    cart_uuid = shopper.cart_with(store, [(apples, "2")])
    first = shopper.checkout(cart_uuid)
    assert first.status_code == 201
    before = snapshot()

    # When it is checked out again, asking for another payment method (a new key:
    # a new attempt, not a retry; the same request gets its order back, see
    # test_idempotency.py)
    again = shopper.checkout(cart_uuid, method="sandbox")

    # Then it is refused, naming the order the cart became, and nothing changed
    order = first.json()["order"]
    assert (again.status_code, again.json()) == (
        409,
        {
            "error": "cart_expired",
            "message": f"This cart was checked out as order {order['number']}, "
            "not as asked now.",
            "extra": {"field": "cart", "state": "checked_out", "order": order["id"]},
        },
    )
    assert snapshot() == before
    assert Order.objects.count() == 1
    assert shopper.balance == D("174.40")


def test_empty_cart_cannot_be_checked_out(store, shopper):
    cart_uuid = shopper.open_cart(store)
    before = snapshot()

    response = shopper.checkout(cart_uuid)

    assert (response.status_code, response.json()) == (
        422,
        {
            "error": "cart_empty",
            "message": "The cart is empty.",
            "extra": {"field": "cart"},
        },
    )
    assert snapshot() == before


# --- Payment --------------------------------------------------------------------------


def test_paying_an_already_paid_order_is_refused(store, stocked, shopper):
    apples, _ = stocked
    order = shopper.order(store, [(apples, "2")])
    before = snapshot()

    response = post(
        shopper.client,
        f"/api/v1/orders/{order.uuid}/pay/",
        {"payment_method": "wallet"},
    )

    assert (response.status_code, response.json()) == (
        409,
        {
            "error": "already_paid",
            "message": f"Order {order.number} is paid, not awaiting payment.",
            "extra": {"field": "order", "state": "paid"},
        },
    )
    assert snapshot() == before
    assert shopper.balance == D("174.40")


def test_wallet_too_low_at_checkout_changes_nothing(store, stocked, make_shopper):
    # Given 20.00 in the wallet and 3 apples (38.40) in the cart
    apples, _ = stocked
    shopper = make_shopper(balance="20.00")
    cart_uuid = shopper.cart_with(store, [(apples, "3")])
    before = snapshot()

    # When the shopper checks out with the wallet
    response = shopper.checkout(cart_uuid)

    # Then 402 says what the wallet holds and what is needed
    assert (response.status_code, response.json()) == (
        402,
        {
            "error": "insufficient_funds",
            "message": "The wallet holds 20.00; 38.40 is needed.",
            "extra": {"field": "payment_method", "balance": "20.00", "needed": "38.40"},
        },
    )
    # And no order, no reservation, no payment; the cart is open and the wallet whole
    assert snapshot() == before
    assert Order.objects.count() == 0
    apples.refresh_from_db()
    assert (apples.on_hand, apples.reserved) == (D("20.000"), D("0.000"))
    assert shopper.balance == D("20.00")


def test_wallet_too_low_to_pay_an_unpaid_order_changes_nothing(
    store, stocked, make_shopper
):
    # Given an order checked out with the provider, still awaiting payment
    apples, _ = stocked
    shopper = make_shopper(balance="20.00")
    order = shopper.order(store, [(apples, "3")], method="sandbox")
    before = snapshot()

    # When the shopper tries to pay it from the wallet
    response = post(
        shopper.client,
        f"/api/v1/orders/{order.uuid}/pay/",
        {"payment_method": "wallet"},
    )

    # Then 402, and the order still holds its stock awaiting payment
    assert response.status_code == 402
    assert response.json()["extra"] == {
        "field": "payment_method",
        "balance": "20.00",
        "needed": "38.40",
    }
    assert snapshot() == before
    order.refresh_from_db()
    assert order.state == "created"
    apples.refresh_from_db()
    assert apples.reserved == D("3.000")


@requires_postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_two_checkouts_racing_for_one_wallet_cannot_overdraw_it(
    store, stocked, make_shopper
):
    apples, _ = stocked
    for round_no in range(4):
        # Given 50.00 in a wallet and two carts of 38.40 (an app cart, an in-store cart)
        shopper = make_shopper(balance="50.00")
        app_cart = shopper.cart_with(store, [(apples, "3")])
        in_store_cart = shopper.cart_with(store, [(apples, "3")], channel="in_store")
        apples.refresh_from_db()
        on_hand, reserved = apples.on_hand, apples.reserved

        # When both are paid from the wallet at the same moment
        app, in_store = race(
            lambda: shopper.checkout(app_cart),  # noqa: B023 (run before the next round)
            lambda: shopper.pay_in_store(in_store_cart),  # noqa: B023
        )

        # Then one is paid and the other refused for the balance left (no deadlock)
        assert sorted([app.status_code, in_store.status_code]) == [201, 402], round_no
        refused = app if app.status_code == 402 else in_store
        assert refused.json()["extra"] == {
            "field": "payment_method",
            "balance": "11.60",
            "needed": "38.40",
        }
        assert shopper.member.orders.count() == 1
        assert shopper.balance == D("11.60")
        wallet = Wallet.objects.get(member=shopper.member)
        assert wallet_ledger_total(wallet) == wallet.balance
        apples.refresh_from_db()
        if app.status_code == 201:
            assert (apples.on_hand, apples.reserved) == (on_hand, reserved + 3)
        else:
            assert (apples.on_hand, apples.reserved) == (on_hand - 3, reserved)
        assert_ledger_matches(apples)


def test_unknown_payment_method_is_refused(store, stocked, shopper):
    apples, _ = stocked
    cart_uuid = shopper.cart_with(store, [(apples, "2")])
    before = snapshot()

    response = shopper.checkout(cart_uuid, method="bitcoin")

    assert (response.status_code, response.json()) == (
        400,
        {
            "error": "unknown_payment_method",
            "message": "Unknown payment method 'bitcoin'.",
            "extra": {"field": "payment_method", "allowed": ["wallet", "sandbox"]},
        },
    )
    assert snapshot() == before


def test_top_up_from_the_wallet_itself_is_refused(shopper):
    before = snapshot()

    response = post(
        shopper.client,
        "/api/v1/wallet/top-ups/",
        {"amount": "50.00", "payment_method": "wallet"},
    )

    assert (response.status_code, response.json()) == (
        400,
        {
            "error": "unknown_payment_method",
            "message": "A wallet is topped up from a payment provider, "
            "not from itself.",
            "extra": {"field": "payment_method", "allowed": ["sandbox"]},
        },
    )
    assert snapshot() == before


@pytest.mark.parametrize("amount", ["0", "-5.00", "0.001"])
def test_top_up_of_a_bad_amount_is_refused(shopper, amount):
    before = snapshot()

    response = post(
        shopper.client,
        "/api/v1/wallet/top-ups/",
        {"amount": amount, "payment_method": "sandbox"},
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_input"
    assert list(response.json()["extra"]["fields"]) == ["amount"]
    assert snapshot() == before


# --- Fulfilment -----------------------------------------------------------------------


def test_delivery_without_an_address_is_refused(store, stocked, shopper):
    apples, _ = stocked
    cart_uuid = shopper.cart_with(store, [(apples, "2")])
    before = snapshot()

    response = shopper.checkout(cart_uuid, mode="delivery")

    assert (response.status_code, response.json()) == (
        400,
        {
            "error": "invalid_cart_operation",
            "message": "Delivery needs an address.",
            "extra": {"field": "address_id"},
        },
    )
    assert snapshot() == before


def test_delivery_to_another_members_address_is_refused(store, stocked, make_shopper):
    apples, _ = stocked
    shopper, neighbour = make_shopper(), make_shopper()
    their_address = neighbour.add_address()
    cart_uuid = shopper.cart_with(store, [(apples, "2")])
    before = snapshot()

    response = shopper.checkout(cart_uuid, mode="delivery", address_id=their_address)

    assert (response.status_code, response.json()) == (
        400,
        {
            "error": "invalid_cart_operation",
            "message": "No such address.",
            "extra": {"field": "address_id", "value": their_address},
        },
    )
    assert snapshot() == before


@pytest.mark.parametrize(
    ("channel", "mode", "allowed", "message"),
    [
        (
            "app",
            "carry_out",
            ["delivery", "pickup"],
            "An app order is delivered or picked up.",
        ),
        (
            "in_store",
            "pickup",
            ["carry_out", "delivery"],
            "In store, the goods are carried out or delivered home.",
        ),
    ],
)
def test_a_fulfilment_mode_the_channel_does_not_offer_is_refused(
    store, stocked, shopper, channel, mode, allowed, message
):
    apples, _ = stocked
    cart_uuid = shopper.cart_with(store, [(apples, "2")], channel=channel)
    before = snapshot()

    path = "checkout" if channel == "app" else "pay"
    response = post(
        shopper.client,
        f"/api/v1/carts/{cart_uuid}/{path}/",
        {"fulfilment_mode": mode, "payment_method": "wallet"},
    )

    assert (response.status_code, response.json()) == (
        400,
        {
            "error": "invalid_cart_operation",
            "message": message,
            "extra": {"field": "fulfilment_mode", "allowed": allowed},
        },
    )
    assert snapshot() == before


def test_anonymous_requests_are_refused(store):
    response = APIClient().post(
        "/api/v1/carts/", {"store": store.code, "channel": "app"}, format="json"
    )

    assert (response.status_code, response.json()) == (
        401,
        {
            "error": "not_authenticated",
            "message": "Authentication credentials were not provided.",
            "extra": {},
        },
    )
    assert Cart.objects.count() == 0
