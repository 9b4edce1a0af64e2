"""Defects found in review: each test failed before its fix.

Oversized cart lines, cancelling goods already handed over, a shortage after a
goodwill refund, malformed provider events, products withdrawn before checkout,
and the query counts of the busiest read endpoints.
"""

import json
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from inventory.models import StoreProduct
from orders.models import CartLine, Order, Refund, WebhookEvent
from tests.conftest import assert_ledger_matches
from tests.orders.conftest import post, send_raw_webhook, signature, snapshot

pytestmark = pytest.mark.django_db
D = Decimal


# --- A cart line too large for any order -------------------------------------------


@pytest.mark.parametrize("channel", ["in_store", "app"])
def test_a_line_larger_than_any_order_may_hold_is_refused_not_a_server_error(
    store, stocked, shopper, channel
):
    # Given a cart with 9,999 apples (the most one line may hold)
    apples, _ = stocked
    StoreProduct.objects.filter(pk=apples.pk).update(on_hand=D("100000"))
    cart_uuid = shopper.cart_with(store, [(apples, "9999")], channel=channel)
    before = snapshot()

    # When the shopper adds one more, or a billion at once
    for quantity in ("1", "999999999"):
        response = shopper.add(cart_uuid, apples, quantity)

        # Then 400 names the field and the limit, and nothing changed
        assert (response.status_code, response.json()) == (
            400,
            {
                "error": "invalid_quantity",
                "message": "A line holds at most 9999.000.",
                "extra": {
                    "field": "quantity",
                    "value": str(D("9999") + D(quantity)) + ".000",
                    "max": "9999.000",
                },
            },
        ), quantity
        assert snapshot() == before


def test_changing_a_line_beyond_the_limit_is_refused(store, stocked, shopper):
    apples, _ = stocked
    cart_uuid = shopper.cart_with(store, [(apples, "2")], channel="in_store")
    line_id = CartLine.objects.get().pk
    before = snapshot()

    response = shopper.client.patch(
        f"/api/v1/carts/{cart_uuid}/lines/{line_id}/",
        {"quantity": "999999999"},
        format="json",
    )

    assert (response.status_code, response.json()["extra"]) == (
        400,
        {"field": "quantity", "value": "999999999.000", "max": "9999.000"},
    )
    assert snapshot() == before


# --- Goods handed over in store are not cancelled -----------------------------------


def test_a_paid_in_store_purchase_cannot_be_cancelled_for_a_full_refund(
    store, stocked, shopper
):
    # Given apples bought and paid at the till, to be delivered home
    apples, _ = stocked
    address = shopper.add_address()
    cart_uuid = shopper.cart_with(store, [(apples, "2")], channel="in_store")
    paid = post(
        shopper.client,
        f"/api/v1/carts/{cart_uuid}/pay/",
        {"fulfilment_mode": "delivery", "address_id": address},
    )
    assert paid.status_code == 201, paid.json()
    order = Order.objects.get(uuid=paid.json()["order"]["id"])
    before = snapshot()

    # When the shopper cancels it
    response = post(shopper.client, f"/api/v1/orders/{order.uuid}/cancel/", {})

    # Then it is refused: the goods left the shelf in their hand, and the wallet,
    # the order and the stock count are as they were
    assert (response.status_code, response.json()) == (
        409,
        {
            "error": "invalid_transition",
            "message": f"Order {order.number} is paid; it cannot become cancelled.",
            "extra": {"state": "paid", "requested": "cancelled"},
        },
    )
    assert snapshot() == before
    assert shopper.balance == D("174.40")


def test_an_in_store_purchase_awaiting_a_provider_payment_may_still_be_cancelled(
    store, stocked, shopper
):
    apples, _ = stocked
    cart_uuid = shopper.cart_with(store, [(apples, "2")], channel="in_store")
    pending = post(
        shopper.client,
        f"/api/v1/carts/{cart_uuid}/pay/",
        {"fulfilment_mode": "carry_out", "payment_method": "sandbox"},
    )
    assert pending.status_code == 201, pending.json()

    response = post(
        shopper.client,
        f"/api/v1/orders/{pending.json()['order']['id']}/cancel/",
        {},
    )

    assert (response.status_code, response.json()["state"]) == (200, "cancelled")


# --- A shortage after a goodwill refund -------------------------------------------


def test_a_shortage_after_a_goodwill_refund_refunds_only_what_is_left(
    store, stocked, shopper, make_shopper, manager, django_capture_on_commit_callbacks
):
    # Given a paid app order of 3 apples (38.40), 30.00 of it refunded as goodwill
    apples, _ = stocked
    order = shopper.order(store, [(apples, "3")], substitution="none")
    with django_capture_on_commit_callbacks(execute=True):
        goodwill = post(
            manager,
            f"/api/v1/orders/{order.uuid}/refunds/",
            {"amount": "30.00", "reason": "late"},
        )
    assert goodwill.status_code == 201, goodwill.json()

    # When a shopper at the till pays for every apple on the shelf (20), which
    # shorts the app order's reservation
    till = make_shopper(balance="300.00")
    cart_uuid = till.cart_with(store, [(apples, "20")], channel="in_store")
    with django_capture_on_commit_callbacks(execute=True):
        sale = till.pay_in_store(cart_uuid)

    # Then the till sale goes through (goods in hand are never refused)
    assert sale.status_code == 201, sale.json()
    # And the short line refunds only the 8.40 left, never more than was paid
    order.refresh_from_db()
    assert order.lines.get().state == "short"
    assert (order.refunded_total, order.total, order.refund_status) == (
        D("38.40"),
        D("38.40"),
        "refunded",
    )
    assert list(Refund.objects.order_by("pk").values_list("amount", "state")) == [
        (D("30.00"), "succeeded"),
        (D("8.40"), "succeeded"),
    ]
    assert shopper.balance == D("200.00")
    assert_ledger_matches(apples)


def test_a_shortage_of_a_fully_refunded_order_refunds_nothing_more(
    store, stocked, shopper, make_shopper, manager, django_capture_on_commit_callbacks
):
    apples, _ = stocked
    order = shopper.order(store, [(apples, "3")], substitution="none")
    with django_capture_on_commit_callbacks(execute=True):
        post(
            manager,
            f"/api/v1/orders/{order.uuid}/refunds/",
            {"amount": "38.40", "reason": "late"},
        )

    till = make_shopper(balance="300.00")
    cart_uuid = till.cart_with(store, [(apples, "20")], channel="in_store")
    with django_capture_on_commit_callbacks(execute=True):
        sale = till.pay_in_store(cart_uuid)

    assert sale.status_code == 201, sale.json()
    order.refresh_from_db()
    assert order.lines.get().state == "short"
    assert (order.refunded_total, order.refund_status) == (D("38.40"), "refunded")
    assert Refund.objects.count() == 1
    assert shopper.balance == D("200.00")


# --- Provider events with fields our columns cannot hold -----------------------------


@pytest.mark.parametrize(
    "event",
    [
        {"id": "e" * 129, "type": "payment.succeeded", "data": {"reference": "x"}},
        {"id": "evt_1", "type": "t" * 65, "data": {}},
        {"id": "evt_\x00", "type": "payment.succeeded", "data": {"reference": "x"}},
        {"id": "evt_2", "type": "payment.succeeded", "data": {"reference": "a\x00"}},
        {"id": "evt_3", "type": "other", "data": {"nested": ["\x00"]}},
        {"id": ["evt_4"], "type": "payment.succeeded", "data": {}},
        {"id": "evt_5", "type": {"a": 1}, "data": {}},
    ],
    ids=[
        "long-id",
        "long-type",
        "nul-id",
        "nul-reference",
        "nul-nested",
        "id-list",
        "type-dict",
    ],
)
def test_a_signed_event_our_columns_cannot_hold_is_rejected_not_a_server_error(
    event,
):
    body = json.dumps(event).encode()
    client = APIClient(raise_request_exception=False)

    response = client.post(
        "/api/v1/payments/webhooks/sandbox/",
        body,
        content_type="application/json",
        HTTP_HEMA_SIGNATURE=signature(body),
    )

    assert response.status_code == 400, response.content
    assert response.json()["error"] == "webhook_rejected"
    assert response.json()["extra"] == {"field": "body"}
    assert not WebhookEvent.objects.exists()


def test_a_numeric_event_id_is_still_accepted():
    body = json.dumps({"id": 42, "type": "other", "data": {}}).encode()

    response = send_raw_webhook(body, signature(body))

    assert (response.status_code, response.json()) == (200, {"result": "ignored"})
    assert WebhookEvent.objects.get().event_id == "42"


# --- A product withdrawn after it was put in the cart -----------------------------


def test_checkout_of_a_product_no_longer_sold_is_refused_and_changes_nothing(
    store, stocked, shopper
):
    # Given an app cart of apples and salmon
    apples, salmon = stocked
    cart_uuid = shopper.cart_with(store, [(apples, "2"), (salmon, "0.500")])
    # And the store withdraws the apples (a recall) before checkout
    StoreProduct.objects.filter(pk=apples.pk).update(is_active=False)
    before = snapshot()

    response = shopper.checkout(cart_uuid)

    assert (response.status_code, response.json()) == (
        409,
        {
            "error": "product_unavailable",
            "message": f"No longer sold: {apples.product.sku}. Remove it from the "
            "cart to check out.",
            "extra": {"field": "cart", "skus": [apples.product.sku]},
        },
    )
    assert snapshot() == before


# --- Query counts of the busiest reads ------------------------------------------------


def test_the_order_list_takes_the_same_queries_for_one_order_or_many(
    store, stocked, shopper, django_assert_max_num_queries
):
    apples, salmon = stocked
    for _ in range(5):
        shopper.order(store, [(apples, "1"), (salmon, "0.100")])

    # token, count, page
    with django_assert_max_num_queries(3):
        response = shopper.client.get("/api/v1/orders/")

    assert response.status_code == 200
    assert response.json()["count"] == 5


def test_the_order_detail_takes_a_fixed_number_of_queries(
    store, stocked, shopper, manager, django_assert_max_num_queries
):
    apples, salmon = stocked
    order = shopper.order(store, [(apples, "2"), (salmon, "0.500")])
    post(
        manager,
        f"/api/v1/orders/{order.uuid}/refunds/",
        {"amount": "1.00", "reason": "bruised"},
    )
    post(
        manager,
        f"/api/v1/orders/{order.uuid}/refunds/",
        {"amount": "2.00", "reason": "late"},
    )

    # token, order with its store, lines, events, refunds
    with django_assert_max_num_queries(5):
        response = shopper.client.get(f"/api/v1/orders/{order.uuid}/")

    assert response.status_code == 200
    assert (len(response.json()["lines"]), len(response.json()["refunds"])) == (2, 2)


def test_the_cart_detail_takes_a_fixed_number_of_queries(
    store, stocked, make_store_product, shopper, django_assert_max_num_queries
):
    apples, salmon = stocked
    extra = [make_store_product(list_price=D("3.00")) for _ in range(4)]
    for store_product in extra:
        StoreProduct.objects.filter(pk=store_product.pk).update(on_hand=D("10"))
    cart_uuid = shopper.cart_with(
        store, [(apples, "1"), (salmon, "0.200"), *((sp, "1") for sp in extra)]
    )

    # token, member, cart, cart again with its store, lines with their products
    with django_assert_max_num_queries(5):
        response = shopper.client.get(f"/api/v1/carts/{cart_uuid}/")

    assert response.status_code == 200
    assert len(response.json()["lines"]) == 6


# --- Reasons as long as the API accepts ---------------------------------------------


def test_a_refund_with_the_longest_reason_allowed_is_recorded_not_a_server_error(
    store, stocked, shopper, manager, django_capture_on_commit_callbacks
):
    apples, _ = stocked
    order = shopper.order(store, [(apples, "3")])
    reason = "r" * 255  # the most OrderRefundInput and the admin form accept
    manager.raise_request_exception = False

    with django_capture_on_commit_callbacks(execute=True):
        response = post(
            manager,
            f"/api/v1/orders/{order.uuid}/refunds/",
            {"amount": "1.00", "reason": reason},
        )

    assert response.status_code == 201, response.content
    assert Refund.objects.get().reason == reason
    note = order.events.order_by("pk").last().note
    assert len(note) == 255
    assert note.startswith("refund 1.00: rrr")


def test_a_cancel_with_the_longest_reason_allowed_refunds_not_a_server_error(
    store, stocked, shopper, django_capture_on_commit_callbacks
):
    apples, _ = stocked
    order = shopper.order(store, [(apples, "3")])
    shopper.client.raise_request_exception = False

    with django_capture_on_commit_callbacks(execute=True):
        response = post(
            shopper.client,
            f"/api/v1/orders/{order.uuid}/cancel/",
            {"reason": "x" * 255},
        )

    assert response.status_code == 200, response.content
    assert (response.json()["state"], response.json()["refund_status"]) == (
        "cancelled",
        "refunded",
    )
    assert all(len(note) <= 255 for note in order.events.values_list("note", flat=True))
    assert shopper.balance == D("200.00")
