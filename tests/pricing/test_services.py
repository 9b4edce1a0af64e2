"""The repricing job: history rows, idempotency, weather fallback, query count."""

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from inventory.models import StoreProduct
from inventory.services import shelf_prices_set
from inventory.weather import OpenMeteoProvider, StoreWeather
from pricing.models import (
    PriceChange,
    PriceChangeKind,
    RepricingRun,
    RunState,
    RunTrigger,
)
from pricing.services import store_reprice, store_weather_watch
from tests.factories import CategoryFactory, ProductFactory, StoreFactory
from tests.pricing.conftest import make_rule, price_settings

pytestmark = pytest.mark.django_db

D = Decimal
UTC = dt.UTC
# Saturday 2025-06-07 10:20 UTC is 18:20 in Shanghai.
SAT_EVENING = dt.datetime(2025, 6, 7, 10, 20, tzinfo=UTC)


@pytest.fixture
def fruit():
    return CategoryFactory(slug="fruit", name="Fruit")


@pytest.fixture
def dairy():
    return CategoryFactory(slug="dairy", name="Dairy")


@pytest.fixture
def shelf(store, fruit, dairy, make_store_product):
    """Three products: apples and pears (fruit), milk (dairy, a staple)."""
    return {
        "apples": make_store_product(
            product=ProductFactory(sku="APL", category=fruit),
            list_price=D("10.00"),
            unit_cost=D("5.00"),
        ),
        "pears": make_store_product(
            product=ProductFactory(sku="PER", category=fruit),
            list_price=D("20.00"),
            unit_cost=D("9.00"),
        ),
        "milk": make_store_product(
            product=ProductFactory(sku="MLK", category=dairy),
            list_price=D("4.50"),
            unit_cost=D("3.00"),
        ),
    }


def shelf_prices(shelf) -> dict[str, Decimal]:
    return {
        name: StoreProduct.objects.get(pk=sp.pk).shelf_price
        for name, sp in shelf.items()
    }


class TimingOut:
    """The urlopen boundary of a provider that never answers in time."""

    def __init__(self):
        self.calls = 0

    def __call__(self, request, timeout=None):
        self.calls += 1
        raise TimeoutError("timed out")


def test_a_run_writes_changed_prices_with_their_history(
    store, shelf, fruit, clear_weather
):
    price_settings(store, max_step_percent="50")
    make_rule(store, weekdays={5: "1.10"}, hours={18: "1.05"})
    make_rule(store, category=fruit, weekdays={5: "0.90"})
    make_rule(store, product=shelf["milk"].product, hours={18: "1.00"})

    run = store_reprice(
        store=store, trigger=RunTrigger.HOURLY, now=SAT_EVENING, provider=clear_weather
    )

    # fruit: 0.90 (category wins Saturday) x 1.05 (store hour);
    # milk: 1.10 (store Saturday), hour 1.00 at its own scope
    assert shelf_prices(shelf) == {
        "apples": D("9.50"),  # 9.45 -> 9.50
        "pears": D("18.90"),
        "milk": D("5.00"),  # 4.95 -> 5.00
    }
    assert (run.state, run.products_priced, run.prices_changed) == (RunState.DONE, 3, 3)
    assert run.weather_source == "observation"
    change = PriceChange.objects.get(store_product=shelf["apples"])
    assert (change.old_price, change.new_price, change.kind, change.changed_at) == (
        D("10.00"),
        D("9.50"),
        PriceChangeKind.RULES,
        SAT_EVENING,
    )
    assert change.reasons == [
        "weekday Sat x0.9 (category fruit)",
        "hour 18:00 x1.05 (store)",
    ]
    assert change.run == run


def test_only_prices_that_move_get_a_history_row(store, shelf, fruit, clear_weather):
    make_rule(store, category=fruit, weekdays={5: "0.95"})
    run = store_reprice(store=store, now=SAT_EVENING, provider=clear_weather)
    assert run.prices_changed == 2
    assert set(
        PriceChange.objects.values_list("store_product__product__sku", flat=True)
    ) == {
        "APL",
        "PER",
    }
    assert shelf_prices(shelf)["milk"] == D("4.50")


def test_the_job_run_twice_changes_nothing_the_second_time(
    store, shelf, fruit, clear_weather
):
    make_rule(store, weekdays={5: "1.30"}, hours={18: "0.95"})
    make_rule(store, category=fruit, weather={"hot": ("15.0", "1.10")})
    first = store_reprice(store=store, now=SAT_EVENING, provider=clear_weather)
    prices = shelf_prices(shelf)
    history = list(PriceChange.objects.order_by("pk").values())

    second = store_reprice(store=store, now=SAT_EVENING, provider=clear_weather)
    later = store_reprice(
        store=store, now=SAT_EVENING + dt.timedelta(minutes=25), provider=clear_weather
    )

    assert first.prices_changed == 3
    assert (second.prices_changed, later.prices_changed) == (0, 0)
    assert shelf_prices(shelf) == prices
    # the step limit (10%) held every product to one step, measured from the
    # price at the start of the hour, not from the first run's result
    # milk: 4.50 x 1.235 capped at +10% = 4.95, rounded down to 4.90 so that
    # rounding never stretches the step limit
    assert prices == {"apples": D("11.00"), "pears": D("22.00"), "milk": D("4.90")}
    assert list(PriceChange.objects.order_by("pk").values()) == history
    assert RepricingRun.objects.filter(state=RunState.DONE).count() == 3


def test_the_next_hour_takes_the_next_step(store, shelf, clear_weather):
    make_rule(store, weekdays={5: "1.30"})
    store_reprice(store=store, now=SAT_EVENING, provider=clear_weather)
    store_reprice(
        store=store, now=SAT_EVENING + dt.timedelta(hours=1), provider=clear_weather
    )
    assert shelf_prices(shelf)["apples"] == D("12.00")  # 11.00 -> 12.10, ceiling 12
    apples = PriceChange.objects.filter(store_product=shelf["apples"]).order_by(
        "changed_at"
    )
    assert [(c.old_price, c.new_price) for c in apples] == [
        (D("10.00"), D("11.00")),
        (D("11.00"), D("12.00")),
    ]


def test_weather_rules_apply_and_exempt_staples_stay_put(
    store, shelf, dairy, rainy_weather
):
    from pricing.models import PriceExemption

    make_rule(store, weather={"rain": "1.08"})
    PriceExemption.objects.create(store=store, category=dairy, note="staples")
    run = store_reprice(store=store, now=SAT_EVENING, provider=rainy_weather)
    assert shelf_prices(shelf) == {
        "apples": D("10.80"),
        "pears": D("21.60"),
        "milk": D("4.50"),
    }
    assert run.prices_changed == 2


def test_a_timeout_falls_back_to_a_recent_observation(
    store, shelf, monkeypatch, caplog
):
    make_rule(store, weather={"rain": "1.08"})
    StoreWeather.objects.create(
        store=store,
        hour=dt.datetime(2025, 6, 7, 8, tzinfo=UTC),
        temperature=D("16.0"),
        precipitation=D("2.00"),
        condition="rain",
        is_forecast=False,
        fetched_at=dt.datetime(2025, 6, 7, 8, 5, tzinfo=UTC),
    )
    boundary = TimingOut()
    monkeypatch.setattr("urllib.request.urlopen", boundary)
    provider = OpenMeteoProvider(retries=2, sleep=lambda seconds: None)

    run = store_reprice(store=store, now=SAT_EVENING, provider=provider)

    assert boundary.calls == 3
    assert (run.state, run.weather_source) == (RunState.DONE, "fallback")
    assert "unreachable" in run.weather_error
    assert shelf_prices(shelf)["apples"] == D("10.80")
    assert "weather for store SH01 unavailable from open-meteo" in caplog.text


def test_garbage_with_no_recent_observation_prices_with_neutral_weather(
    store, shelf, monkeypatch
):
    make_rule(store, weather={"rain": "1.08"}, weekdays={5: "1.05"})
    StoreWeather.objects.create(  # four hours old: too old to stand in
        store=store,
        hour=dt.datetime(2025, 6, 7, 6, tzinfo=UTC),
        temperature=D("16.0"),
        precipitation=D("2.00"),
        condition="rain",
        is_forecast=False,
        fetched_at=dt.datetime(2025, 6, 7, 6, 5, tzinfo=UTC),
    )
    monkeypatch.setattr(
        "urllib.request.urlopen",
        lambda request, timeout=None: io.BytesIO(b"<html>502 Bad Gateway</html>"),
    )
    provider = OpenMeteoProvider(retries=0)

    run = store_reprice(store=store, now=SAT_EVENING, provider=provider)

    assert (run.state, run.weather_source) == (RunState.DONE, "neutral")
    assert run.weather_error == "response is not JSON"
    assert shelf_prices(shelf)["apples"] == D("10.50")  # Saturday only, no rain


def test_a_markdown_run_reprices_only_daily_fresh_products(
    store, fruit, make_store_product, clear_weather
):
    bread = make_store_product(
        product=ProductFactory(sku="BRD", category=fruit, is_daily_fresh=True),
        list_price=D("8.00"),
        unit_cost=D("3.00"),
    )
    apples = make_store_product(
        product=ProductFactory(sku="APL", category=fruit), list_price=D("10.00")
    )
    make_rule(store, weekdays={5: "1.05"})
    run = store_reprice(
        store=store,
        trigger=RunTrigger.MARKDOWN,
        now=SAT_EVENING,
        provider=clear_weather,
    )
    assert run.products_priced == 1
    assert StoreProduct.objects.get(pk=bread.pk).shelf_price == D("8.40")
    assert StoreProduct.objects.get(pk=apples.pk).shelf_price == D("10.00")


def test_a_failing_run_is_recorded_as_failed(store, shelf, clear_weather, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("pricing.services.shelf_prices_set", broken)
    make_rule(store, weekdays={5: "1.05"})
    with pytest.raises(RuntimeError):
        store_reprice(store=store, now=SAT_EVENING, provider=clear_weather)
    run = RepricingRun.objects.get()
    assert run.state == RunState.FAILED
    assert "disk full" in run.error
    assert PriceChange.objects.count() == 0
    assert shelf_prices(shelf)["apples"] == D("10.00")


def test_the_query_count_does_not_grow_with_the_number_of_products(
    clear_weather, fruit
):
    def run_for(code: str, count: int) -> tuple[int, int]:
        store = StoreFactory(code=code)
        for rule_store in (store,):
            make_rule(rule_store, weekdays={5: "1.05"}, hours={18: "0.98"})
            make_rule(rule_store, category=fruit, weather={"hot": ("10.0", "1.02")})
        for index in range(count):
            daily = index % 5 == 0
            product = ProductFactory(category=fruit, is_daily_fresh=daily)
            StoreProduct.objects.create(
                store=store,
                product=product,
                list_price=D("10.00") + index,
                shelf_price=D("10.00") + index,
                unit_cost=D("4.00"),
                on_hand=D("10"),
            )
        evening = SAT_EVENING + dt.timedelta(hours=1)  # inside the markdown window
        with CaptureQueriesContext(connection) as queries:
            run = store_reprice(store=store, now=evening, provider=clear_weather)
        assert run.prices_changed == count
        return len(queries.captured_queries), run.markdowns_stepped

    small, small_steps = run_for("QC1", 5)
    large, large_steps = run_for("QC2", 60)
    assert (small_steps, large_steps) == (1, 12)
    assert small == large


def test_a_weather_change_of_class_is_noticed(
    store, shelf, clear_weather, rainy_weather
):
    make_rule(store, weather={"rain": "1.08"})

    def watch(minutes, provider):
        return store_weather_watch(
            store=store,
            now=SAT_EVENING + dt.timedelta(minutes=minutes),
            provider=provider,
        )

    # no weather yet -> clear: neither matches a rule, same class
    assert watch(0, clear_weather) is False
    assert watch(15, rainy_weather) is True
    assert watch(30, rainy_weather) is False
    assert watch(45, clear_weather) is True


def test_shelf_prices_set_refuses_bad_prices_and_changes_nothing(store, shelf):
    from hema.errors import InvalidInput

    with pytest.raises(InvalidInput) as refused:
        shelf_prices_set(
            store=store,
            prices={shelf["apples"].pk: D("9.99"), shelf["pears"].pk: D("1.005")},
        )
    assert refused.value.extra["field"] == "prices"
    assert refused.value.extra["store_product"] == shelf["pears"].pk
    assert shelf_prices(shelf)["apples"] == D("10.00")


def test_shelf_prices_set_touches_only_the_given_store(
    store, shelf, make_store_product
):
    other = StoreFactory(code="BJ02")
    foreign = make_store_product(store=other, list_price=D("7.00"))
    updated = shelf_prices_set(
        store=store,
        prices={shelf["apples"].pk: D("9.90"), foreign.pk: D("1.00")},
    )
    assert updated == 1
    assert shelf_prices(shelf)["apples"] == D("9.90")
    assert StoreProduct.objects.get(pk=foreign.pk).shelf_price == D("7.00")
