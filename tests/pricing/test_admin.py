"""The managers' screens: rules with history, the week preview, the 7-day
history chart, runs and store weather; a manager sees only their stores."""

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from accounts.models import User
from inventory.models import StaffRole
from inventory.weather import FixedWeatherProvider, StoreWeather, store_weather_refresh
from pricing.models import PriceChange, PriceRule, StorePriceSettings
from pricing.services import store_reprice
from tests.factories import StoreFactory, StoreStaffFactory, UserFactory
from tests.pricing.conftest import make_rule

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.fixture
def boss() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("boss@hema.test", "pw-123456"))
    return client


@pytest.fixture
def apples(make_store_product):
    return make_store_product(list_price=D("10.00"), unit_cost=D("5.00"))


@pytest.fixture
def beijing_pears(make_store_product):
    return make_store_product(
        store=StoreFactory(code="BJ01", name="Beijing"), list_price=D("12.00")
    )


def manager_of(store) -> Client:
    user = UserFactory(is_staff=True)
    StoreStaffFactory(user=user, store=store, role=StaffRole.MANAGER)
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="pricing")
    )
    client = Client()
    client.force_login(user)
    return client


def test_a_rule_with_its_factors_is_saved_and_its_history_kept(boss, store):
    response = boss.post(
        "/admin/pricing/pricerule/add/",
        {
            "store": store.pk,
            "name": "Weekend",
            "is_active": "on",
            "weekday_factors-TOTAL_FORMS": "1",
            "weekday_factors-INITIAL_FORMS": "0",
            "weekday_factors-0-weekday": "5",
            "weekday_factors-0-factor": "1.05",
            "hour_factors-TOTAL_FORMS": "0",
            "hour_factors-INITIAL_FORMS": "0",
            "weather_factors-TOTAL_FORMS": "1",
            "weather_factors-INITIAL_FORMS": "0",
            "weather_factors-0-condition": "hot",
            "weather_factors-0-threshold": "32.0",
            "weather_factors-0-factor": "1.08",
        },
    )
    assert response.status_code == 302
    rule = PriceRule.objects.get()
    assert [(f.weekday, f.factor) for f in rule.weekday_factors.all()] == [
        (5, D("1.050"))
    ]
    assert [(f.condition, f.threshold) for f in rule.weather_factors.all()] == [
        ("hot", D("32.0"))
    ]
    assert rule.history.count() == 1
    assert rule.history.get().history_user.email == "boss@hema.test"
    history = boss.get(f"/admin/pricing/pricerule/{rule.pk}/history/")
    assert history.status_code == 200


def test_a_hot_rule_without_a_threshold_is_refused(boss, store):
    response = boss.post(
        "/admin/pricing/pricerule/add/",
        {
            "store": store.pk,
            "is_active": "on",
            "weekday_factors-TOTAL_FORMS": "0",
            "weekday_factors-INITIAL_FORMS": "0",
            "hour_factors-TOTAL_FORMS": "0",
            "hour_factors-INITIAL_FORMS": "0",
            "weather_factors-TOTAL_FORMS": "1",
            "weather_factors-INITIAL_FORMS": "0",
            "weather_factors-0-condition": "hot",
            "weather_factors-0-factor": "1.08",
        },
    )
    assert response.status_code == 200  # the form again, with the error
    assert PriceRule.objects.count() == 0


def test_price_settings_changes_are_kept(boss, store):
    settings = StorePriceSettings.objects.create(store=store)
    settings.max_uplift = D("1.100")
    settings.save()
    assert [h.max_uplift for h in settings.history.order_by("history_date")] == [
        D("1.200"),
        D("1.100"),
    ]


def test_the_preview_shows_the_coming_week(boss, store, apples):
    make_rule(store, weekdays={5: "1.05"})
    response = boss.get(
        "/admin/pricing/pricerule/preview/",
        {"store": "sh01", "sku": apples.product.sku},
    )
    assert response.status_code == 200
    assert len(response.context["hours"]) == 168
    content = response.content.decode()
    assert "<svg" in content
    assert content.count("<tr><td>") == 168
    # the rows are in the store's local time (UTC+8), not the server's UTC
    first = response.context["hours"][0].starts
    assert first.utcoffset() == dt.timedelta(hours=8)
    assert f"<tr><td>{first:%a %d %b %H:%M}</td>" in content


def test_the_preview_of_an_unknown_product_says_so(boss, store):
    response = boss.get(
        "/admin/pricing/pricerule/preview/", {"store": "SH01", "sku": "NOPE"}
    )
    assert response.status_code == 200
    assert response.context["error"] == "No such product in that store."


def test_the_history_page_charts_the_last_seven_days(boss, store, apples):
    now = timezone.now()
    for days_ago, old, new in [
        (9, "10.00", "9.00"),
        (3, "9.00", "9.50"),
        (1, "9.50", "9.90"),
    ]:
        PriceChange.objects.create(
            store=store,
            store_product=apples,
            kind="rules",
            old_price=D(old),
            new_price=D(new),
            reasons=["weekday Sat x0.95 (store)"],
            changed_at=now - dt.timedelta(days=days_ago),
        )
    response = boss.get(f"/admin/pricing/pricechange/product/{apples.pk}/")
    assert response.status_code == 200
    assert response.context["opening"] == D("9.00")
    assert [c.new_price for c in response.context["changes"]] == [D("9.90"), D("9.50")]
    assert "<svg" in response.content.decode()


def test_the_run_and_weather_lists_open(boss, store, apples):
    store_weather_refresh(store=store, provider=FixedWeatherProvider(forecast_hours=3))
    store_reprice(store=store, provider=FixedWeatherProvider(forecast_hours=3))
    assert boss.get("/admin/pricing/repricingrun/").status_code == 200
    assert boss.get("/admin/inventory/storeweather/").status_code == 200
    assert boss.get("/admin/pricing/pricechange/").status_code == 200
    assert StoreWeather.objects.filter(store=store).count() == 4


def test_a_manager_sees_only_the_rules_of_their_store(store, beijing_pears):
    make_rule(store, name="Shanghai weekend", weekdays={5: "1.05"})
    make_rule(beijing_pears.store, name="Beijing weekend", weekdays={5: "1.05"})
    client = manager_of(store)
    response = client.get("/admin/pricing/pricerule/")
    assert response.status_code == 200
    names = [rule.name for rule in response.context["cl"].result_list]
    assert names == ["Shanghai weekend"]


def test_a_manager_cannot_open_another_store_product(store, apples, beijing_pears):
    client = manager_of(store)
    assert (
        client.get(f"/admin/pricing/pricechange/product/{apples.pk}/").status_code
        == 200
    )
    refused = client.get(f"/admin/pricing/pricechange/product/{beijing_pears.pk}/")
    assert refused.status_code == 404
    preview = client.get(
        "/admin/pricing/pricerule/preview/", {"store_product": beijing_pears.pk}
    )
    assert preview.status_code == 404


def test_a_manager_cannot_add_a_rule_to_another_store(store, beijing_pears):
    client = manager_of(store)
    response = client.post(
        "/admin/pricing/pricerule/add/",
        {
            "store": beijing_pears.store.pk,
            "is_active": "on",
            "weekday_factors-TOTAL_FORMS": "0",
            "weekday_factors-INITIAL_FORMS": "0",
            "hour_factors-TOTAL_FORMS": "0",
            "hour_factors-INITIAL_FORMS": "0",
            "weather_factors-TOTAL_FORMS": "0",
            "weather_factors-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert "store" in response.context["adminform"].form.errors
    assert PriceRule.objects.count() == 0
