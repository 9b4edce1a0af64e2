"""Odd inputs through the inventory API are a 4xx naming the field, never a 500;
the catalogue's query count does not grow with the page."""

from decimal import Decimal

import pytest

from inventory.services import stock_receive
from tests.factories import CategoryFactory, ProductFactory

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.fixture
def shelf(make_store_product):
    fruit = CategoryFactory(slug="fruit", name="Fruit")
    products = []
    for n in range(3):
        sp = make_store_product(
            product=ProductFactory(sku=f"FRU-{n}", name=f"Fruit {n}", category=fruit)
        )
        products.append(sp)
    stock_receive(store_product=products[0], quantity=5)
    return products


@pytest.mark.parametrize("lat", ["1e400", "-1e400", "1E+30"])
def test_a_coordinate_too_large_to_round_is_a_400(api_client, store, lat):
    response = api_client.get("/api/v1/stores/", {"lat": lat, "lng": "121.47"})
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_input"
    assert set(body["extra"]["fields"]) == {"lat"}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"in_stock": "maybe"}, "in_stock"),
        ({"in_stock": "yes please"}, "in_stock"),
        ({"daily_fresh": "2"}, "daily_fresh"),
    ],
)
def test_a_catalogue_filter_that_is_not_a_boolean_is_a_400(
    api_client, shelf, params, field
):
    response = api_client.get("/api/v1/stores/SH01/catalogue/", params)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_input"
    assert set(body["extra"]["fields"]) == {field}
    assert body["extra"]["field"] == field


@pytest.mark.parametrize(
    ("value", "skus"),
    [
        ("true", ["FRU-0"]),
        ("True", ["FRU-0"]),
        ("1", ["FRU-0"]),
        ("false", ["FRU-1", "FRU-2"]),
        ("0", ["FRU-1", "FRU-2"]),
        ("", ["FRU-0", "FRU-1", "FRU-2"]),
    ],
)
def test_the_in_stock_filter_takes_the_usual_spellings(api_client, shelf, value, skus):
    response = api_client.get("/api/v1/stores/SH01/catalogue/", {"in_stock": value})
    assert response.status_code == 200
    assert [item["sku"] for item in response.json()["results"]] == skus


def test_a_huge_limit_is_capped_not_a_500(api_client, shelf):
    response = api_client.get(
        "/api/v1/stores/SH01/catalogue/", {"limit": "99999999999999999999999"}
    )
    assert response.status_code == 200
    assert [item["sku"] for item in response.json()["results"]] == [
        "FRU-0",
        "FRU-1",
        "FRU-2",
    ]


def test_a_huge_offset_is_an_empty_page_not_a_500(api_client, shelf):
    response = api_client.get(
        "/api/v1/stores/SH01/catalogue/", {"offset": "99999999999999999999999"}
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["count"], body["results"], body["next"]) == (3, [], None)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "-1"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"limit": "abc"}, "limit"),
        ({"limit": "null"}, "limit"),
        ({"limit": ""}, "limit"),
        ({"limit": " 5"}, "limit"),
        ({"offset": "abc"}, "offset"),
        ({"offset": "false"}, "offset"),
        ({"offset": "-5"}, "offset"),
        ({"offset": "1.5"}, "offset"),
    ],
)
def test_a_page_that_is_not_a_whole_number_is_refused_naming_it(
    api_client, shelf, params, field
):
    """DRF read ``?limit=null`` as "the default": a client's bug went unseen."""
    response = api_client.get("/api/v1/stores/SH01/catalogue/", params)

    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_input"
    assert body["extra"]["field"] == field


def test_a_page_in_range_pages(api_client, shelf):
    response = api_client.get(
        "/api/v1/stores/SH01/catalogue/", {"limit": "2", "offset": "2"}
    )

    assert response.status_code == 200
    assert [item["sku"] for item in response.json()["results"]] == ["FRU-2"]


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/stores/SH%00/",
        "/api/v1/stores/SH%00/catalogue/",
        "/api/v1/stores/SH%00/prices/",
        "/api/v1/stores/SH01/products/FRU%000/qr.png",
        "/api/v1/stores/SH%00/products/FRU-0/qr.svg",
    ],
)
def test_a_nul_byte_in_a_store_code_or_sku_is_a_404(api_client, shelf, url):
    """PostgreSQL refuses NUL in text parameters; that must not become a 500."""
    response = api_client.get(url)
    assert response.status_code == 404
    assert response.json()["error"] in {"store_not_found", "product_not_found"}


def test_the_catalogue_query_count_does_not_grow_with_the_page(
    api_client, store, make_store_product, django_assert_max_num_queries
):
    fruit = CategoryFactory(slug="fruit", name="Fruit")
    for n in range(40):
        sp = make_store_product(product=ProductFactory(sku=f"P{n:03d}", category=fruit))
        stock_receive(store_product=sp, quantity=2)
    # the store, the count, the page
    with django_assert_max_num_queries(3):
        response = api_client.get(
            "/api/v1/stores/SH01/catalogue/", {"in_stock": "true", "limit": 40}
        )
    assert response.status_code == 200
    assert len(response.json()["results"]) == 40
