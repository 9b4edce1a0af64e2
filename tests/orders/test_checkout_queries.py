"""The query count of the busiest write, pinned: a paid app checkout reads what it
needs once and writes in bulk (orders/checkout.py), so a one-line checkout
through the API stays within 24 queries (21, and the three inserts that open
its fulfilment: the fulfilment, its zones' pick tasks, its lines; the wallet's
debit takes no savepoint of its own) and each further line adds at most one
(its conditional stock UPDATE). The pin is PostgreSQL's, the production
database: there one line is reserved in one statement; SQLite takes four."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from inventory.services import stock_receive
from tests.conftest import requires_postgres

D = Decimal


@requires_postgres
@pytest.mark.django_db
def test_a_paid_one_line_app_checkout_takes_at_most_24_queries(
    store, stocked, shopper, django_assert_max_num_queries
):
    apples, _ = stocked
    cart_uuid = shopper.cart_with(store, [(apples, "1")])

    with django_assert_max_num_queries(24):
        response = shopper.checkout(cart_uuid)

    assert response.status_code == 201, response.json()
    assert response.json()["order"]["state"] == "paid"
    assert response.json()["payment"]["state"] == "succeeded"


@pytest.mark.django_db
def test_each_further_line_costs_at_most_one_query(store, shopper, make_store_product):
    products = []
    for _ in range(6):
        product = make_store_product(list_price=D("3.00"))
        stock_receive(store_product=product, quantity=20)
        products.append(product)

    counts = []
    for size in (3, 6):
        cart_uuid = shopper.cart_with(store, [(p, "1") for p in products[:size]])
        with CaptureQueriesContext(connection) as queries:
            response = shopper.checkout(cart_uuid)
        assert response.status_code == 201, response.json()
        counts.append(len(queries))

    assert counts[1] - counts[0] <= 3, counts
