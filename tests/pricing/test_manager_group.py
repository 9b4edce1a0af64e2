"""The "Store managers" group (seed_demo) reaches the pricing screens, scoped to
the manager's stores: rules, settings, exemptions and markdown floors are set
there; price changes, runs, markdown steps and store weather are read there."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from inventory.weather import StoreWeather, WeatherCondition
from pricing.models import (
    MarkdownFloor,
    MarkdownStep,
    PriceChange,
    PriceExemption,
    PriceRule,
    RepricingRun,
)
from tests.demo_manager import demo_manager, signed_in
from tests.factories import CategoryFactory, StoreFactory
from tests.pricing.conftest import make_rule, price_settings

pytestmark = pytest.mark.django_db
D = Decimal
NOW = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def beijing():
    return StoreFactory(code="BJ01", name="Beijing")


def rows_of(store, apples):
    """One row of every pricing model in ``store``."""
    category = CategoryFactory(name=f"Fruit {store.code}")
    run = RepricingRun.objects.create(
        store=store, trigger="hourly", priced_at=NOW, started_at=NOW
    )
    return {
        "pricerule": make_rule(
            store, name=f"{store.code} weekend", weekdays={5: "1.05"}
        ),
        "storepricesettings": price_settings(store, max_step_percent=10),
        "priceexemption": PriceExemption.objects.create(
            store=store, category=category, note=f"{store.code} staples"
        ),
        "markdownfloor": MarkdownFloor.objects.create(
            store=store, category=category, floor=D("0.40")
        ),
        "repricingrun": run,
        "pricechange": PriceChange.objects.create(
            store=store,
            store_product=apples,
            run=run,
            kind="rule",
            old_price=D("10.00"),
            new_price=D("10.50"),
            changed_at=NOW,
        ),
        "markdownstep": MarkdownStep.objects.create(
            store=store,
            store_product=apples,
            trading_day=NOW.date(),
            percent=D("10"),
            stock_left=D("3"),
            expected_demand=D("1"),
            decided_at=NOW,
        ),
        "storeweather": StoreWeather.objects.create(
            store=store,
            hour=NOW,
            temperature=D("12.0"),
            precipitation=D("0"),
            condition=WeatherCondition.CLEAR,
            is_forecast=False,
            fetched_at=timezone.now(),
        ),
    }


def url(name: str, pk=None, action="change") -> str:
    app = "inventory" if name == "storeweather" else "pricing"
    if pk is None:
        return f"/admin/{app}/{name}/"
    return f"/admin/{app}/{name}/{pk}/{action}/"


@pytest.fixture
def two_stores(store, beijing, make_store_product):
    ours = rows_of(store, make_store_product(list_price=D("10.00")))
    theirs = rows_of(beijing, make_store_product(store=beijing, list_price=D("9.00")))
    return ours, theirs


def test_the_demo_manager_sees_every_pricing_screen_of_their_store(store, two_stores):
    ours, _ = two_stores
    client = signed_in(demo_manager(store))

    index = client.get("/admin/").content.decode()
    for title in (
        "Price rules",
        "Store price settings",
        "Price exemptions",
        "Markdown floors",
        "Price changes",
        "Repricing runs",
        "Markdown steps",
        "Store weather",
    ):
        assert title in index, title
    for name, row in ours.items():
        listing = client.get(url(name))
        assert listing.status_code == 200, name
        # Only the manager's own rows are listed.
        shown = {obj.pk for obj in listing.context["cl"].result_list}
        assert shown == {row.pk}, name
        assert client.get(url(name, row.pk)).status_code == 200, name


def test_another_stores_pricing_rows_answer_403(store, two_stores):
    _, theirs = two_stores
    client = signed_in(demo_manager(store))

    for name, row in theirs.items():
        assert client.get(url(name, row.pk)).status_code == 403, name


def test_the_manager_edits_rules_and_settings_but_only_reads_what_jobs_wrote(
    store, two_stores
):
    ours, _ = two_stores
    client = signed_in(demo_manager(store))

    for name in ("pricerule", "priceexemption", "markdownfloor"):
        page = client.get(url(name, ours[name].pk))
        assert "Save and continue editing" in page.content.decode(), name
        assert client.get(f"{url(name)}add/").status_code == 200, name
    for name in ("pricechange", "repricingrun", "markdownstep", "storeweather"):
        page = client.get(url(name, ours[name].pk))
        assert 'name="_save"' not in page.content.decode(), name
        assert client.get(f"{url(name)}add/").status_code == 403, name
    # Nobody's rule is deleted by a manager: they switch it off.
    assert (
        client.get(url("pricerule", ours["pricerule"].pk, "delete")).status_code == 403
    )


def test_the_manager_adds_a_rule_to_their_store_and_not_to_another(store, beijing):
    client = signed_in(demo_manager(store))
    form = {
        "name": "Friday evening",
        "is_active": "on",
        "weekday_factors-TOTAL_FORMS": "1",
        "weekday_factors-INITIAL_FORMS": "0",
        "weekday_factors-0-weekday": "4",
        "weekday_factors-0-factor": "1.05",
        "hour_factors-TOTAL_FORMS": "0",
        "hour_factors-INITIAL_FORMS": "0",
        "weather_factors-TOTAL_FORMS": "0",
        "weather_factors-INITIAL_FORMS": "0",
    }

    refused = client.post(
        "/admin/pricing/pricerule/add/", {**form, "store": beijing.pk}
    )
    saved = client.post("/admin/pricing/pricerule/add/", {**form, "store": store.pk})

    assert refused.status_code == 200
    assert "Select a valid choice" in refused.content.decode()
    assert saved.status_code == 302
    rule = PriceRule.objects.get()
    assert (rule.store, rule.name) == (store, "Friday evening")
    assert [(f.weekday, f.factor) for f in rule.weekday_factors.all()] == [
        (4, D("1.05"))
    ]
