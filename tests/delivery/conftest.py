"""Shared helpers of the delivery tests: a store floor with zones, a rail and
bags; staff signed in through the API with their roles; the signed rail
controller; and a snapshot of everything a refusal must leave as it was."""

import json
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from rest_framework.test import APIClient

from delivery.models import (
    Bag,
    Fulfilment,
    FulfilmentLine,
    PickTask,
    RailEvent,
    RailSegment,
    RailStation,
    RecountRequest,
)
from delivery.picking import bag_token
from delivery.rail import controller_create, sign
from inventory.models import SaleUnit
from inventory.services import stock_receive
from tests.factories import ProductFactory, StoreStaffFactory, UserFactory, ZoneFactory
from tests.orders.conftest import (  # noqa: F401  (fixtures used by these tests)
    PASSWORD,
    make_shopper,
    shopper,
    snapshot,
    stocked,
)

D = Decimal


@dataclass
class Floor:
    store: Any
    produce: Any
    seafood: Any
    apples: Any  # by the piece, zone PRODUCE
    pears: Any  # by the piece, zone PRODUCE (the apples' substitute)
    salmon: Any  # by weight, zone SEAFOOD
    packing: RailStation
    bags: list[Bag]
    controller: Any
    secret: str


@pytest.fixture
def floor(store, make_store_product) -> Floor:
    """Two zones, each with its hang station; one packing station; segments
    SEAFOOD -> PRODUCE (30 s) -> PACK1 (40 s); apples, pears and salmon on the
    shelves; six bags and the store's rail controller."""
    produce = ZoneFactory(store=store, code="PRODUCE", name="Produce", sort_order=1)
    seafood = ZoneFactory(store=store, code="SEAFOOD", name="Seafood", sort_order=2)
    apples = make_store_product(
        list_price=D("12.80"), zone=produce, shelf_location="A1-01"
    )
    pears = make_store_product(
        list_price=D("11.50"), zone=produce, shelf_location="A1-02"
    )
    salmon = make_store_product(
        product=ProductFactory(sale_unit=SaleUnit.KILOGRAM, tax_class="standard"),
        list_price=D("168.00"),
        zone=seafood,
        shelf_location="S2-04",
    )
    stock_receive(store_product=apples, quantity=20)
    stock_receive(store_product=pears, quantity=20)
    stock_receive(store_product=salmon, quantity="4.000")
    h_produce = RailStation.objects.create(
        store=store, code="H-PRODUCE", name="Produce", kind="hang", zone=produce
    )
    h_seafood = RailStation.objects.create(
        store=store, code="H-SEAFOOD", name="Seafood", kind="hang", zone=seafood
    )
    packing = RailStation.objects.create(
        store=store, code="PACK1", name="Packing 1", kind="packing"
    )
    RailSegment.objects.create(
        store=store, from_station=h_seafood, to_station=h_produce, travel_seconds=30
    )
    RailSegment.objects.create(
        store=store, from_station=h_produce, to_station=packing, travel_seconds=40
    )
    bags = [Bag.objects.create(store=store, code=f"BAG-{n:03d}") for n in range(6)]
    controller, secret = controller_create(store=store)
    return Floor(
        store=store,
        produce=produce,
        seafood=seafood,
        apples=apples,
        pears=pears,
        salmon=salmon,
        packing=packing,
        bags=bags,
        controller=controller,
        secret=secret,
    )


def staff_client(store, role: str) -> APIClient:
    """A member of staff with ``role`` at ``store``, logged in through the API."""
    user = UserFactory()
    StoreStaffFactory(user=user, store=store, role=role)
    client = APIClient()
    response = client.post(
        "/api/v1/auth/login/",
        {"login": user.email, "password": "correct-horse-9"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    client.user = user
    return client


@pytest.fixture
def picker(store) -> APIClient:
    return staff_client(store, "picker")


@pytest.fixture
def packer(store) -> APIClient:
    return staff_client(store, "packer")


def post(client: APIClient, url: str, body: dict | None = None, key: str | None = None):
    return client.post(
        url,
        body or {},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key or str(uuid.uuid4()),
    )


def claim(client: APIClient, store, zone: str, key: str | None = None):
    return post(
        client, f"/api/v1/stores/{store.code}/pick-tasks/claim", {"zone": zone}, key
    )


def shelf_code(store_product) -> str:
    return f"https://hema.test/q/{store_product.store.code}/{store_product.product.sku}"


def confirm(client, store, task: dict, line: dict, **body):
    url = (
        f"/api/v1/stores/{store.code}/pick-tasks/{task['id']}/lines/"
        f"{line['id']}/confirm"
    )
    return post(client, url, body)


def short(client, store, task: dict, line: dict, reason: str = "shelf empty"):
    url = (
        f"/api/v1/stores/{store.code}/pick-tasks/{task['id']}/lines/{line['id']}/short"
    )
    return post(client, url, {"reason": reason})


def bag_it(client, store, task: dict, bag: Bag):
    return post(
        client,
        f"/api/v1/stores/{store.code}/pick-tasks/{task['id']}/bag",
        {"bag": bag_token(bag)},
    )


def rail_event(
    floor: Floor,
    kind: str,
    bag: str,
    station: str,
    *,
    event_id: str | None = None,
    device: str | None = None,
    secret: str | None = None,
    timestamp: int | None = None,
    at: str | None = None,
):
    event = {"id": event_id or uuid.uuid4().hex, "type": kind, "bag": bag}
    event["station"] = station
    if at:
        event["at"] = at
    body = json.dumps(event).encode()
    header = sign(
        secret or floor.secret,
        body,
        int(time.time()) if timestamp is None else timestamp,
    )
    return APIClient().post(
        "/api/v1/rail/events",
        body,
        content_type="application/json",
        HTTP_RAIL_DEVICE=device or floor.controller.device_id,
        HTTP_RAIL_SIGNATURE=header,
    )


def delivery_snapshot() -> dict[str, Any]:
    """The orders' snapshot plus every delivery row a refusal could touch."""

    def rows(queryset, *fields: str) -> list:
        return list(queryset.order_by("pk").values_list("pk", *fields))

    return {
        **snapshot(),
        "fulfilments": rows(
            Fulfilment.objects, "state", "first_pick_at", "packed_at", "last_hung_at"
        ),
        "fulfilment_lines": rows(
            FulfilmentLine.objects, "state", "quantity_picked", "task_id"
        ),
        "tasks": rows(
            PickTask.objects,
            "state",
            "picker_id",
            "hung_at",
            "location_id",
            "arrived_at",
        ),
        "bags": rows(Bag.objects, "task_id"),
        "rail_events": RailEvent.objects.count(),
        "recounts": rows(RecountRequest.objects, "resolved_at"),
    }


# --- Riders and deliveries ------------------------------------------------------------


def rider_client(store, *, on_shift: bool = True) -> APIClient:
    """A rider of ``store`` logged in through the API, on shift unless asked."""
    client = staff_client(store, "rider")
    if on_shift:
        response = post(client, f"/api/v1/stores/{store.code}/rider/shift")
        assert response.status_code == 200, response.json()
    return client


def point_east(store, km: float) -> tuple[str, str]:
    """A point ``km`` due east of the store (great-circle), as API strings."""
    import math

    from inventory.geo import EARTH_RADIUS_KM

    lat = float(store.latitude)
    dlng = math.degrees(km / (EARTH_RADIUS_KM * math.cos(math.radians(lat))))
    return f"{lat:.6f}", f"{float(store.longitude) + dlng:.6f}"


def sent_home(buyer, store, store_product, packer, point: tuple[str, str]):
    """An in-store purchase sent home to ``point`` and packed at the counter:
    a delivery ready for a rider (through the API). Returns its fulfilment."""
    from orders.models import Order
    from tests.orders.conftest import post as shopper_post

    address = buyer.add_address(*point)
    cart = buyer.cart_with(store, [(store_product, "1")], channel="in_store")
    paid = shopper_post(
        buyer.client,
        f"/api/v1/carts/{cart}/pay/",
        {
            "fulfilment_mode": "delivery",
            "payment_method": "wallet",
            "address_id": address,
        },
    )
    assert paid.status_code == 201, paid.json()
    order = Order.objects.get(uuid=paid.json()["order"]["id"])
    packed = post(
        packer, f"/api/v1/stores/{store.code}/fulfilments/{order.number}/pack"
    )
    assert packed.status_code == 200, packed.json()
    return Fulfilment.objects.get(order=order)
