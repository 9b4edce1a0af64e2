"""The label feed, and one price everywhere: after a repricing run the scan,
the label feed, the app catalogue, both checkouts and the engine agree."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from inventory.models import StoreProduct
from inventory.services import stock_receive
from orders.models import Member, OrderLine
from pricing.models import PriceChange, RepricingRun, RunState, RunTrigger
from pricing.selectors import price
from pricing.services import store_reprice
from tests.factories import CategoryFactory, ProductFactory, StoreFactory
from tests.orders.conftest import Shopper, sign_up, top_up
from tests.pricing.conftest import make_rule

pytestmark = pytest.mark.django_db

D = Decimal
UTC = dt.UTC
SAT_EVENING = dt.datetime(2025, 6, 7, 10, 20, tzinfo=UTC)  # 18:20 in Shanghai


@pytest.fixture
def shelf(store, make_store_product):
    fruit = CategoryFactory(slug="fruit", name="Fruit")
    products = [
        make_store_product(
            product=ProductFactory(sku=sku, name=name, category=fruit),
            list_price=D(list_price),
            unit_cost=D("2.00"),
        )
        for sku, name, list_price in [
            ("APL", "Apples", "10.00"),
            ("MNG", "Mangoes", "25.00"),
            ("PER", "Pears", "12.80"),
        ]
    ]
    # On the shelf before the Saturday these tests price (the feed lists a
    # product added after ``since`` as new).
    StoreProduct.objects.filter(pk__in=[sp.pk for sp in products]).update(
        created_at=SAT_EVENING - dt.timedelta(days=7)
    )
    return products


def feed(api_client, code="SH01", **params):
    return api_client.get(f"/api/v1/stores/{code}/prices/", params)


def test_the_first_sync_lists_every_price(api_client, store, shelf):
    response = feed(api_client)
    assert response.status_code == 200
    body = response.json()
    assert (body["store"], body["currency"], body["count"], body["next"]) == (
        "SH01",
        "CNY",
        3,
        None,
    )
    assert body["results"] == [
        {
            "sku": "APL",
            "name": "Apples",
            "sale_unit": "piece",
            "price": "10.00",
            "list_price": "10.00",
            "is_markdown": False,
            "changed_at": None,
        },
        {
            "sku": "MNG",
            "name": "Mangoes",
            "sale_unit": "piece",
            "price": "25.00",
            "list_price": "25.00",
            "is_markdown": False,
            "changed_at": None,
        },
        {
            "sku": "PER",
            "name": "Pears",
            "sale_unit": "piece",
            "price": "12.80",
            "list_price": "12.80",
            "is_markdown": False,
            "changed_at": None,
        },
    ]


def test_since_returns_only_what_changed(api_client, store, shelf, clear_weather):
    make_rule(store, product=shelf[1].product, weekdays={5: "0.95"})
    store_reprice(store=store, now=SAT_EVENING, provider=clear_weather)

    changed = feed(api_client, since="2025-06-07T10:00:00Z").json()
    assert [(r["sku"], r["price"], r["changed_at"]) for r in changed["results"]] == [
        ("MNG", "23.80", "2025-06-07T10:20:00Z")  # 23.75 -> 23.80
    ]
    later = feed(api_client, since="2025-06-07T18:20:01+08:00").json()
    assert later["results"] == []
    # inclusive: a change at exactly ``since`` comes back (twice rather than never)
    exact = feed(api_client, since="2025-06-07T10:20:00Z").json()
    assert exact["count"] == 1


def test_as_of_waits_for_a_run_in_flight(api_client, store, shelf):
    running = RepricingRun.objects.create(
        store=store,
        trigger=RunTrigger.HOURLY,
        state=RunState.RUNNING,
        priced_at=dt.datetime.now(UTC),
        started_at=dt.datetime.now(UTC) - dt.timedelta(seconds=30),
    )
    body = feed(api_client).json()
    assert body["as_of"] == running.started_at.isoformat().replace("+00:00", "Z")


def test_pages_link_to_the_next(api_client, store, shelf):
    first = feed(api_client, limit=2).json()
    assert [r["sku"] for r in first["results"]] == ["APL", "MNG"]
    assert first["next"].endswith("/api/v1/stores/SH01/prices/?limit=2&offset=2")
    second = api_client.get(first["next"]).json()
    assert ([r["sku"] for r in second["results"]], second["next"]) == (["PER"], None)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "yesterday"}, "since"),
        ({"since": "2025-06-07T10:00:00"}, "since"),  # no offset
        ({"since": "2025-13-07T10:00:00Z"}, "since"),
        ({"limit": "0"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "5001"}, "limit"),
        ({"offset": "-1"}, "offset"),
        # An empty value is a client that lost what it meant to send.
        ({"since": ""}, "since"),
        ({"limit": ""}, "limit"),
        ({"offset": "false"}, "offset"),
        ({"offset": " 1"}, "offset"),
    ],
)
def test_bad_parameters_are_a_400_naming_the_field(
    api_client, store, shelf, params, field
):
    response = feed(api_client, **params)
    assert response.status_code == 400
    body = response.json()
    assert (body["error"], body["extra"]["field"]) == ("invalid_input", field)


def test_an_unknown_store_is_a_404(api_client, store):
    response = feed(api_client, code="NOPE")
    assert response.status_code == 404
    assert response.json()["extra"]["field"] == "store_code"


def test_scan_feed_and_engine_show_the_same_price_after_a_run(
    api_client, store, shelf, rainy_weather
):
    """The one price: after a repricing run the scan read, the label feed, the
    app catalogue and the engine (``price()``) all show the same number."""
    make_rule(store, weekdays={5: "1.05"}, hours={18: "0.98"}, weather={"rain": "1.04"})
    store_reprice(store=store, now=SAT_EVENING, provider=rainy_weather)
    feed_prices = {r["sku"]: r["price"] for r in feed(api_client).json()["results"]}
    # 10.00 x 1.05 x 0.98 x 1.04 = 10.7016 -> 10.70
    assert feed_prices == {"APL": "10.70", "MNG": "26.80", "PER": "13.70"}

    for store_product in shelf:
        sku = store_product.product.sku
        scan = api_client.get(f"/api/v1/stores/SH01/scan/{sku}").json()
        engine = price(store, store_product, SAT_EVENING).amount
        assert scan["price"] == feed_prices[sku] == str(engine)
    assert PriceChange.objects.count() == 3

    catalogue = api_client.get(
        reverse("store-catalogue", kwargs={"store_code": "SH01"})
    ).json()
    assert {item["sku"]: item["price"] for item in catalogue["results"]} == (
        feed_prices
    )


def test_another_store_feed_is_its_own(api_client, store, shelf, make_store_product):
    other = StoreFactory(code="BJ01", currency="CNY")
    make_store_product(store=other, product=shelf[0].product, list_price=D("11.00"))
    body = feed(api_client, code="BJ01").json()
    assert [(r["sku"], r["price"]) for r in body["results"]] == [("APL", "11.00")]


def test_checkout_charges_the_price_scan_and_feed_show(
    api_client, store, shelf, rainy_weather
):
    """Both checkouts (an in-store cart paid within its price hold, an app cart)
    charge what the scan and the label feed show after a repricing run."""
    make_rule(store, weekdays={5: "1.05"}, hours={18: "0.98"}, weather={"rain": "1.04"})
    store_reprice(store=store, now=SAT_EVENING, provider=rainy_weather)
    for store_product in shelf:
        stock_receive(store_product=store_product, quantity=10)
    feed_prices = {r["sku"]: r["price"] for r in feed(api_client).json()["results"]}

    client = sign_up(APIClient(), email="shopper@hema.test")
    top_up(client, "200.00")
    shopper = Shopper(
        client=client, member=Member.objects.get(user__email="shopper@hema.test")
    )
    in_store = shopper.cart_with(store, [(shelf[0], "2")], channel="in_store")
    paid = shopper.pay_in_store(in_store)
    assert paid.status_code == 201, paid.json()
    app_cart = shopper.cart_with(store, [(shelf[1], "1"), (shelf[2], "1")])
    ordered = shopper.checkout(app_cart)
    assert ordered.status_code == 201, ordered.json()

    charged = dict(OrderLine.objects.values_list("sku", "unit_price"))
    assert {sku: str(price) for sku, price in charged.items()} == feed_prices
