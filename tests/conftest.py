from collections.abc import Callable
from decimal import Decimal

import pytest
from django.db import connection
from rest_framework.test import APIClient

from inventory.models import StoreProduct
from inventory.selectors import stock_totals_from_ledger
from tests.factories import StoreFactory, StoreProductFactory, UserFactory

requires_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL row locks and real concurrent transactions "
    "(set DATABASE_URL to a PostgreSQL database)",
)


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def store():
    return StoreFactory(code="SH01", name="Hema Test Shanghai")


@pytest.fixture
def user():
    return UserFactory()


@pytest.fixture
def make_store_product(store) -> Callable[..., StoreProduct]:
    def make(**kwargs) -> StoreProduct:
        kwargs.setdefault("store", store)
        return StoreProductFactory(**kwargs)

    return make


def assert_ledger_matches(store_product: StoreProduct) -> None:
    """The stock ledger sums to the counts on the row."""
    store_product.refresh_from_db()
    on_hand, reserved = stock_totals_from_ledger(store_product)
    assert (on_hand, reserved) == (store_product.on_hand, store_product.reserved)
    assert store_product.on_hand >= Decimal(0)
