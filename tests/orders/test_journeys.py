"""Both shopping journeys end to end through the HTTP API, from sign-up."""

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from inventory.models import MovementKind, StockMovement
from orders.models import Order, Wallet
from tests.conftest import assert_ledger_matches
from tests.orders.conftest import post, sign_up, top_up

pytestmark = pytest.mark.django_db
D = Decimal


def test_app_journey_from_sign_up_to_a_paid_order(store, stocked):
    apples, salmon = stocked
    client = sign_up(APIClient(), phone="+86 138 0000 1234", full_name="Li Wei")
    top_up(client, "500.00")
    assert client.get("/api/v1/wallet/").json()["balance"] == "500.00"

    address = client.post(
        "/api/v1/me/addresses/",
        {"label": "Home", "latitude": "31.235000", "longitude": "121.480000"},
        format="json",
    )
    assert address.status_code == 201, address.json()

    cart = client.post(
        "/api/v1/carts/", {"store": store.code, "channel": "app"}, format="json"
    ).json()
    lines_url = f"/api/v1/carts/{cart['uuid']}/lines/"
    added = client.post(
        lines_url, {"sku": apples.product.sku, "quantity": "3"}, format="json"
    )
    assert added.status_code == 201, added.json()
    added = client.post(
        lines_url,
        {"sku": salmon.product.sku, "quantity": "0.500", "substitution": "none"},
        format="json",
    )
    assert added.status_code == 201, added.json()

    response = post(
        client,
        f"/api/v1/carts/{cart['uuid']}/checkout/",
        {
            "fulfilment_mode": "delivery",
            "address_id": address.json()["id"],
            "payment_method": "wallet",
        },
    )
    assert response.status_code == 201, response.json()
    order = response.json()["order"]
    assert order["state"] == "paid"
    assert order["channel"] == "app"
    assert order["total"] == "122.40"  # 3 x 12.80 + 0.5 kg x 168.00
    assert [line["line_total"] for line in order["lines"]] == ["38.40", "84.00"]
    # Tax included in the price: 9% on apples, 13% on salmon.
    assert [line["tax_amount"] for line in order["lines"]] == ["3.17", "9.66"]
    assert order["number"].startswith(f"{store.code}-")
    assert [event["to_state"] for event in order["timeline"]] == ["created", "paid"]
    assert response.json()["payment"]["state"] == "succeeded"

    assert client.get("/api/v1/wallet/").json()["balance"] == "377.60"
    apples.refresh_from_db()
    salmon.refresh_from_db()
    assert (apples.on_hand, apples.reserved) == (D("20"), D("3"))
    assert salmon.reserved == D("0.500")
    assert_ledger_matches(apples)

    history = client.get("/api/v1/orders/").json()
    assert [o["number"] for o in history["results"]] == [order["number"]]
    detail = client.get(f"/api/v1/orders/{order['id']}/")
    assert detail.status_code == 200
    assert detail.json()["lines"][1]["substitution"] == "none"


def test_in_store_journey_scan_pay_and_carry_out(store, stocked):
    apples, _ = stocked
    client = sign_up(APIClient(), email="Shopper@Example.com")
    top_up(client, "100.00")
    cart = client.post(
        "/api/v1/carts/",
        {"store": f"https://hema.test/s/{store.code}", "channel": "in_store"},
        format="json",
    )
    assert cart.status_code == 201, cart.json()
    cart = cart.json()
    lines_url = f"/api/v1/carts/{cart['uuid']}/lines/"
    scanned = client.post(
        lines_url,
        {
            "code": f"https://hema.test/q/{store.code}/{apples.product.sku}",
            "quantity": "2",
        },
        format="json",
    )
    assert scanned.status_code == 201, scanned.json()
    assert scanned.json()["held_price"] == "12.80"
    assert scanned.json()["price_hold_active"] is True

    response = post(
        client,
        f"/api/v1/carts/{cart['uuid']}/pay/",
        {"fulfilment_mode": "carry_out", "payment_method": "wallet"},
    )
    assert response.status_code == 201, response.json()
    order = response.json()["order"]
    assert (order["state"], order["channel"], order["total"]) == (
        "completed",
        "in_store",
        "25.60",
    )
    assert response.json()["repriced"] == []
    apples.refresh_from_db()
    assert (apples.on_hand, apples.reserved) == (D("18"), D("0"))
    sale = StockMovement.objects.get(
        store_product=apples, kind=MovementKind.SALE_IN_STORE
    )
    assert (sale.on_hand_delta, sale.unit_price, sale.reference) == (
        D("-2"),
        D("12.80"),
        order["number"],
    )
    assert Wallet.objects.get().balance == D("74.40")
    assert Order.objects.get().refund_status == "none"
