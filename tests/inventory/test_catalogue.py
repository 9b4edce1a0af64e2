"""The app's view of the chain: which stores deliver here, and what they sell online."""

from decimal import Decimal

import pytest

from inventory.services import ReservationLine, stock_receive, stock_reserve
from tests.factories import CategoryFactory, ProductFactory, StoreFactory

pytestmark = pytest.mark.django_db
D = Decimal


def test_stores_covering_a_location_nearest_first_with_distance(api_client):
    # People's Square, Shanghai; two stores cover it, one 20 km away does not.
    near = StoreFactory(code="NEAR", latitude=D("31.232000"), longitude=D("121.475000"))
    wide = StoreFactory(
        code="WIDE",
        latitude=D("31.250000"),
        longitude=D("121.475000"),
        delivery_radius_km=D("5.00"),
    )
    StoreFactory(code="FAR", latitude=D("31.050000"), longitude=D("121.475000"))

    response = api_client.get("/api/v1/stores/", {"lat": "31.2304", "lng": "121.4737"})

    assert response.status_code == 200
    results = response.json()["results"]
    assert [s["code"] for s in results] == [near.code, wide.code]
    assert results[0]["distance_km"] == "0.217"
    assert results[1]["distance_km"] == "2.183"


def test_a_location_no_store_covers_lists_none(api_client, store):
    response = api_client.get("/api/v1/stores/", {"lat": "39.9042", "lng": "116.4074"})
    assert response.status_code == 200
    assert response.json()["results"] == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"lat": "31.2"}, "lng"),
        ({"lat": "95", "lng": "121.4"}, "lat"),
        ({"lat": "31.2", "lng": "east"}, "lng"),
    ],
)
def test_a_bad_location_is_refused_naming_the_field(api_client, store, params, field):
    response = api_client.get("/api/v1/stores/", params)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_input"
    assert field in body["extra"]["fields"]


def test_catalogue_shows_online_availability_and_filters(
    api_client, make_store_product
):
    seafood = CategoryFactory(slug="seafood", name="Seafood")
    prawns = make_store_product(
        product=ProductFactory(name="Tiger prawns", category=seafood),
        online_buffer=D("2"),
    )
    stock_receive(store_product=prawns, quantity=10)
    stock_reserve(lines=[ReservationLine(prawns, 3)], reference="R1")
    apples = make_store_product(
        product=ProductFactory(name="Fuji apples", name_local="富士苹果")
    )
    store_code = prawns.store.code

    everything = api_client.get(f"/api/v1/stores/{store_code}/catalogue/").json()
    by_sku = {item["sku"]: item for item in everything["results"]}
    assert by_sku[prawns.product.sku]["available_online"] == "5.000"
    assert by_sku[prawns.product.sku]["price"] == "12.80"
    assert by_sku[apples.product.sku]["available_online"] == "0.000"

    in_stock = api_client.get(
        f"/api/v1/stores/{store_code}/catalogue/", {"in_stock": "true"}
    ).json()
    assert [item["sku"] for item in in_stock["results"]] == [prawns.product.sku]

    found = api_client.get(
        f"/api/v1/stores/{store_code}/catalogue/", {"search": "apple"}
    ).json()
    assert [item["name"] for item in found["results"]] == ["Fuji apples"]
    assert found["results"][0]["name_local"] == "富士苹果"
    assert by_sku[prawns.product.sku]["name_local"] == ""

    # Shoppers in Shanghai search in Chinese.
    found = api_client.get(
        f"/api/v1/stores/{store_code}/catalogue/", {"search": "苹果"}
    ).json()
    assert [item["sku"] for item in found["results"]] == [apples.product.sku]

    seafood_only = api_client.get(
        f"/api/v1/stores/{store_code}/catalogue/", {"category": "seafood"}
    ).json()
    assert [item["sku"] for item in seafood_only["results"]] == [prawns.product.sku]


def test_catalogue_of_an_unknown_store_is_404(api_client):
    response = api_client.get("/api/v1/stores/NOPE/catalogue/")
    assert response.status_code == 404
    assert response.json()["error"] == "store_not_found"
