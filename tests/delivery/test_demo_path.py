"""The issue's "done when": a paid demo order is picked, bagged, railed and
packed through the API by the demo staff accounts that ``seed_demo_layout``
creates, on the demo store's own layout."""

import json
import time
import uuid
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from delivery.models import Bag, RailController
from delivery.picking import bag_token
from delivery.rail import sign
from inventory import demo_catalogue as demo
from inventory.models import StoreProduct
from orders.models import Order

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def log_in(email: str) -> APIClient:
    client = APIClient()
    response = client.post(
        "/api/v1/auth/login/",
        {"login": email, "password": demo.DEFAULT_MANAGER_PASSWORD},
        format="json",
    )
    assert response.status_code == 200, response.json()
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    return client


def post(client: APIClient, url: str, body: dict | None = None):
    return client.post(
        url, body or {}, format="json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex
    )


def test_a_paid_demo_order_is_picked_railed_and_packed_by_demo_staff(
    make_shopper, monkeypatch
):
    monkeypatch.delenv("DEMO_PASSWORD", raising=False)
    call_command("seed_demo", stdout=StringIO())
    out = StringIO()
    call_command("seed_demo_layout", stdout=out)
    secret = out.getvalue().split("SH01 rail controller: device ")[1].split()[2]
    controller = RailController.objects.get(store__code="SH01")

    # A shopper orders one piece product of each of two zones, paid from the wallet
    shopper = make_shopper(balance="500.00")
    chosen = [
        StoreProduct.objects.filter(
            store__code="SH01",
            zone__code=zone,
            product__sale_unit="piece",
            is_active=True,
            on_hand__gte=5,
        )
        .select_related("product")
        .first()
        for zone in ("PRODUCE", "DAIRY")
    ]
    order = shopper.order(
        chosen[0].store,
        [(sp, "1") for sp in chosen],
        mode="delivery",
        address_id=shopper.add_address(
            str(chosen[0].store.latitude), str(chosen[0].store.longitude)
        ),
    )
    picker = log_in("picker.sh01@hema.demo")
    packer = log_in("packer.sh01@hema.demo")
    base = "/api/v1/stores/SH01"
    free_bags = iter(Bag.objects.filter(store__code="SH01", task__isnull=True))

    for zone in ("PRODUCE", "DAIRY"):
        task = post(picker, f"{base}/pick-tasks/claim", {"zone": zone}).json()
        assert task["order"] == order.number
        assert task["hang_station"] == f"H-{zone}"
        for line in task["lines"]:
            url = f"{base}/pick-tasks/{task['id']}/lines/{line['id']}/confirm"
            code = f"https://hema.test/q/SH01/{line['sku']}"
            assert post(picker, url, {"code": code}).status_code == 200
        bag = next(free_bags)
        bagged = post(
            picker, f"{base}/pick-tasks/{task['id']}/bag", {"bag": bag_token(bag)}
        )
        assert bagged.status_code == 200, bagged.json()
        for kind, station in (("hung", f"H-{zone}"), ("arrived", "PACK1")):
            body = json.dumps(
                {
                    "id": uuid.uuid4().hex,
                    "type": kind,
                    "bag": bag.code,
                    "station": station,
                }
            ).encode()
            answer = APIClient().post(
                "/api/v1/rail/events",
                body,
                content_type="application/json",
                HTTP_RAIL_DEVICE=controller.device_id,
                HTTP_RAIL_SIGNATURE=sign(secret, body, int(time.time())),
            )
            assert answer.status_code == 200, answer.json()

    packed = post(packer, f"{base}/fulfilments/{order.number}/pack")
    assert packed.status_code == 200, packed.json()
    order.refresh_from_db()
    assert order.state == "packed"
    assert order.refunded_total == Decimal("0.00")
    assert Order.objects.count() == 1
