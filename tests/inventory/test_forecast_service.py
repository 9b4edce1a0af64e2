"""The weekly refit, the nightly predict, fallbacks, reruns, the demo history
and the backtest, on a small store in the test database."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from inventory.forecast.backtest import backtest_run
from inventory.forecast.demo_history import demo_history_generate
from inventory.forecast.models import (
    DailySales,
    DemandForecast,
    FittedModel,
    ForecastRun,
    RunKind,
    RunState,
)
from inventory.forecast.service import forecast_predict, forecast_refit
from inventory.weather import StoreWeather
from tests.factories import CategoryFactory, ProductFactory, StoreFactory

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 11, 20)
# 03:00 in Shanghai that day: the history ends the night before.
NOW = dt.datetime(2026, 11, 19, 19, 0, tzinfo=dt.UTC)


@pytest.fixture
def shop():
    """A store of six products in two categories with 120 days of demo history."""
    from inventory.services import store_product_create

    store = StoreFactory(code="FC01")
    fruit = CategoryFactory(slug="fruit", name="Fruit")
    drinks = CategoryFactory(slug="drinks", name="Drinks")
    for i in range(6):
        store_product_create(
            store=store,
            product=ProductFactory(
                sku=f"FC-{i:03d}", category=fruit if i < 3 else drinks
            ),
            list_price=Decimal("12.00"),
            unit_cost=Decimal("7.00"),
        )
    demo_history_generate(store=store, days=120, seed=4, now=NOW)
    return store


def test_demo_history_is_deterministic_and_a_rerun_replaces(shop):
    rows = list(
        DailySales.objects.order_by("store_product_id", "day").values_list(
            "store_product_id", "day", "quantity", "sold_out", "source"
        )
    )
    assert len(rows) == 6 * 120
    assert rows[-1][1] == TODAY - dt.timedelta(days=1)
    assert {r[4] for r in rows} == {"demo"}
    demo_history_generate(store=shop, days=120, seed=4, now=NOW)
    again = list(
        DailySales.objects.order_by("store_product_id", "day").values_list(
            "store_product_id", "day", "quantity", "sold_out", "source"
        )
    )
    assert again == rows
    assert StoreWeather.objects.filter(store=shop, is_forecast=True).exists()
    assert (
        StoreWeather.objects.filter(store=shop, is_forecast=False).count() >= 120 * 24
    )


def test_seed_demo_history_refuses_an_unknown_store(shop):
    before = DailySales.objects.count()
    with pytest.raises(CommandError, match="no store with code 'XX99'"):
        call_command("seed_demo_history", "--store", "XX99")
    assert DailySales.objects.count() == before


def test_refit_then_predict_writes_a_week_per_product_and_a_rerun_replaces(shop):
    refit = forecast_refit(store=shop, origin=TODAY)
    assert refit.state == RunState.DONE
    assert refit.series == 6
    assert FittedModel.objects.filter(is_current=True).count() == 6
    methods = set(FittedModel.objects.values_list("method", flat=True))
    assert methods  # every series got a method and a reason
    assert all(FittedModel.objects.values_list("reason", flat=True))

    run = forecast_predict(store=shop, origin=TODAY)
    assert run.state == RunState.DONE
    assert (run.series, run.failures) == (6, 0)
    forecasts = DemandForecast.objects.filter(run=run)
    assert forecasts.count() == 6 * 7
    assert {f.day for f in forecasts} == {
        TODAY + dt.timedelta(days=i) for i in range(7)
    }
    assert all(f.lower <= f.quantity <= f.upper for f in forecasts)

    # The same night again: the same run row, the same 42 forecasts.
    again = forecast_predict(store=shop, origin=TODAY)
    assert again.pk == run.pk
    assert DemandForecast.objects.count() == 6 * 7
    assert ForecastRun.objects.filter(kind=RunKind.PREDICT).count() == 1

    # A second refit for another week adds version 2 and keeps one current.
    forecast_refit(store=shop, origin=TODAY + dt.timedelta(days=7))
    sp = FittedModel.objects.first().store_product_id
    versions = FittedModel.objects.filter(store_product_id=sp)
    assert sorted(versions.values_list("version", flat=True)) == [1, 2]
    assert versions.get(is_current=True).version == 2


def test_the_forecast_command_refits_and_predicts_now(shop, capsys):
    call_command("forecast", "--store", "fc01", "--refit", "--origin", "2026-11-20")
    out = capsys.readouterr().out
    assert FittedModel.objects.filter(is_current=True).count() == 6
    assert DemandForecast.objects.filter(made_on=TODAY).count() == 6 * 7
    lines = out.strip().splitlines()
    assert lines[0].startswith("FC01: refit done: 6 series, 0 fallbacks, 0 failures")
    assert lines[1].startswith("FC01: predict done: 6 series")


def test_the_forecast_command_refuses_a_bad_store_or_day(shop):
    with pytest.raises(CommandError, match="no store with code 'XX99'"):
        call_command("forecast", "--store", "XX99")
    with pytest.raises(CommandError, match="'tomorrow' is not a date"):
        call_command("forecast", "--store", "FC01", "--origin", "tomorrow")
    assert not ForecastRun.objects.exists()


def test_a_failing_model_falls_back_and_is_counted_without_failing_the_run(shop):
    forecast_refit(store=shop, origin=TODAY)
    broken = FittedModel.objects.order_by("store_product_id").first()
    FittedModel.objects.filter(pk=broken.pk).update(
        method="prophet", payload="{not json"
    )

    run = forecast_predict(store=shop, origin=TODAY)

    assert run.state == RunState.DONE
    assert (run.series, run.fallbacks, run.failures) == (6, 1, 0)
    assert str(broken.store_product_id) in run.detail["fallback_list"][0]
    fallen = DemandForecast.objects.filter(store_product_id=broken.store_product_id)
    assert fallen.count() == 7
    assert {f.method for f in fallen} == {"ets"}


def test_the_nightly_run_records_yesterdays_accuracy(shop):
    yesterday = TODAY - dt.timedelta(days=1)
    forecast_refit(store=shop, origin=yesterday - dt.timedelta(days=1))
    forecast_predict(store=shop, origin=yesterday)
    made = {
        f.store_product_id: f.quantity
        for f in DemandForecast.objects.filter(day=yesterday)
    }
    sales = {s.store_product_id: s for s in DailySales.objects.filter(day=yesterday)}
    counted = [pk for pk in made if not sales[pk].sold_out]
    actual = sum(float(sales[pk].quantity) for pk in counted)
    error = sum(abs(float(made[pk]) - float(sales[pk].quantity)) for pk in counted)
    bias = sum(float(made[pk]) - float(sales[pk].quantity) for pk in counted)

    run = forecast_predict(store=shop, origin=TODAY)

    assert run.accuracy_wape == pytest.approx(error / actual)
    assert run.accuracy_bias == pytest.approx(bias / actual)
    assert run.detail["accuracy"]["series"] == len(counted)


def test_backtest_reports_a_table_per_category(shop):
    run = backtest_run(store=shop, weeks=2, today=TODAY)
    assert run.kind == RunKind.BACKTEST
    table = run.detail["table"]
    assert set(table) == {"drinks", "fruit", "overall"}
    for row in table.values():
        for column in ("mix", "prophet_plain", "seasonal_naive"):
            assert row[f"{column}_wape"] >= 0
    assert run.accuracy_wape == table["overall"]["mix_wape"]
    # Two weekly origins of 7 days for six products, less the sold-out days.
    assert table["overall"]["days"] <= 6 * 14
    assert table["overall"]["days"] >= 6 * 14 * 0.8
