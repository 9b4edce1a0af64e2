"""price(): rules from the database, the store's local weekday and hour, the
price the hour began with, and agreement with the job."""

import datetime as dt
from decimal import Decimal

import pytest

from inventory.models import StoreProduct
from inventory.weather import FixedWeatherProvider
from pricing.errors import StoreProductNotPriced
from pricing.models import PriceExemption, PriceRule
from pricing.selectors import price, price_preview, rulebook_load
from pricing.services import store_reprice
from tests.factories import CategoryFactory, ProductFactory, StoreFactory
from tests.pricing.conftest import make_rule, price_settings

pytestmark = pytest.mark.django_db

D = Decimal
UTC = dt.UTC
# Monday 2 June 2025, 23:30 UTC: Tuesday 07:30 in Shanghai (UTC+8).
MONDAY_LATE_UTC = dt.datetime(2025, 6, 2, 23, 30, tzinfo=UTC)


@pytest.fixture
def fruit():
    return CategoryFactory(slug="fruit", name="Fruit")


def day_and_hour_rules(store):
    price_settings(store, max_step_percent="100")
    make_rule(store, weekdays={0: "0.80", 1: "1.10"}, hours={7: "1.05", 23: "0.50"})


def test_weekday_and_hour_are_the_store_local_ones(store, make_store_product):
    """A store in UTC+8 at 23:30 UTC on Monday is at 07:30 on Tuesday."""
    apples = make_store_product(list_price=D("10.00"), unit_cost=D("1.00"))
    day_and_hour_rules(store)

    result = price(store, apples, MONDAY_LATE_UTC)

    # Tuesday x1.10, 07:00 x1.05 = 11.55 -> 11.60
    assert result.amount == D("11.60")
    assert result.reasons == ("weekday Tue x1.1 (store)", "hour 07:00 x1.05 (store)")


def test_the_same_moment_in_a_utc_store_is_still_monday_night(make_store_product):
    london = StoreFactory(code="LDN1", time_zone="UTC")
    apples = make_store_product(
        store=london, list_price=D("10.00"), unit_cost=D("1.00")
    )
    day_and_hour_rules(london)

    result = price(london, apples, MONDAY_LATE_UTC)

    assert result.amount == D("4.00")  # Monday x0.80, 23:00 x0.50
    assert result.reasons == ("weekday Mon x0.8 (store)", "hour 23:00 x0.5 (store)")


def test_the_job_and_price_agree_in_local_time(
    store, make_store_product, clear_weather
):
    apples = make_store_product(list_price=D("10.00"), unit_cost=D("1.00"))
    day_and_hour_rules(store)
    store_reprice(store=store, now=MONDAY_LATE_UTC, provider=clear_weather)
    assert StoreProduct.objects.get(pk=apples.pk).shelf_price == D("11.60")
    # after the job, the hour still starts from the old price: same answer
    assert price(store, apples, MONDAY_LATE_UTC).amount == D("11.60")
    assert price(store, apples.product, MONDAY_LATE_UTC).amount == D("11.60")


def test_rule_scopes_combine_from_the_database(
    store, fruit, make_store_product, rainy_weather
):
    """Per factor the narrowest scope wins; the winners multiply."""
    price_settings(store, max_step_percent="100", max_uplift="2")
    apples = make_store_product(
        product=ProductFactory(sku="APL", category=fruit), list_price=D("10.00")
    )
    pears = make_store_product(
        product=ProductFactory(sku="PER", category=fruit), list_price=D("10.00")
    )
    bread = make_store_product(product=ProductFactory(sku="BRD"), list_price=D("10.00"))
    make_rule(store, weekdays={1: "1.20"}, hours={7: "1.10"}, weather={"rain": "1.10"})
    make_rule(store, category=fruit, weekdays={1: "0.90"})
    make_rule(
        store, product=apples.product, hours={7: "1.00"}, weather={"rain": "0.95"}
    )
    make_rule(store, product=bread.product, weekdays={1: "1.50"})
    inactive = make_rule(store, category=CategoryFactory(slug="bakery"), hours={7: "3"})
    PriceRule.objects.filter(pk=inactive.pk).update(is_active=False)
    store_reprice(store=store, now=MONDAY_LATE_UTC, provider=rainy_weather)

    def at(sp):
        return price(store, sp, MONDAY_LATE_UTC)

    # apples: 0.90 (category) x 1.00 (own hour) x 0.95 (own rain) = 8.55 -> 8.60
    assert at(apples).amount == D("8.60")
    assert at(apples).reasons == (
        "weekday Tue x0.9 (category fruit)",
        "rain x0.95 (product APL)",
    )
    # pears: 0.90 x 1.10 (store hour) x 1.10 (store rain) = 10.89 -> 10.90
    assert at(pears).amount == D("10.90")
    # bread: 1.50 (own weekday) x 1.10 x 1.10 = 18.15 -> 18.20
    assert at(bread).amount == D("18.20")
    shelf = dict(StoreProduct.objects.values_list("product__sku", "shelf_price"))
    assert shelf == {"APL": D("8.60"), "PER": D("10.90"), "BRD": D("18.20")}


def test_rules_and_exemptions_load_in_a_fixed_number_of_queries(
    store, fruit, django_assert_num_queries
):
    make_rule(store, weekdays={1: "1.2"})
    make_rule(store, category=fruit, hours={3: "1.1"}, weather={"snow": "1.2"})
    PriceExemption.objects.create(store=store, category=fruit)
    with django_assert_num_queries(4):
        book = rulebook_load(store=store)
    assert book.exempt_categories == {fruit.pk: False}
    assert book.store_rule.weekday == {1: D("1.2")}


def test_a_product_the_store_does_not_sell_is_refused(store):
    other = StoreFactory(code="BJ01")
    elsewhere = StoreProduct.objects.create(
        store=other,
        product=ProductFactory(),
        list_price=D("5.00"),
        shelf_price=D("5.00"),
        unit_cost=D("2.00"),
    )
    with pytest.raises(StoreProductNotPriced) as refused:
        price(store, elsewhere, MONDAY_LATE_UTC)
    assert refused.value.extra == {"field": "product"}
    with pytest.raises(StoreProductNotPriced):
        price(store, elsewhere.product, MONDAY_LATE_UTC)


def test_the_preview_covers_the_coming_week_hour_by_hour(store, make_store_product):
    apples = make_store_product(list_price=D("10.00"), unit_cost=D("5.00"))
    make_rule(store, weekdays={1: "1.10"}, weather={"rain": "1.05"})
    two_days_of_rain = FixedWeatherProvider(
        condition="rain", temperature=D("12"), precipitation=D("2"), forecast_hours=48
    )
    store_reprice(store=store, now=MONDAY_LATE_UTC, provider=two_days_of_rain)
    apples.refresh_from_db()
    assert apples.shelf_price == D("11.00")  # Tuesday and rain, step-limited

    hours = price_preview(store_product=apples, start=MONDAY_LATE_UTC)

    assert len(hours) == 168
    assert hours[0].starts == dt.datetime(2025, 6, 3, 8, tzinfo=store.tz)
    # Tuesday in the rain: 11.55 is within a step of 11.00 -> 11.60 (step 0.10)
    assert (hours[0].amount, hours[0].weather) == (D("11.60"), "rain 12.0°C")
    # Wednesday 00:00 local: no weekday factor, rain only: 10.50
    wednesday = hours[16]
    assert wednesday.starts.hour == 0
    assert wednesday.amount == D("10.50")
    # beyond the stored forecast (48 hours) the weather is neutral
    assert [h.weather for h in hours[47:49]] == ["rain 12.0°C", "no forecast: neutral"]
