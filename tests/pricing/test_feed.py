"""The label feed: a ``since`` the server cannot place in UTC is a 400 naming
``since``, never a 500; the feed's query count does not grow with the page."""

import datetime as dt
from decimal import Decimal

import pytest

from pricing.services import store_reprice
from tests.factories import CategoryFactory, ProductFactory
from tests.pricing.conftest import make_rule

pytestmark = pytest.mark.django_db

D = Decimal
SAT_EVENING = dt.datetime(2025, 6, 7, 10, 20, tzinfo=dt.UTC)  # 18:20 in Shanghai


@pytest.mark.parametrize(
    "since",
    [
        "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
        "9999-12-31T23:59:59-01:00",  # after year 9999 in UTC
    ],
)
def test_a_since_outside_the_calendar_in_utc_is_a_400(
    api_client, store, make_store_product, since
):
    make_store_product()
    response = api_client.get("/api/v1/stores/SH01/prices/", {"since": since})
    assert response.status_code == 400
    body = response.json()
    assert (body["error"], body["extra"]["field"]) == ("invalid_input", "since")


def test_the_earliest_and_latest_utc_times_are_accepted(
    api_client, store, make_store_product
):
    make_store_product()
    early = api_client.get(
        "/api/v1/stores/SH01/prices/", {"since": "0001-01-01T00:00:00Z"}
    )
    assert early.status_code == 200
    assert early.json()["since"] == "0001-01-01T00:00:00Z"
    late = api_client.get(
        "/api/v1/stores/SH01/prices/", {"since": "9999-12-31T00:00:00+08:00"}
    )
    assert (late.status_code, late.json()["count"]) == (200, 0)


def test_the_feed_query_count_does_not_grow_with_the_page(
    api_client,
    store,
    make_store_product,
    clear_weather,
    django_assert_max_num_queries,
):
    fruit = CategoryFactory(slug="fruit", name="Fruit")
    for n in range(30):
        make_store_product(
            product=ProductFactory(sku=f"F{n:03d}", category=fruit),
            list_price=D("10.00"),
            unit_cost=D("2.00"),
        )
    make_rule(store, weekdays={5: "0.95"})
    store_reprice(store=store, now=SAT_EVENING, provider=clear_weather)

    # the store, the run in flight, the count, the page
    with django_assert_max_num_queries(4):
        response = api_client.get(
            "/api/v1/stores/SH01/prices/", {"since": "2025-06-07T10:00:00Z"}
        )
    body = response.json()
    assert body["count"] == 30
    assert {r["price"] for r in body["results"]} == {"9.50"}
    with django_assert_max_num_queries(4):
        everything = api_client.get("/api/v1/stores/SH01/prices/")
    assert everything.json()["count"] == 30


def test_a_product_added_after_the_last_poll_comes_with_the_next(
    api_client, store, make_store_product
):
    """A label controller that synced everything and then polls with ``as_of``
    must learn the price of a product the store added since: it has no price
    change row, but its price is new to the controller."""
    make_store_product(product=ProductFactory(sku="OLD"), list_price=D("5.00"))
    first = api_client.get("/api/v1/stores/SH01/prices/").json()
    assert [r["sku"] for r in first["results"]] == ["OLD"]

    make_store_product(product=ProductFactory(sku="NEW"), list_price=D("7.50"))
    then = api_client.get("/api/v1/stores/SH01/prices/", {"since": first["as_of"]})

    assert [(r["sku"], r["price"]) for r in then.json()["results"]] == [("NEW", "7.50")]
