"""A manager's pricing screens stay in their stores, history pages included:
django-simple-history falls back to the historical row when the live one is
outside the admin's queryset, so the object-level checks must refuse it."""

from decimal import Decimal

import pytest

from pricing.models import MarkdownFloor, PriceRule, StorePriceSettings
from tests.factories import CategoryFactory, StoreFactory
from tests.pricing.conftest import make_rule
from tests.pricing.test_admin import manager_of

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.fixture
def beijing():
    return StoreFactory(code="BJ01", name="Beijing")


def test_a_manager_cannot_read_another_stores_rule_history(store, beijing):
    theirs = make_rule(beijing, name="Beijing weekend", weekdays={5: "1.05"})
    version = theirs.history.get()
    client = manager_of(store)

    assert client.get(f"/admin/pricing/pricerule/{theirs.pk}/history/").status_code in (
        403,
        404,
    )
    page = client.get(
        f"/admin/pricing/pricerule/{theirs.pk}/history/{version.history_id}/"
    )
    assert page.status_code in (403, 404)


@pytest.mark.parametrize("posted_store", ["beijing", "store"])
def test_a_manager_cannot_revert_another_stores_rule(store, beijing, posted_store):
    """Neither back to its old version nor into the manager's own store."""
    theirs = make_rule(beijing, name="Beijing weekend", weekdays={5: "1.05"})
    first = theirs.history.get()
    theirs.name = "Beijing weekend, renamed"
    theirs.is_active = False
    theirs.save()
    client = manager_of(store)

    response = client.post(
        f"/admin/pricing/pricerule/{theirs.pk}/history/{first.history_id}/",
        {
            "store": {"beijing": beijing, "store": store}[posted_store].pk,
            "name": "Beijing weekend",
            "is_active": "on",
            "weekday_factors-TOTAL_FORMS": "0",
            "weekday_factors-INITIAL_FORMS": "0",
            "hour_factors-TOTAL_FORMS": "0",
            "hour_factors-INITIAL_FORMS": "0",
            "weather_factors-TOTAL_FORMS": "0",
            "weather_factors-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code in (403, 404)
    theirs.refresh_from_db()
    assert (theirs.store_id, theirs.name, theirs.is_active) == (
        beijing.pk,
        "Beijing weekend, renamed",
        False,
    )
    assert theirs.history.count() == 2


def test_a_manager_cannot_read_another_stores_settings_or_floor_history(store, beijing):
    settings = StorePriceSettings.objects.create(store=beijing)
    floor = MarkdownFloor.objects.create(
        store=beijing, category=CategoryFactory(), floor=D("0.500")
    )
    client = manager_of(store)
    for url in (
        f"/admin/pricing/storepricesettings/{settings.pk}/history/",
        f"/admin/pricing/storepricesettings/{settings.pk}/history/"
        f"{settings.history.get().history_id}/",
        f"/admin/pricing/markdownfloor/{floor.pk}/history/",
    ):
        assert client.get(url).status_code in (403, 404), url


def test_a_manager_still_reads_and_reverts_their_own_rule(store):
    mine = make_rule(store, name="Shanghai weekend", weekdays={5: "1.05"})
    first = mine.history.get()
    mine.name = "renamed"
    mine.save()
    client = manager_of(store)

    assert client.get(f"/admin/pricing/pricerule/{mine.pk}/history/").status_code == (
        200
    )
    response = client.post(
        f"/admin/pricing/pricerule/{mine.pk}/history/{first.history_id}/",
        {
            "store": store.pk,
            "name": "Shanghai weekend",
            "is_active": "on",
            "weekday_factors-TOTAL_FORMS": "0",
            "weekday_factors-INITIAL_FORMS": "0",
            "hour_factors-TOTAL_FORMS": "0",
            "hour_factors-INITIAL_FORMS": "0",
            "weather_factors-TOTAL_FORMS": "0",
            "weather_factors-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302
    assert PriceRule.objects.get(pk=mine.pk).name == "Shanghai weekend"
