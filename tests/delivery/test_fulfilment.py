"""Fulfilments: opened in the payment's transaction for every order that leaves
through the store, closed by a cancel before picking, backfilled for orders
paid before they existed."""

import datetime as dt
import importlib
from decimal import Decimal

import pytest
from django.apps import apps

from delivery.models import Fulfilment, FulfilmentLine, PickTask
from orders.models import Order
from tests.delivery.conftest import claim, confirm, delivery_snapshot, shelf_code
from tests.orders.conftest import post as shopper_post
from tests.orders.conftest import provider_pays

pytestmark = pytest.mark.django_db
D = Decimal


def test_a_paid_app_delivery_opens_a_fulfilment_split_by_zone(floor, shopper):
    # Given a shopper who orders apples (produce) and salmon (seafood) for delivery
    address = shopper.add_address()
    order = shopper.order(
        floor.store,
        [(floor.apples, "3"), (floor.salmon, "0.500")],
        mode="delivery",
        address_id=address,
    )

    # Then the store's work is open, due at the promise, one task per zone
    fulfilment = Fulfilment.objects.get(order=order)
    assert (fulfilment.state, fulfilment.mode, fulfilment.skips_picking) == (
        "open",
        "delivery",
        False,
    )
    assert fulfilment.deadline == order.promised_by
    assert fulfilment.paid_at == order.paid_at
    assert fulfilment.reference == order.number
    lines = {
        line.store_product_id: line
        for line in FulfilmentLine.objects.filter(fulfilment=fulfilment)
    }
    assert {sp: (line.quantity, line.state) for sp, line in lines.items()} == {
        floor.apples.pk: (D("3.000"), "open"),
        floor.salmon.pk: (D("0.500"), "open"),
    }
    for order_line in order.lines.all():
        assert lines[order_line.store_product_id].reservation_id == (
            order_line.reservation_id
        )
    tasks = PickTask.objects.filter(fulfilment=fulfilment).order_by("zone__code")
    assert [(t.zone.code, t.state, t.deadline) for t in tasks] == [
        ("PRODUCE", "open", order.promised_by),
        ("SEAFOOD", "open", order.promised_by),
    ]


def test_a_pickup_order_is_due_within_the_store_promise_from_payment(floor, shopper):
    order = shopper.order(floor.store, [(floor.apples, "1")], mode="pickup")

    fulfilment = Fulfilment.objects.get(order=order)
    assert fulfilment.mode == "pickup"
    assert fulfilment.deadline == order.paid_at + dt.timedelta(minutes=30)


def test_an_in_store_purchase_sent_home_skips_picking(floor, shopper):
    address = shopper.add_address()
    cart = shopper.cart_with(floor.store, [(floor.apples, "2")], channel="in_store")
    response = shopper_post(
        shopper.client,
        f"/api/v1/carts/{cart}/pay/",
        {
            "fulfilment_mode": "delivery",
            "payment_method": "wallet",
            "address_id": address,
        },
    )
    assert response.status_code == 201, response.json()

    fulfilment = Fulfilment.objects.get(order__uuid=response.json()["order"]["id"])
    assert (fulfilment.skips_picking, fulfilment.state) == (True, "open")
    assert not PickTask.objects.filter(fulfilment=fulfilment).exists()
    assert list(fulfilment.lines.values_list("state", "quantity_picked")) == [
        ("picked", D("2.000"))
    ]


def test_a_purchase_carried_out_opens_nothing(floor, shopper):
    cart = shopper.cart_with(floor.store, [(floor.apples, "2")], channel="in_store")

    response = shopper.pay_in_store(cart, mode="carry_out")

    assert response.status_code == 201, response.json()
    assert not Fulfilment.objects.exists()


def test_an_order_paid_by_a_provider_opens_its_fulfilment_when_the_money_arrives(
    floor, shopper
):
    cart = shopper.cart_with(floor.store, [(floor.apples, "2")])
    response = shopper.checkout(cart, mode="pickup", method="sandbox")
    assert response.status_code == 201, response.json()
    order = Order.objects.get(uuid=response.json()["order"]["id"])
    assert not Fulfilment.objects.filter(order=order).exists()

    provider_pays(response.json()["payment"]["provider_reference"])

    assert Fulfilment.objects.get(order=order).state == "open"
    assert PickTask.objects.filter(fulfilment__order=order).count() == 1


def test_cancelling_before_picking_closes_the_fulfilment(floor, shopper, picker):
    # Given a paid order whose produce task a picker already claimed
    order = shopper.order(floor.store, [(floor.apples, "2")])
    assert claim(picker, floor.store, "PRODUCE").status_code == 200

    # When the shopper cancels it
    response = shopper_post(
        shopper.client, f"/api/v1/orders/{order.uuid}/cancel/", {"reason": "oops"}
    )

    # Then the order is cancelled and refunded, and the store's work stops
    assert response.status_code == 200, response.json()
    fulfilment = Fulfilment.objects.get(order=order)
    assert fulfilment.state == "cancelled"
    assert fulfilment.closed_at is not None
    assert list(fulfilment.tasks.values_list("state", flat=True)) == ["cancelled"]
    assert list(fulfilment.lines.values_list("state", flat=True)) == ["cancelled"]
    # and the picker has nothing left to claim
    again = claim(picker, floor.store, "PRODUCE")
    assert again.status_code == 204, again.json()


def test_cancelling_once_a_line_is_picked_is_refused_and_changes_nothing(
    floor, shopper, picker
):
    order = shopper.order(floor.store, [(floor.apples, "2"), (floor.pears, "1")])
    task = claim(picker, floor.store, "PRODUCE").json()
    line = next(x for x in task["lines"] if x["sku"] == floor.apples.product.sku)
    assert (
        confirm(
            picker, floor.store, task, line, code=shelf_code(floor.apples)
        ).status_code
        == 200
    )
    before = delivery_snapshot()

    response = shopper_post(
        shopper.client, f"/api/v1/orders/{order.uuid}/cancel/", {"reason": "late"}
    )

    assert response.status_code == 409, response.json()
    assert response.json()["extra"]["state"] == "picking"
    assert delivery_snapshot() == before


def test_the_migration_backfills_orders_paid_before_fulfilments(floor, shopper):
    # Given a paid order whose fulfilment does not exist (paid before this release)
    order = shopper.order(
        floor.store, [(floor.apples, "2"), (floor.salmon, "0.400")], mode="pickup"
    )
    FulfilmentLine.objects.all().delete()
    PickTask.objects.all().delete()
    Fulfilment.objects.all().delete()

    # When the data migration runs (twice: the second adds nothing)
    migration = importlib.import_module("delivery.migrations.0002_backfill_fulfilments")
    migration.backfill(apps, None)
    migration.backfill(apps, None)

    # Then it has its fulfilment, its lines and one task per zone
    fulfilment = Fulfilment.objects.get(order=order)
    assert (fulfilment.state, fulfilment.reference) == ("open", order.number)
    assert fulfilment.deadline == order.paid_at + dt.timedelta(minutes=30)
    assert sorted(fulfilment.lines.values_list("quantity", "state")) == [
        (D("0.400"), "open"),
        (D("2.000"), "open"),
    ]
    assert sorted(fulfilment.tasks.values_list("zone__code", flat=True)) == [
        "PRODUCE",
        "SEAFOOD",
    ]
    assert Fulfilment.objects.count() == 1
