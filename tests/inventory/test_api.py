"""The inventory HTTP face: stores, the scan read, shelf QR images, the /q/ landing."""

import datetime as dt
import io
import xml.etree.ElementTree as ET
from decimal import Decimal
from urllib.parse import quote

import pytest
from PIL import Image

from inventory.models import SaleUnit, StoreProduct
from inventory.qr import qr_payload, render_png, render_svg
from inventory.serializers import ScanResultSerializer
from inventory.services import (
    ReservationLine,
    stock_receive,
    stock_reserve,
    stock_sell_in_store,
)
from tests.factories import ProductFactory, StoreFactory

pytestmark = pytest.mark.django_db

D = Decimal


def scan_url(store_code: str, code: str) -> str:
    return f"/api/v1/stores/{store_code}/scan/{code}"


@pytest.fixture
def apples(make_store_product):
    product = ProductFactory(
        sku="APL001",
        name="Fuji apples",
        name_local="富士苹果",
        origin="Yantai, Shandong, China",
    )
    sp = make_store_product(
        product=product,
        list_price=D("12.80"),
        shelf_price=D("9.90"),
        shelf_location="A-03-2",
    )
    stock_receive(store_product=sp, quantity=10)
    return sp


@pytest.fixture
def salmon(make_store_product):
    product = ProductFactory(
        sku="SAL-NO-1",
        name="Salmon fillet",
        sale_unit=SaleUnit.KILOGRAM,
        shelf_life_days=3,
        is_daily_fresh=True,
        origin="Norway",
    )
    return make_store_product(product=product, list_price=D("168.00"))


# --- Stores -------------------------------------------------------------------


def test_store_list_shows_open_stores_only(api_client, store):
    StoreFactory(code="SH02", name="Hema Test Pudong")
    StoreFactory(code="SH99", name="Closed", is_active=False)

    response = api_client.get("/api/v1/stores/")

    assert response.status_code == 200
    assert response.json()["count"] == 2
    assert [s["code"] for s in response.json()["results"]] == ["SH01", "SH02"]


def test_store_detail(api_client, store):
    response = api_client.get("/api/v1/stores/sh01/")

    assert response.status_code == 200
    assert response.json() == {
        "code": "SH01",
        "name": "Hema Test Shanghai",
        "address": "",
        "latitude": "31.230400",
        "longitude": "121.473700",
        "delivery_radius_km": "3.00",
        "delivery_promise_minutes": 30,
        "time_zone": "Asia/Shanghai",
        "currency": "CNY",
        "opens_at": "08:00:00",
        "closes_at": "22:00:00",
        "is_24h": True,
        "distance_km": None,
    }


@pytest.mark.parametrize("code", ["XX99", "SH99"])
def test_unknown_or_closed_store_is_404(api_client, store, code):
    StoreFactory(code="SH99", is_active=False)

    response = api_client.get(f"/api/v1/stores/{code}/")

    assert response.status_code == 404
    assert response.json() == {
        "error": "store_not_found",
        "message": f"No store with code '{code}'.",
        "extra": {"field": "store_code", "value": code},
    }


# --- Scan read ----------------------------------------------------------------


def test_scan_by_sku_shows_price_stock_origin_and_freshness(api_client, apples):
    response = api_client.get(scan_url("SH01", "APL001"))

    assert response.status_code == 200
    assert response.json() == {
        "store": "SH01",
        "sku": "APL001",
        "name": "Fuji apples",
        "name_local": "富士苹果",
        "category": "Fruit",
        "sale_unit": "piece",
        "price": "9.90",
        "list_price": "12.80",
        "currency": "CNY",
        "in_stock": True,
        "available": "10.000",
        "origin": "Yantai, Shandong, China",
        "freshness": {
            "shelf_life_days": None,
            "is_daily_fresh": False,
            "oldest_best_before": None,
        },
        "shelf_location": "A-03-2",
    }


def test_scan_of_a_perishable_shows_the_oldest_lot_still_on_the_shelf(
    api_client, salmon
):
    stock_receive(
        store_product=salmon, quantity="2.000", best_before=dt.date(2030, 5, 2)
    )
    stock_receive(
        store_product=salmon, quantity="3.500", best_before=dt.date(2030, 5, 4)
    )

    body = api_client.get(scan_url("SH01", "SAL-NO-1")).json()
    assert body["sale_unit"] == "kg"
    assert body["price"] == "168.00"
    assert body["available"] == "5.500"
    assert body["freshness"] == {
        "shelf_life_days": 3,
        "is_daily_fresh": True,
        "oldest_best_before": "2030-05-02",
    }

    # The oldest lot sells first; the next one becomes the oldest on the shelf.
    stock_sell_in_store(store_product=salmon, quantity="2.000", unit_price=D("168"))
    body = api_client.get(scan_url("SH01", "SAL-NO-1")).json()
    assert body["freshness"]["oldest_best_before"] == "2030-05-04"
    assert body["available"] == "3.500"


def test_scan_counts_units_held_online_as_not_available(api_client, make_store_product):
    sp = make_store_product(product=ProductFactory(sku="MILK1"))
    stock_receive(store_product=sp, quantity=2)
    stock_reserve(
        lines=[ReservationLine(store_product=sp, quantity=2)],
        reference="ORDER-1",
    )

    body = api_client.get(scan_url("SH01", "MILK1")).json()

    assert (body["in_stock"], body["available"]) == (False, "0.000")


def test_scan_of_a_product_never_received_is_out_of_stock(
    api_client, make_store_product
):
    make_store_product(product=ProductFactory(sku="EMPTY1"))

    body = api_client.get(scan_url("SH01", "EMPTY1")).json()

    assert (body["in_stock"], body["available"]) == (False, "0.000")


@pytest.mark.parametrize(
    "code",
    [
        "https://hema.test/q/SH01/APL001",
        quote("https://hema.test/q/SH01/APL001", safe=""),
        quote(quote("https://hema.test/q/SH01/APL001", safe=""), safe=""),
        "https://hema.test/q/sh01/APL001/",
        quote("https://hema.test/q/SH01/APL001?src=shelf", safe=""),
        "http://old-domain.example/q/SH01/APL001",
    ],
    ids=["raw", "encoded", "double-encoded", "lower-case", "query", "old-host"],
)
def test_scan_accepts_the_qr_payload(api_client, apples, code):
    response = api_client.get(scan_url("SH01", code))

    assert response.status_code == 200
    assert (response.json()["sku"], response.json()["price"]) == ("APL001", "9.90")


def test_scan_of_the_printed_payload_finds_the_product(api_client, apples):
    payload = qr_payload(store_code="SH01", sku="APL001")

    response = api_client.get(scan_url("sh01", payload))

    assert response.status_code == 200
    assert response.json()["sku"] == "APL001"


def test_scan_is_one_query(api_client, salmon, django_assert_max_num_queries):
    # The store product with its store, product and category, and the oldest lot.
    for best_before in (dt.date(2030, 5, 4), dt.date(2030, 5, 2)):
        stock_receive(store_product=salmon, quantity="1.000", best_before=best_before)

    with django_assert_max_num_queries(1):
        response = api_client.get(scan_url("SH01", "SAL-NO-1"))

    assert response.status_code == 200
    assert response.json()["freshness"]["oldest_best_before"] == "2030-05-02"


def test_scan_answer_has_the_documented_fields(api_client, apples):
    documented = ScanResultSerializer().fields

    body = api_client.get(scan_url("SH01", "APL001")).json()

    assert list(body) == list(documented)
    assert list(body["freshness"]) == list(documented["freshness"].fields)


def test_scan_at_an_unknown_store_is_404(api_client, apples):
    response = api_client.get(scan_url("XX01", "APL001"))

    assert response.status_code == 404
    assert response.json() == {
        "error": "store_not_found",
        "message": "No store with code 'XX01'.",
        "extra": {"field": "store_code", "value": "XX01"},
    }


@pytest.mark.parametrize(
    ("store_code", "code"),
    [
        ("XX01", "APL 001!"),
        ("XX01", "https://hema.test/q/SH02/APL001"),
        ("SH99", "APL001"),
        ("SH%00", "APL001"),
    ],
    ids=["malformed-code", "other-label", "closed-store", "nul"],
)
def test_scan_names_an_unknown_or_closed_store_before_the_code(
    api_client, apples, store_code, code
):
    StoreFactory(code="SH99", is_active=False)

    response = api_client.get(scan_url(store_code, code))

    assert response.status_code == 404
    assert response.json()["error"] == "store_not_found"


def test_scan_at_a_closed_store_selling_the_product_is_404(api_client, apples):
    StoreProduct.objects.create(
        store=StoreFactory(code="SH98", is_active=False),
        product=apples.product,
        list_price=D("1.00"),
        shelf_price=D("1.00"),
        unit_cost=D("0.50"),
    )

    response = api_client.get(scan_url("SH98", "APL001"))

    assert response.status_code == 404
    assert response.json()["extra"] == {"field": "store_code", "value": "SH98"}


def test_scan_of_an_unknown_sku_is_404(api_client, apples):
    response = api_client.get(scan_url("SH01", "NOPE1"))

    assert response.status_code == 404
    assert response.json() == {
        "error": "product_not_found",
        "message": "SH01 does not sell 'NOPE1'.",
        "extra": {"field": "sku", "value": "NOPE1"},
    }


def test_scan_of_a_product_sold_only_in_another_store_is_404(api_client, apples):
    other = StoreFactory(code="SH02")
    StoreProduct.objects.create(
        store=other,
        product=ProductFactory(sku="ONLY2"),
        list_price=D("1.00"),
        shelf_price=D("1.00"),
        unit_cost=D("0.50"),
    )

    response = api_client.get(scan_url("SH01", "ONLY2"))

    assert response.status_code == 404
    assert response.json()["error"] == "product_not_found"


def test_scan_of_an_inactive_product_is_404(api_client, apples):
    StoreProduct.objects.filter(pk=apples.pk).update(is_active=False)

    response = api_client.get(scan_url("SH01", "https://hema.test/q/SH01/APL001"))

    assert response.status_code == 404
    assert response.json() == {
        "error": "product_not_found",
        "message": "SH01 does not sell 'APL001'.",
        "extra": {"field": "sku", "value": "APL001"},
    }


NOT_A_SHELF_CODE = (
    "Not a Hema shelf code: expected a SKU or a URL ending in /q/<store>/<sku>."
)


@pytest.mark.parametrize(
    ("code", "message", "extra"),
    [
        ("APL 001!", NOT_A_SHELF_CODE, {"field": "code"}),
        ("%3Cscript%3E", NOT_A_SHELF_CODE, {"field": "code"}),
        ("https://hema.test/products/APL001", NOT_A_SHELF_CODE, {"field": "code"}),
        ("https://hema.test/q/SH01/", NOT_A_SHELF_CODE, {"field": "code"}),
        (
            "A" * 513,
            "The code is empty or too long.",
            {"field": "code", "length": 513},
        ),
        ("%20", "The code is empty or too long.", {"field": "code", "length": 0}),
    ],
    ids=["characters", "markup", "other-url", "no-sku", "too-long", "blank"],
)
def test_malformed_code_is_400_naming_the_field(
    api_client, apples, code, message, extra
):
    response = api_client.get(scan_url("SH01", code))

    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_code",
        "message": message,
        "extra": extra,
    }


def test_label_of_another_store_is_400(api_client, apples):
    StoreFactory(code="SH02")
    response = api_client.get(scan_url("SH01", "https://hema.test/q/SH02/APL001"))

    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_code",
        "message": "This label belongs to store SH02, not SH01.",
        "extra": {"field": "code", "label_store": "SH02"},
    }


def test_scan_is_a_read_only_endpoint(api_client, apples):
    response = api_client.post(scan_url("SH01", "APL001"))

    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"
    apples.refresh_from_db()
    assert apples.on_hand == D("10.000")


# --- The URL in the QR code ---------------------------------------------------


def test_qr_landing_sends_a_json_client_to_the_scan_read(client, apples):
    # A browser gets the product page (tests/inventory/test_shelf_page.py).
    response = client.get("/q/SH01/APL001", HTTP_ACCEPT="application/json")

    assert response.status_code == 302
    assert response["Location"] == "/api/v1/stores/SH01/scan/APL001"
    assert "Accept" in response["Vary"]
    followed = client.get(response["Location"], HTTP_ACCEPT="application/json")
    assert followed.status_code == 200
    assert followed.json()["price"] == "9.90"
    assert followed.json()["name_local"] == "富士苹果"


def test_qr_landing_of_an_unknown_product_ends_in_a_404(client, apples):
    response = client.get("/q/SH01/NOPE1", follow=True, HTTP_ACCEPT="application/json")

    assert response.redirect_chain == [("/api/v1/stores/SH01/scan/NOPE1", 302)]
    assert response.status_code == 404
    assert response.json()["error"] == "product_not_found"


# --- QR images ----------------------------------------------------------------


def qr_url(store_code: str, sku: str, fmt: str) -> str:
    return f"/api/v1/stores/{store_code}/products/{sku}/qr.{fmt}"


def test_qr_png(api_client, apples):
    response = api_client.get(qr_url("SH01", "APL001", "png"))

    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Cache-Control"] == "public, max-age=86400"
    assert response.content.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(response.content))
    image.verify()
    assert image.format == "PNG"
    # The image is the code of the shelf payload (tests/inventory/test_qr.py checks
    # that rendering encodes its payload module for module).
    assert response.content == render_png("https://hema.test/q/SH01/APL001")


def test_qr_svg(api_client, apples):
    response = api_client.get(qr_url("sh01", "APL001", "svg"))

    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    root = ET.fromstring(response.content)  # noqa: S314 - our own output
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert response.content == render_svg("https://hema.test/q/SH01/APL001")


def test_qr_is_stable_between_requests(api_client, apples):
    first = api_client.get(qr_url("SH01", "APL001", "png")).content
    second = api_client.get(qr_url("SH01", "APL001", "png")).content

    assert first == second


@pytest.mark.parametrize("accept", ["image/png", "image/*", "text/html"])
def test_qr_ignores_the_accept_header(api_client, apples, accept):
    response = api_client.get(qr_url("SH01", "APL001", "png"), HTTP_ACCEPT=accept)

    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"


def test_qr_in_an_unknown_format_is_400(api_client, apples):
    response = api_client.get(qr_url("SH01", "APL001", "gif"), HTTP_ACCEPT="image/gif")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "error": "invalid_code",
        "message": "Unknown image format 'gif': use png or svg.",
        "extra": {"field": "format", "allowed": ["png", "svg"]},
    }


@pytest.mark.parametrize(
    ("store_code", "sku", "error"),
    [
        ("XX01", "APL001", "store_not_found"),
        ("SH01", "NOPE1", "product_not_found"),
    ],
)
def test_qr_of_an_unknown_store_or_product_is_404(
    api_client, apples, store_code, sku, error
):
    response = api_client.get(qr_url(store_code, sku, "png"))

    assert response.status_code == 404
    assert response.json()["error"] == error


def test_qr_of_an_inactive_product_is_404(api_client, apples):
    StoreProduct.objects.filter(pk=apples.pk).update(is_active=False)

    response = api_client.get(qr_url("SH01", "APL001", "svg"))

    assert response.status_code == 404
    assert response.json()["error"] == "product_not_found"
