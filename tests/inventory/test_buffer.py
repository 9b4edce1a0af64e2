"""The online buffer from the forecast: the arithmetic, the plan from the
ledger and the forecast, the bulk service that writes it, the command and the
nightly task."""

import datetime as dt
import math
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from hema.errors import InvalidInput
from inventory.forecast.buffer import (
    busiest_window_share,
    online_buffers_plan,
    online_buffers_set,
    poisson_quantile,
    trading_day_of,
)
from inventory.forecast.models import ForecastSettings
from inventory.models import SaleUnit, StoreProduct
from inventory.services import store_product_buffers_set
from inventory.tasks import set_online_buffers_all_task
from tests.factories import ProductFactory, StoreFactory, StoreProductFactory
from tests.forecast_rows import at_local, demand_forecast, forecast_run, past_sales


@pytest.fixture
def store(store):
    """The test store with its own 08:00-22:00 hours (the factory's stores are
    open around the clock): the buffer's hour profile is flat over them."""
    store.is_24h = False
    store.save(update_fields=["is_24h"])
    return store


D = Decimal
# 02:00 on Tuesday 24 November 2026 in Shanghai: the night before trading.
NOW = dt.datetime(2026, 11, 23, 18, 0, tzinfo=dt.UTC)
DAY = dt.date(2026, 11, 24)


def poisson_cdf_quantile(mean: float, level: float) -> int:
    """The same quantile the plain way (p(k) = p(k-1) x mean / k from e^-mean),
    to check the log-space one."""
    term = total = math.exp(-mean)
    k = 0
    while total < level:
        k += 1
        term *= mean / k
        total += term
    return k


# --- The arithmetic -------------------------------------------------------------


@pytest.mark.parametrize(
    ("mean", "level", "expected"),
    [(0.0, 0.9, 0), (0.1, 0.9, 0), (1.5, 0.9, 3), (7.5, 0.9, 11), (15, 0.9, 20)],
)
def test_poisson_quantile_known_values(mean, level, expected):
    assert poisson_quantile(mean, level) == expected


@pytest.mark.parametrize("mean", [0.3, 2.2, 9.9, 31.0, 140.0])
@pytest.mark.parametrize("level", [0.5, 0.9, 0.99])
def test_poisson_quantile_matches_the_plain_sum(mean, level):
    assert poisson_quantile(mean, level) == poisson_cdf_quantile(mean, level)


def test_poisson_quantile_of_a_large_mean_is_near_the_normal_one():
    # mean 10,000: the 90% quantile is about mean + 1.2816 sd = 10,128
    assert 10_126 <= poisson_quantile(10_000, 0.9) <= 10_130
    with pytest.raises(ValueError, match="between 0 and 1"):
        poisson_quantile(3, 1.0)


def test_busiest_window_of_a_flat_day_and_of_a_peak():
    flat = [0.0] * 480 + [1 / 840] * 840 + [0.0] * 120  # open 08:00-22:00
    assert busiest_window_share(flat, 15) == pytest.approx(15 / 840)
    peak = [0.0] * 1440
    for minute in range(12 * 60, 13 * 60):
        peak[minute] = 0.75 / 60
    for minute in range(18 * 60, 19 * 60):
        peak[minute] = 0.25 / 60
    assert busiest_window_share(peak, 15) == pytest.approx(0.1875)
    assert busiest_window_share(peak, 90) == pytest.approx(0.75)
    # a window wraps round midnight
    night = [0.0] * 1440
    night[1439] = night[0] = 0.5
    assert busiest_window_share(night, 2) == pytest.approx(1.0)


@pytest.mark.django_db
def test_the_buffer_is_for_the_trading_day_in_progress_or_the_next(store):
    store.trading_day_ends_at = dt.time(22)
    # 02:00 and 21:59 belong to the 24th; 22:30 already to the 25th
    assert trading_day_of(store, NOW) == DAY
    assert trading_day_of(store, at_local(store, DAY, 21, 59)) == DAY
    assert trading_day_of(store, at_local(store, DAY, 22, 30)) == DAY + dt.timedelta(
        days=1
    )
    store.trading_day_ends_at = dt.time(2)  # a night store: 01:00 is yesterday's
    assert trading_day_of(store, at_local(store, DAY, 1)) == DAY - dt.timedelta(days=1)


# --- The plan ---------------------------------------------------------------------


def history(sp, *, till: dict[int, int], online: int, size: str = "1", days=28):
    """``till[hour]`` till purchases at that local hour and ``online`` picks,
    spread over the weeks before DAY."""
    sales = []
    for hour, count in till.items():
        for n in range(count):
            day = DAY - dt.timedelta(days=1 + n % days)
            sales.append((at_local(sp.store, day, hour, n % 60), "sale_in_store", size))
    for n in range(online):
        day = DAY - dt.timedelta(days=1 + n % days)
        sales.append((at_local(sp.store, day, 10, n % 60), "pick", size))
    past_sales(sp, sales)


@pytest.mark.django_db
def test_buffer_from_forecast_share_and_the_busiest_wait(store):
    # Given apples sold 40 times at the till (30 around noon, 10 at six) and
    # picked 20 times for the app over four weeks, one piece each
    apples = StoreProductFactory(store=store, online_buffer=D(1))
    history(apples, till={12: 30, 18: 10}, online=20)
    # and a forecast of 60 for the day
    run = forecast_run(store, origin=DAY)
    demand_forecast(apples, DAY, "60", run=run)

    # When the buffers are set with the defaults (15 minutes, 90%)
    plan = online_buffers_set(store=store, now=NOW)

    # Then the busiest 15 minutes hold 3/4 x 15/60 of the day's till sales, the
    # in-store share is 2/3, so 60 x 2/3 x 0.1875 = 7.5 are expected in the
    # wait: the 90% Poisson quantile of 7.5 is 11
    assert plan.day == DAY
    assert (plan.profile.source, plan.profile.purchases) == ("all days", 40)
    assert plan.window_share == pytest.approx(0.1875)
    [line] = plan.lines
    assert line.share == pytest.approx(2 / 3)
    assert line.expected == pytest.approx(7.5)
    assert (line.current, line.buffer) == (D(1), D(11))
    apples.refresh_from_db()
    assert apples.online_buffer == D(11)
    assert plan.written == 1
    # and running it again writes nothing
    assert online_buffers_set(store=store, now=NOW).written == 0


@pytest.mark.django_db
def test_weighed_products_get_kilograms_to_the_gram():
    # Given salmon bought at the till 10 times at six (0.4 kg or 0.8 kg), never
    # online, with 12 kg forecast
    store = StoreFactory(code="SH09")
    salmon = StoreProductFactory(
        store=store, product=ProductFactory(sale_unit=SaleUnit.KILOGRAM)
    )
    history(salmon, till={18: 5}, online=0, size="0.400")
    history(salmon, till={18: 5}, online=0, size="0.800")
    demand_forecast(salmon, DAY, "12.000", run=forecast_run(store, origin=DAY))

    [line] = online_buffers_set(store=store, now=NOW).lines

    # Then 12 kg x 100% in store x 1/4 in the busiest 15 minutes = 3 kg; a
    # purchase's size dispersion is E[x^2]/E[x] = 4/6 kg, so 4.5 purchases are
    # expected: 7 at 90%, 7 x 2/3 kg = 4.667 kg
    assert line.expected == pytest.approx(3.0)
    assert line.size == pytest.approx(2 / 3)
    assert line.buffer == D("4.667")
    salmon.refresh_from_db()
    assert salmon.online_buffer == D("4.667")


@pytest.mark.django_db
def test_no_history_is_flat_over_opening_hours_and_all_in_store(store):
    # Given a store open 08:00-22:00 with no sales yet and a forecast of 100
    sp = StoreProductFactory(store=store)
    run = forecast_run(store, origin=DAY)
    demand_forecast(sp, DAY, "100", run=run)

    plan = online_buffers_plan(store=store, now=NOW)

    # Then every sale is taken to be in the aisle, spread evenly over 14 hours:
    # 100 x 15/840 = 1.79 expected, 4 at 90%
    assert plan.profile.source == "opening hours"
    assert plan.store_share == 1.0
    assert plan.lines[0].expected == pytest.approx(100 * 15 / 840)
    assert plan.lines[0].buffer == D(4)
    # and a plan writes nothing
    sp.refresh_from_db()
    assert sp.online_buffer == D(0)

    # When the store waits 30 minutes to pick and wants 95%
    ForecastSettings.objects.create(
        store=store, order_wait_minutes=30, buffer_service_level=D("0.950")
    )
    [line] = online_buffers_plan(store=store, now=NOW).lines
    # Then 100 x 30/840 = 3.57 expected: 7 at 95%
    assert line.buffer == D(poisson_cdf_quantile(100 * 30 / 840, 0.95)) == D(7)


@pytest.mark.django_db
def test_products_without_a_forecast_keep_their_buffer(store):
    kept = StoreProductFactory(store=store, online_buffer=D(3))
    inactive = StoreProductFactory(store=store, online_buffer=D(2), is_active=False)
    yesterday_only = StoreProductFactory(store=store, online_buffer=D(5))
    run = forecast_run(store, origin=DAY - dt.timedelta(days=1))
    demand_forecast(yesterday_only, DAY - dt.timedelta(days=1), "50", run=run)
    demand_forecast(inactive, DAY, "50", run=run)

    plan = online_buffers_set(store=store, now=NOW)

    assert plan.lines == []
    assert plan.without_forecast == 2  # the inactive product is not counted
    assert {
        sp.pk: sp.online_buffer
        for sp in StoreProduct.objects.filter(pk__in=[kept.pk, inactive.pk])
    } == {kept.pk: D(3), inactive.pk: D(2)}


# --- The service ---------------------------------------------------------------


@pytest.mark.django_db
def test_buffers_set_writes_only_what_changes_and_only_in_its_store(store):
    other = StoreFactory(code="SH02")
    apples = StoreProductFactory(store=store, online_buffer=D(1))
    pears = StoreProductFactory(store=store, online_buffer=D(2))
    theirs = StoreProductFactory(store=other, online_buffer=D(1))

    changed = store_product_buffers_set(
        store=store, buffers={apples.pk: D(4), pears.pk: D(2), theirs.pk: D(9)}
    )

    assert changed == 1
    assert dict(
        StoreProduct.objects.filter(
            pk__in=[apples.pk, pears.pk, theirs.pk]
        ).values_list("pk", "online_buffer")
    ) == {apples.pk: D(4), pears.pk: D(2), theirs.pk: D(1)}


@pytest.mark.django_db
@pytest.mark.parametrize("bad", [D(-1), D("1.5"), D("0.0001"), D("NaN"), 3])
def test_buffers_set_refuses_a_bad_value_and_changes_nothing(store, bad):
    apples = StoreProductFactory(store=store, online_buffer=D(1))
    pears = StoreProductFactory(store=store, online_buffer=D(1))

    with pytest.raises(InvalidInput) as refused:
        store_product_buffers_set(store=store, buffers={apples.pk: D(5), pears.pk: bad})

    assert refused.value.extra["store_product"] == pears.pk
    assert set(
        StoreProduct.objects.filter(store=store).values_list("online_buffer", flat=True)
    ) == {D(1)}


# --- The command and the task ---------------------------------------------------


@pytest.fixture
def forecast_for_day(store):
    sp = StoreProductFactory(store=store, online_buffer=D(1))
    demand_forecast(sp, DAY, "100", run=forecast_run(store, origin=DAY))
    return sp


@pytest.mark.django_db
def test_command_dry_run_prints_and_writes_nothing(forecast_for_day):
    out = StringIO()
    call_command(
        "set_online_buffers",
        "--store",
        "sh01",
        "--day",
        str(DAY),
        "--dry-run",
        stdout=out,
    )

    text = out.getvalue()
    sku = forecast_for_day.product.sku
    assert f"{sku}  1 -> 4  (forecast 100 x in store 100% x busiest wait 1.79%" in text
    assert "1 buffers would change" in text
    assert "Dry run: nothing written." in text
    forecast_for_day.refresh_from_db()
    assert forecast_for_day.online_buffer == D(1)

    call_command("set_online_buffers", "--store", "SH01", "--day", str(DAY), stdout=out)
    forecast_for_day.refresh_from_db()
    assert forecast_for_day.online_buffer == D(4)
    assert "1 buffers changed" in out.getvalue()


@pytest.mark.django_db
def test_command_refuses_an_unknown_store_or_a_bad_day(forecast_for_day):
    with pytest.raises(CommandError, match="--store: no store with the code 'XX9'"):
        call_command("set_online_buffers", "--store", "XX9", stdout=StringIO())
    with pytest.raises(CommandError, match="--day: '2026-13-01' is not a date"):
        call_command(
            "set_online_buffers",
            "--store",
            "SH01",
            "--day",
            "2026-13-01",
            stdout=StringIO(),
        )
    forecast_for_day.refresh_from_db()
    assert forecast_for_day.online_buffer == D(1)


@pytest.mark.django_db
def test_nightly_task_sets_every_active_store_on_the_forecast_queue(store):
    # Given two stores with a forecast for the trading day in progress
    other = StoreFactory(code="SH02", is_24h=False)
    closed = StoreFactory(code="SH03", is_active=False, is_24h=False)
    rows = {}
    for st in (store, other, closed):
        sp = StoreProductFactory(store=st, online_buffer=D(0))
        day = trading_day_of(st, dt.datetime.now(dt.UTC))
        demand_forecast(sp, day, "100", run=forecast_run(st, origin=day))
        rows[st.code] = sp

    # When the beat job runs (eagerly here: one task per active store)
    assert set_online_buffers_all_task.delay().get() == 2

    # Then the open stores' buffers are set, the closed one's left alone
    buffers = {
        code: StoreProduct.objects.get(pk=sp.pk).online_buffer
        for code, sp in rows.items()
    }
    assert buffers == {"SH01": D(4), "SH02": D(4), "SH03": D(0)}
    # and both tasks are routed to the forecast queue (by CELERY_TASK_ROUTES)
    from hema.celery import app

    for name in (
        "forecast.set_online_buffers_all",
        "forecast.set_online_buffers_store",
    ):
        assert app.amqp.router.route({}, name)["queue"].name == "forecast"
