"""Bags, the rail controller's events, packing and the counter, and the whole
path from payment to packed and to collected through the HTTP API."""

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.core import signing
from django.utils import timezone

from delivery.models import Bag, Fulfilment, PickTask
from delivery.picking import BAG_SALT, bag_token
from delivery.rail import controller_create
from orders.models import Order
from tests.delivery.conftest import (
    bag_it,
    claim,
    confirm,
    delivery_snapshot,
    post,
    rail_event,
    shelf_code,
    staff_client,
)
from tests.factories import StoreFactory
from tests.orders.conftest import post as shopper_post

pytestmark = pytest.mark.django_db
D = Decimal


def pick_zone(picker, floor, zone: str) -> dict:
    """Claim the zone's next task and confirm every line (weighed: as ordered)."""
    task = claim(picker, floor.store, zone).json()
    for line in task["lines"]:
        store_product = next(
            sp
            for sp in (floor.apples, floor.pears, floor.salmon)
            if sp.product.sku == line["sku"]
        )
        body = {"code": shelf_code(store_product)}
        if line["sale_unit"] == "kg":
            body["weight_kg"] = line["quantity"]
        response = confirm(picker, floor.store, task, line, **body)
        assert response.status_code == 200, response.json()
    return task


def pack(packer, store, order: Order):
    return post(packer, f"/api/v1/stores/{store.code}/fulfilments/{order.number}/pack")


def collect(packer, store, order: Order, code: str):
    return post(
        packer,
        f"/api/v1/stores/{store.code}/fulfilments/{order.number}/collect",
        {"code": code},
    )


# --- Bags -----------------------------------------------------------------------------


def test_a_task_with_lines_still_to_pick_cannot_be_bagged(floor, shopper, picker):
    shopper.order(floor.store, [(floor.apples, "1"), (floor.pears, "1")])
    task = claim(picker, floor.store, "PRODUCE").json()
    before = delivery_snapshot()

    response = bag_it(picker, floor.store, task, floor.bags[0])

    assert response.status_code == 409
    assert response.json()["error"] == "task_not_picked"
    assert len(response.json()["extra"]["open_lines"]) == 2
    assert delivery_snapshot() == before


@pytest.mark.parametrize("bag", ["forged", "other_store", "bound", "made_up"])
def test_a_bag_not_ours_or_already_bound_is_refused(floor, make_shopper, picker, bag):
    make_shopper().order(floor.store, [(floor.apples, "1")])
    make_shopper().order(floor.store, [(floor.pears, "1")])
    first = pick_zone(picker, floor, "PRODUCE")
    assert bag_it(picker, floor.store, first, floor.bags[0]).status_code == 200
    second = pick_zone(picker, floor, "PRODUCE")
    token = {
        "forged": bag_token(floor.bags[1])[:-3] + "abc",
        "other_store": bag_token(
            Bag.objects.create(store=StoreFactory(code="SH02"), code="SH02-BAG-1")
        ),
        "bound": bag_token(floor.bags[0]),
        "made_up": signing.dumps({"s": floor.store.code, "b": "NOPE"}, salt="other"),
    }[bag]
    before = delivery_snapshot()

    response = post(
        picker,
        f"/api/v1/stores/{floor.store.code}/pick-tasks/{second['id']}/bag",
        {"bag": token},
    )

    assert response.status_code == 422, response.json()
    assert response.json()["error"] == "bag_refused"
    assert response.json()["extra"]["field"] == "bag"
    assert delivery_snapshot() == before
    assert signing.loads(bag_token(floor.bags[1]), salt=BAG_SALT)["b"] == "BAG-001"


# --- The rail -------------------------------------------------------------------------


def bagged_task(floor, shopper, picker, zone="SEAFOOD", bag=0) -> dict:
    products = {"SEAFOOD": (floor.salmon, "0.500"), "PRODUCE": (floor.apples, "1")}
    shopper.order(floor.store, [products[zone]])
    task = pick_zone(picker, floor, zone)
    response = bag_it(picker, floor.store, task, floor.bags[bag])
    assert response.status_code == 200, response.json()
    assert response.json()["state"] == "bagged"
    return response.json()


def test_a_bag_is_followed_along_the_rail_to_packing(floor, shopper, picker, packer):
    bagged_task(floor, shopper, picker)
    hung_at = timezone.now().replace(microsecond=0)

    hung = rail_event(floor, "hung", "BAG-000", "H-SEAFOOD", at=hung_at.isoformat())
    # seafood -> produce (30 s) -> packing (40 s)
    assert hung.status_code == 200, hung.json()
    assert hung.json()["location"] == "H-SEAFOOD"
    expected = hung_at + dt.timedelta(seconds=70)
    assert PickTask.objects.get().expected_at == expected
    assert Fulfilment.objects.get().last_hung_at == hung_at

    passed_at = hung_at + dt.timedelta(seconds=45)
    passed = rail_event(
        floor, "passed", "BAG-000", "H-PRODUCE", at=passed_at.isoformat()
    )
    assert passed.status_code == 200
    task = PickTask.objects.get()
    assert (task.location.code, task.expected_at) == (
        "H-PRODUCE",
        passed_at + dt.timedelta(seconds=40),
    )

    shown = packer.get(f"/api/v1/stores/{floor.store.code}/rail/bags")
    assert shown.status_code == 200
    assert [(b["bag"], b["location"], b["late"]) for b in shown.json()] == [
        ("BAG-000", "H-PRODUCE", False)
    ]

    arrived = rail_event(floor, "arrived", "BAG-000", "PACK1")
    assert arrived.status_code == 200
    assert PickTask.objects.get().arrived_at is not None


def test_a_bag_past_its_expected_arrival_is_flagged_late(
    floor, shopper, picker, packer
):
    bagged_task(floor, shopper, picker, zone="PRODUCE")
    five_minutes_ago = timezone.now() - dt.timedelta(minutes=5)
    rail_event(floor, "hung", "BAG-000", "H-PRODUCE", at=five_minutes_ago.isoformat())

    shown = packer.get(f"/api/v1/stores/{floor.store.code}/rail/bags").json()

    assert [(b["bag"], b["late"]) for b in shown] == [("BAG-000", True)]


@pytest.mark.parametrize(
    "case", ["unknown_bag", "other_controller", "forged", "old", "replayed"]
)
def test_a_forged_unknown_or_replayed_rail_event_is_refused(
    floor, shopper, picker, case
):
    bagged_task(floor, shopper, picker)
    rail_event(floor, "hung", "BAG-000", "H-SEAFOOD", event_id="evt-1")
    other_store = StoreFactory(code="SH02")
    other, other_secret = controller_create(store=other_store)
    Bag.objects.create(store=other_store, code="SH02-BAG-000")
    before = delivery_snapshot()

    if case == "unknown_bag":
        response = rail_event(floor, "passed", "BAG-999", "H-PRODUCE")
        expected = (400, "bag")
    elif case == "other_controller":
        response = rail_event(
            floor,
            "passed",
            "BAG-000",
            "H-PRODUCE",
            device=other.device_id,
            secret=other_secret,
        )
        expected = (400, "bag")
    elif case == "forged":
        response = rail_event(floor, "passed", "BAG-000", "H-PRODUCE", secret="guess")
        expected = (401, "Rail-Signature")
    elif case == "old":
        response = rail_event(
            floor, "passed", "BAG-000", "H-PRODUCE", timestamp=1_700_000_000
        )
        expected = (409, "Rail-Signature")
    else:
        response = rail_event(floor, "hung", "BAG-000", "H-SEAFOOD", event_id="evt-1")
        expected = (409, "id")

    assert (response.status_code, response.json()["extra"]["field"]) == expected
    assert delivery_snapshot() == before


# --- Packing --------------------------------------------------------------------------


def test_packing_an_order_with_a_bag_missing_is_refused_naming_it(
    floor, shopper, picker, packer
):
    # Given an order in two zones: seafood's bag arrived, produce's is still hung
    order = shopper.order(floor.store, [(floor.apples, "1"), (floor.salmon, "0.500")])
    for zone, bag in (("SEAFOOD", 0), ("PRODUCE", 1)):
        task = pick_zone(picker, floor, zone)
        assert bag_it(picker, floor.store, task, floor.bags[bag]).status_code == 200
    rail_event(floor, "hung", "BAG-000", "H-SEAFOOD")
    rail_event(floor, "hung", "BAG-001", "H-PRODUCE")
    rail_event(floor, "arrived", "BAG-000", "PACK1")
    assert packer.get(f"/api/v1/stores/{floor.store.code}/packing").json() == []
    before = delivery_snapshot()

    response = pack(packer, floor.store, order)

    assert response.status_code == 409
    assert response.json()["error"] == "bags_missing"
    assert [(m["zone"], m["bag"]) for m in response.json()["extra"]["missing"]] == [
        ("PRODUCE", "BAG-001")
    ]
    assert delivery_snapshot() == before


def test_from_payment_to_packed_through_the_api(floor, shopper, picker, packer):
    # Given a paid delivery order of apples and salmon
    address = shopper.add_address()
    order = shopper.order(
        floor.store,
        [(floor.apples, "2"), (floor.salmon, "0.500")],
        mode="delivery",
        address_id=address,
    )
    seafood_picker = staff_client(floor.store, "picker")

    # When each zone is picked, bagged and hung, and the bags arrive
    produce = pick_zone(picker, floor, "PRODUCE")
    seafood = pick_zone(seafood_picker, floor, "SEAFOOD")
    assert bag_it(picker, floor.store, produce, floor.bags[0]).status_code == 200
    assert (
        bag_it(seafood_picker, floor.store, seafood, floor.bags[1]).status_code == 200
    )
    for bag, station in (("BAG-000", "H-PRODUCE"), ("BAG-001", "H-SEAFOOD")):
        assert rail_event(floor, "hung", bag, station).status_code == 200
    assert rail_event(floor, "passed", "BAG-001", "H-PRODUCE").status_code == 200
    for bag in ("BAG-000", "BAG-001"):
        assert rail_event(floor, "arrived", bag, "PACK1").status_code == 200

    # Then the packer sees it ready and packs it
    ready = packer.get(f"/api/v1/stores/{floor.store.code}/packing").json()
    assert [f["order"] for f in ready] == [order.number]
    response = pack(packer, floor.store, order)
    assert response.status_code == 200, response.json()
    assert response.json()["state"] == "packed"
    order.refresh_from_db()
    assert order.state == "packed"
    assert [e.to_state for e in order.events.order_by("pk")][-2:] == [
        "picking",
        "packed",
    ]
    fulfilment = Fulfilment.objects.get(order=order)
    assert fulfilment.paid_at <= fulfilment.first_pick_at <= fulfilment.last_hung_at
    assert fulfilment.last_hung_at <= fulfilment.packed_at
    # and the bags are free for the next order
    assert not Bag.objects.filter(task__isnull=False).exists()


def test_from_payment_to_collected_through_the_api(floor, shopper, picker, packer):
    # Given a paid pickup order, picked, bagged, railed and packed
    order = shopper.order(floor.store, [(floor.apples, "2")], mode="pickup")
    task = pick_zone(picker, floor, "PRODUCE")
    bag_it(picker, floor.store, task, floor.bags[0])
    rail_event(floor, "hung", "BAG-000", "H-PRODUCE")
    rail_event(floor, "arrived", "BAG-000", "PACK1")
    assert pack(packer, floor.store, order).json()["state"] == "ready"

    # The shopper sees the collection code in their order's timeline
    detail = shopper.client.get(f"/api/v1/orders/{order.uuid}/").json()
    assert detail["state"] == "ready"
    note = next(e["note"] for e in detail["timeline"] if e["to_state"] == "ready")
    code = re.search(r"collection code (\d{6})", note)[1]

    # A wrong code is refused, nothing changed
    before = delivery_snapshot()
    wrong = collect(packer, floor.store, order, "000000" if code != "000000" else "1")
    assert wrong.status_code == 422
    assert wrong.json()["error"] == "wrong_collection_code"
    assert wrong.json()["extra"]["field"] == "code"
    assert delivery_snapshot() == before

    # The right one hands it over
    right = collect(packer, floor.store, order, code)
    assert right.status_code == 200, right.json()
    order.refresh_from_db()
    assert order.state == "collected"
    assert [e.to_state for e in order.events.order_by("pk")][-4:] == [
        "picking",
        "packed",
        "ready",
        "collected",
    ]


def test_the_counter_packs_an_in_store_purchase_sent_home(floor, shopper, packer):
    address = shopper.add_address()
    cart = shopper.cart_with(floor.store, [(floor.apples, "2")], channel="in_store")
    paid = shopper_post(
        shopper.client,
        f"/api/v1/carts/{cart}/pay/",
        {
            "fulfilment_mode": "delivery",
            "payment_method": "wallet",
            "address_id": address,
        },
    )
    order = Order.objects.get(uuid=paid.json()["order"]["id"])

    ready = packer.get(f"/api/v1/stores/{floor.store.code}/packing").json()
    response = pack(packer, floor.store, order)

    assert [f["order"] for f in ready] == [order.number]
    assert response.status_code == 200, response.json()
    order.refresh_from_db()
    assert order.state == "packed"
    assert [e.to_state for e in order.events.order_by("pk")] == [
        "created",
        "paid",
        "packed",
    ]


def test_a_picker_cannot_pack_and_a_packer_of_another_store_sees_nothing(
    floor, shopper, picker
):
    order = shopper.order(floor.store, [(floor.apples, "1")], mode="pickup")
    other = staff_client(StoreFactory(code="SH02"), "packer")
    before = delivery_snapshot()

    answers = [
        pack(picker, floor.store, order),
        other.get(f"/api/v1/stores/{floor.store.code}/packing"),
        other.get(f"/api/v1/stores/{floor.store.code}/rail/bags"),
        collect(other, floor.store, order, "123456"),
    ]

    assert [a.status_code for a in answers] == [403] * 4
    assert all(order.number not in str(a.json()) for a in answers)
    assert delivery_snapshot() == before
