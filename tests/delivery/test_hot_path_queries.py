"""The query counts of the writes a store day repeats thousands of times,
pinned (issue 16: a Hema-scale day of 7,000 orders in ten minutes): a scan into
a cart, a till payment, an app checkout, and each step of its pick (claim,
confirm a line, bag, the rail's events, pack).

Each count is PostgreSQL's and counts every statement, savepoints included:
inside a test's transaction every service's own transaction is a savepoint
pair, as it is in the simulated day (and a BEGIN and COMMIT in production).
A count that grows is a round trip added to every order; lower the pin when a
change removes one."""

import datetime as dt
import json
import uuid
from decimal import Decimal

import pytest
from django.utils import timezone

from delivery.models import FulfilmentLine
from delivery.packing import fulfilment_pack
from delivery.picking import (
    bag_token,
    pick_line_confirm,
    pick_task_bag,
    pick_task_claim,
)
from delivery.promise import ready_estimate
from delivery.rail import rail_event_record
from delivery.riders import picker_shift_start
from delivery.travel import delivery_settings
from inventory.models import StockMovement
from orders.carts import cart_line_add, cart_open
from orders.checkout import checkout_app, checkout_in_store
from tests.conftest import assert_ledger_matches, requires_postgres
from tests.delivery.conftest import shelf_code
from tests.factories import StoreStaffFactory

pytestmark = [requires_postgres, pytest.mark.django_db]

D = Decimal


def test_a_scan_into_an_in_store_cart(floor, shopper, django_assert_num_queries):
    cart = cart_open(member=shopper.member, store=floor.store, channel="in_store")

    # A product not in the cart yet: its shelf row, the cart's lock (and touch),
    # the line looked for and inserted, in the service's savepoint.
    with django_assert_num_queries(6):
        line = cart_line_add(cart=cart, quantity="2", code=shelf_code(floor.apples))
    assert (line.quantity, line.held_price) == (D("2.000"), floor.apples.shelf_price)

    # Scanned again: the line's quantity added in the database and read back.
    with django_assert_num_queries(7):
        line = cart_line_add(cart=cart, quantity="1", code=shelf_code(floor.apples))
    assert line.quantity == D("3.000")


def test_a_three_line_till_payment(floor, shopper, django_assert_num_queries):
    cart = cart_open(member=shopper.member, store=floor.store, channel="in_store")
    for store_product, quantity in (
        (floor.apples, "2"),
        (floor.pears, "1"),
        (floor.salmon, "0.500"),
    ):
        cart_line_add(cart=cart, quantity=quantity, code=shelf_code(store_product))
    balance = shopper.balance

    with django_assert_num_queries(18):
        result = checkout_in_store(
            member=shopper.member,
            cart_uuid=cart.uuid,
            fulfilment_mode="carry_out",
            payment_method="wallet",
        )

    assert result.order.state == "completed"
    assert shopper.balance == balance - result.order.total
    sold = StockMovement.objects.filter(reference=result.order.number)
    assert sold.count() == 3
    for store_product in (floor.apples, floor.pears, floor.salmon):
        assert_ledger_matches(store_product)


def test_an_app_order_from_checkout_to_packed(
    floor, shopper, picker, packer, django_assert_num_queries
):
    cart = cart_open(member=shopper.member, store=floor.store, channel="app")
    cart_line_add(cart=cart, quantity="2", sku=floor.apples.product.sku)
    cart_line_add(cart=cart, quantity="1", sku=floor.pears.product.sku)

    # Checkout of two lines, paid from the wallet, picked up in store.
    with django_assert_num_queries(23):
        order = checkout_app(
            member=shopper.member,
            cart_uuid=cart.uuid,
            fulfilment_mode="pickup",
            payment_method="wallet",
        ).order
    assert order.state == "paid"

    with django_assert_num_queries(5):
        task = pick_task_claim(
            store=floor.store, zone=floor.produce, picker=picker.user
        )
    first, second = FulfilmentLine.objects.filter(task=task).order_by("pk")

    # The first confirmed line also starts the order's picking.
    for line, queries in ((first, 23), (second, 21)):
        with django_assert_num_queries(queries):
            picked = pick_line_confirm(
                task=task,
                line_id=line.pk,
                code=shelf_code(line.store_product),
                picker=picker.user,
            )
        assert picked.state == "picked"

    bag = floor.bags[0]
    with django_assert_num_queries(8):
        task = pick_task_bag(task=task, bag_code=bag_token(bag), picker=picker.user)
    assert (task.state, task.location.code) == ("bagged", "H-PRODUCE")

    def rail(kind: str, station: str):
        body = {"id": uuid.uuid4().hex, "type": kind, "bag": bag.code}
        body["station"] = station
        return rail_event_record(
            controller=floor.controller, body=json.dumps(body).encode()
        )

    with django_assert_num_queries(13):
        task = rail("hung", "H-PRODUCE")
    assert task.expected_at == task.hung_at + dt.timedelta(seconds=40)
    with django_assert_num_queries(8):
        task = rail("arrived", "PACK1")
    assert task.location.code == "PACK1"

    # Packed, then ready at the counter with a collection code.
    with django_assert_num_queries(14):
        fulfilment = fulfilment_pack(
            store=floor.store, reference=order.number, packer=packer.user
        )
    assert fulfilment.state == "ready"
    order.refresh_from_db()
    assert order.state == "ready"
    for store_product in (floor.apples, floor.pears):
        assert_ledger_matches(store_product)


def test_the_floor_estimate_of_a_quote(floor, shopper, django_assert_num_queries):
    # Given a picker on duty and one order waiting to be picked
    picker_shift_start(
        store=floor.store,
        picker=StoreStaffFactory(store=floor.store, role="picker").user,
    )
    cart = cart_open(member=shopper.member, store=floor.store, channel="app")
    cart_line_add(cart=cart, quantity="1", sku=floor.apples.product.sku)
    checkout_app(
        member=shopper.member,
        cart_uuid=cart.uuid,
        fulfilment_mode="pickup",
        payment_method="wallet",
    )
    config = delivery_settings(floor.store)
    now = timezone.now()

    # Pickers on duty, the tasks in hand and ahead (one query), the zones, and
    # the recent pick and pack timers.
    with django_assert_num_queries(5):
        ready_at, reason = ready_estimate(
            store=floor.store,
            now=now,
            config=config,
            deadline=now + dt.timedelta(minutes=30),
            line_count=1,
        )
    assert reason == ""
    assert ready_at > now
