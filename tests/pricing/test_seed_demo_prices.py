import datetime as dt
from unittest import mock

import pytest
from django.core.management import call_command
from django.utils import timezone

from inventory.models import StoreProduct
from pricing.models import PriceChange, PriceExemption, PriceRule

pytestmark = pytest.mark.django_db

# Monday 2026-11-23 18:10 in Shanghai: hour 18 carries the demo's 1.05.
EVENING_RUSH = dt.datetime(2026, 11, 23, 10, 10, tzinfo=dt.UTC)


def test_demo_price_rules_are_idempotent_and_move_the_shelf_prices():
    call_command("seed_demo", stdout=mock.Mock())
    with mock.patch.object(timezone, "now", return_value=EVENING_RUSH):
        call_command("seed_demo_prices", stdout=mock.Mock())
        rules = PriceRule.objects.count()
        changes = PriceChange.objects.count()
        call_command("seed_demo_prices", stdout=mock.Mock())

    assert PriceRule.objects.count() == rules == 2 * 6
    assert PriceExemption.objects.count() == 2 * 3
    assert PriceChange.objects.count() == changes > 0
    apples = StoreProduct.objects.get(store__code="SH01", product__sku="FRU-0001")
    assert apples.shelf_price > apples.list_price
