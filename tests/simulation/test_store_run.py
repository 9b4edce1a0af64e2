"""The simulated store day end to end on PostgreSQL: a two-hour slice of a
small store through the real services, its figures checked against the rows
counted by hand, every job at its simulated time, and the same seed giving
the same figures."""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.db.models import Sum

from simulation.scenario import scenario_parse

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.no_crew,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="the simulation runs on PostgreSQL"
    ),
]

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = dt.date(2026, 3, 2)

SLICE = """\
name = "test slice"
[store]
code = "SH01"
start = 2026-03-02
[day]
opens = 17
closes = 19
[stock]
opening_units = 10
[[weather]]
from = 17
to = 19
temperature = 21.5
condition = "clear"
[arrivals.in_store]
17 = 14
18 = 14
[arrivals.app]
17 = 8
18 = 8
[basket]
in_store = { min = 1, max = 3 }
app = { min = 1, max = 2 }
units = { min = 1, max = 2 }
[shoppers]
delivery_home_share = 0.3
[staff]
pickers = 2
riders = 3
[dispatch]
max_iterations = 30
[[events]]
kind = "rain_shower"
day = 1
from = 18
to = 19
precipitation = 5.0
"""


def local(hour: int, minute: int = 0, day: dt.date = DAY) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=SHANGHAI)


@pytest.fixture
def small_store(store, make_store_product):
    """Two zones, four piece products: two daily-fresh (bakery), two not."""
    from tests.factories import CategoryFactory, ProductFactory, ZoneFactory

    # The slice is the end of the store's day: it closes when the slice does.
    store.is_24h, store.opens_at, store.closes_at = False, dt.time(8), dt.time(19)
    store.save(update_fields=["is_24h", "opens_at", "closes_at"])
    bakery = CategoryFactory(slug="bakery", name="Bakery")
    dairy = CategoryFactory(slug="dairy", name="Dairy")
    zones = [
        ZoneFactory(store=store, code="BAKERY", name="Bakery", sort_order=1),
        ZoneFactory(store=store, code="DAIRY", name="Dairy", sort_order=2),
    ]
    for n, (category, fresh) in enumerate(
        [(bakery, True), (bakery, True), (dairy, False), (dairy, False)]
    ):
        make_store_product(
            product=ProductFactory(category=category, is_daily_fresh=fresh),
            list_price="9.90",
            zone=zones[n // 2],
            shelf_location=f"A{n}",
        )
    return store


def run(keep: bool, seed: int = 1):
    from simulation.store_run import store_simulate

    return store_simulate(scenario=scenario_parse(SLICE), seed=seed, keep=keep)


def test_a_two_hour_slice_adds_up_to_the_rows_counted_by_hand(small_store):
    from delivery.models import Fulfilment
    from inventory.forecast.models import DailySales
    from inventory.models import MovementKind, Reservation, StockMovement, StoreProduct
    from inventory.weather import StoreWeather
    from orders.models import Order
    from pricing.models import RepricingRun

    result = run(keep=True)  # kept: the test's own transaction is rolled back
    day, total = result.figures["days"][0], result.figures["total"]
    paid = Order.objects.filter(store=small_store, paid_at__isnull=False)

    # Revenue and orders by channel are the paid orders.
    for channel in ("in_store", "app"):
        orders = paid.filter(channel=channel)
        assert day["sales"]["orders"][channel] == orders.count() > 0
        assert (
            Decimal(day["sales"]["revenue"][channel])
            == orders.aggregate(t=Sum("total"))["t"]
        )
    # Each shopper who took something paid one order of their own.
    shoppers = day["stock"]["in_store_shoppers"] - day["stock"]["in_store_left_empty"]
    assert paid.filter(channel="in_store").count() == shoppers
    by_hour = day["sales"]["by_hour"]["in_store"]
    assert sum(cell["orders"] for cell in by_hour.values()) == (
        paid.filter(channel="in_store").count()
    )
    assert set(by_hour) <= {"17", "18", "19"}  # paid within a quarter after 19:00

    # Every delivery (app orders, in-store purchases sent home) was promised,
    # delivered and counted.
    home = paid.filter(channel="in_store", fulfilment_mode="delivery")
    assert day["stock"]["in_store_delivered_home"] == home.count() > 0
    fulfilments = Fulfilment.objects.filter(
        order__in=paid, order__fulfilment_mode="delivery"
    )
    assert fulfilments.count() == paid.filter(channel="app").count() + home.count()
    # none left on the floor: delivered, or cancelled (every line shorted by
    # till sales, refunded)
    assert set(fulfilments.values_list("state", flat=True)) <= {
        "delivered",
        "cancelled",
    }
    assert day["delivery"]["deliveries"] == fulfilments.count()
    assert (
        day["delivery"]["delivered"]
        == fulfilments.filter(delivered_at__isnull=False).count()
    )
    kept = sum(
        1 for f in fulfilments if f.delivered_at and f.delivered_at <= f.deadline
    )
    assert day["delivery"]["express_kept"] <= kept
    assert (
        day["delivery"]["paid_to_rail_minutes"]["count"]
        == fulfilments.filter(last_hung_at__isnull=False).count()
    )
    shorted = Reservation.objects.filter(state="short").values("reference").distinct()
    assert day["shorted_by_till"]["shorted"] == shorted.count()

    # Waste: the two daily-fresh products were received up to 10 units each.
    fresh = StoreProduct.objects.filter(store=small_store, product__is_daily_fresh=True)
    written = StockMovement.objects.filter(
        store_product__in=fresh, kind=MovementKind.WRITE_OFF
    )
    written_units = -sum(m.on_hand_delta for m in written)
    assert Decimal(day["stock"]["daily_fresh_units"]) == Decimal(20)
    assert Decimal(day["stock"]["daily_fresh_written_off"]) == written_units
    assert day["stock"]["waste_rate"] == pytest.approx(float(written_units) / 20, 1e-3)
    assert all(m.created_at == local(19) for m in written)  # at closing

    # Sold out at closing: a fresh product with nothing to write off, or any
    # product with nothing beyond what orders hold (picks after closing take
    # held units only, so the difference stands).
    out = {m.store_product_id for m in written}
    sold_out = {
        sp.product.sku
        for sp in StoreProduct.objects.filter(store=small_store).select_related(
            "product"
        )
        if (sp.product.is_daily_fresh and sp.pk not in out)
        or (not sp.product.is_daily_fresh and sp.on_hand - sp.reserved <= 0)
    }
    assert set(day["stock"]["sold_out_at_close"]) == sold_out
    assert day["stock"]["product_days"] == 4
    # The products short at full price are named, one per product-day short.
    short = day["stock"]["short_at_full_price"]
    assert len(short) == day["stock"]["product_days_short"]

    # Overnight the day's sales were folded into the history.
    sold = -sum(
        m.on_hand_delta
        for m in StockMovement.objects.filter(
            store_product__store=small_store,
            kind__in=[MovementKind.SALE_IN_STORE, MovementKind.PICK],
        )
    )
    history = DailySales.objects.filter(store_product__store=small_store, day=DAY)
    assert history.aggregate(q=Sum("quantity"))["q"] == sold > 0

    # The clock drove every job at its time.
    hourly = RepricingRun.objects.filter(store=small_store, trigger="hourly")
    # ... and once at closing, as the beat runs around the clock: it ends the
    # evening markdown before the night's forecast reads the shelf prices.
    assert sorted(hourly.values_list("priced_at", flat=True)) == [
        local(17),
        local(18),
        local(19),
    ]
    markdown = RepricingRun.objects.filter(store=small_store, trigger="markdown")
    assert sorted(markdown.values_list("priced_at", flat=True)) == [
        local(17, 30),
        local(18, 30),
    ]
    weather = {
        w.hour: (w.condition, w.precipitation, w.temperature)
        for w in StoreWeather.objects.filter(store=small_store, is_forecast=False)
    }
    assert weather == {
        local(17): ("clear", Decimal("0.00"), Decimal("21.5")),
        local(18): ("rain", Decimal("5.00"), Decimal("21.5")),  # the shower
    }
    times = {}
    for kind, at in result.jobs:
        times.setdefault(kind, []).append(at)
    assert len(times["expire"]) == 120  # every minute of the two hours
    assert times["expire"][0] == local(17) + dt.timedelta(seconds=1)
    assert times["close"] == [local(19)]
    assert times["fold"] == times["replenishment"] == [local(20)]
    assert times["receive"] == [local(7)]
    assert times["forecast"] == [local(20)]  # the nightly predict, for tomorrow
    assert times["buffers"] == [local(20)]  # the online buffers from it
    assert day["forecast"] == "done"
    assert total["sales"] == day["sales"]


@pytest.mark.slow
def test_the_same_seed_gives_the_same_figures_and_nothing_is_kept(small_store):
    from orders.models import Order

    first = run(keep=False)
    assert not Order.objects.exists()
    assert run(keep=False).figures == first.figures
    assert run(keep=False, seed=2).figures != first.figures


def test_tomorrow_is_the_day_after_the_last_one_traded(store, make_store_product):
    from pricing.models import PriceChange
    from simulation.store_run import next_free_day

    tomorrow = dt.datetime.now(SHANGHAI).date() + dt.timedelta(days=1)
    assert next_free_day(store) == tomorrow
    PriceChange.objects.create(
        store=store,
        store_product=make_store_product(),
        kind="rules",
        old_price=Decimal("9.90"),
        new_price=Decimal("8.90"),
        changed_at=dt.datetime(2030, 1, 5, 17, 0, tzinfo=dt.UTC),  # 01:00 on the 6th
    )
    assert next_free_day(store) == dt.date(2030, 1, 7)


def _approved_order(store, delivery_day, quantities):
    """An approved replenishment order for ``delivery_day``: {store product:
    units}."""
    from inventory.forecast.models import (
        ReplenishmentLine,
        ReplenishmentOrder,
        ReplenishmentState,
    )
    from inventory.models import Supplier

    supplier = Supplier.objects.create(name="Test Bakery Supplier")
    order = ReplenishmentOrder.objects.create(
        store=store,
        supplier=supplier,
        delivery_day=delivery_day,
        state=ReplenishmentState.APPROVED,
    )
    for sp, units in quantities.items():
        ReplenishmentLine.objects.create(
            order=order,
            store_product=sp,
            forecast_demand=Decimal(units),
            safety_stock=Decimal(0),
            on_hand=Decimal(0),
            on_order=Decimal(0),
            suggested=Decimal(units),
            quantity=Decimal(units),
        )
    return order


def test_the_morning_delivery_counts_once_in_the_daily_fresh_units(small_store):
    """The bug: the opening stock was read at opening, after the morning's
    delivery, so the delivery counted twice in the units waste is a share of."""
    from inventory.models import StoreProduct

    fresh = list(
        StoreProduct.objects.filter(store=small_store, product__is_daily_fresh=True)
    )
    _approved_order(small_store, DAY, {fresh[0]: 6})
    day = run(keep=True).figures["days"][0]
    # 10 + 10 at opening (the scenario's opening stock), 6 received at 07:00
    assert Decimal(day["stock"]["daily_fresh_units"]) == Decimal(26)
    written = Decimal(day["stock"]["daily_fresh_written_off"])
    assert day["stock"]["waste_rate"] == pytest.approx(float(written) / 26, 1e-3)


def test_shoppers_reach_for_products_as_they_sold_in_the_history(small_store):
    from inventory.forecast.models import DailySales
    from inventory.models import StoreProduct
    from simulation.store_run import _shelves

    bakery = list(
        StoreProduct.objects.filter(
            store=small_store, product__category__slug="bakery"
        ).order_by("pk")
    )
    dairy = list(
        StoreProduct.objects.filter(
            store=small_store, product__category__slug="dairy"
        ).order_by("pk")
    )
    for back in range(1, 29):  # the 28 days before the first day
        for sp, units in ((bakery[0], 14), (bakery[1], 0), (dairy[0], 7)):
            DailySales.objects.create(
                store_product=sp,
                day=DAY - dt.timedelta(days=back),
                quantity=Decimal(units),
                revenue=Decimal(units) * Decimal("9.90"),
            )
    DailySales.objects.create(  # older than the window: not counted
        store_product=bakery[1],
        day=DAY - dt.timedelta(days=40),
        quantity=Decimal(500),
        revenue=Decimal(4950),
    )
    weights = {
        s.pk: s.weight for s in _shelves(small_store, scenario_parse(SLICE), DAY)
    }
    assert weights[bakery[0].pk] == pytest.approx(14.0)
    assert weights[bakery[1].pk] == 0.0  # sold nothing lately: not chosen
    assert weights[dairy[0].pk] == pytest.approx(7.0)
    assert weights[dairy[1].pk] == pytest.approx(7.0)  # no history: its category's


@pytest.mark.slow
def test_the_first_delivery_is_drafted_from_the_forecast_on_the_eve(small_store):
    from inventory.forecast.models import ReplenishmentOrder
    from inventory.models import Supplier
    from simulation.store_run import store_simulate

    supplier = Supplier.objects.create(name="Test Supplier")
    from inventory.forecast.models import DailySales
    from inventory.models import Product, StoreProduct

    Product.objects.update(supplier=supplier)
    for sp in StoreProduct.objects.filter(store=small_store):
        for back in range(1, 57):  # eight weeks of 20 a day: more than on hand
            DailySales.objects.create(
                store_product=sp,
                day=DAY - dt.timedelta(days=back),
                quantity=Decimal(20),
                revenue=Decimal(198),
            )
    text = SLICE.replace("[stock]", '[stock]\nfirst_delivery = "forecast"')
    result = store_simulate(scenario=scenario_parse(text), seed=1, keep=True)
    times = {}
    for kind, at in result.jobs:
        times.setdefault(kind, []).append(at)
    start = local(7) - dt.timedelta(minutes=5)  # before the delivery hour
    assert times["forecast"] == [start, local(20)]
    assert times["replenishment"] == [start, local(20)]
    first = ReplenishmentOrder.objects.get(store=small_store, delivery_day=DAY)
    assert first.state == "received"
    assert result.figures["first_delivery"]["orders"] == 1
    received = sum(line.received for line in first.lines.all())
    assert result.figures["first_delivery"]["units"] == str(
        sum(line.quantity for line in first.lines.all())
    )
    assert received > 0
    # The night after the last day drafts the next delivery and leaves it for
    # the manager: the simulation does not trade that day.
    after = ReplenishmentOrder.objects.get(
        store=small_store, delivery_day=DAY + dt.timedelta(days=1)
    )
    assert after.state == "draft"
    assert result.figures["days"][0]["replenishment"]["approved"] is False
    assert result.figures["first_delivery"]["approved"] is True


def test_history_arrivals_follow_the_stores_weekly_pattern(small_store):
    from inventory.forecast.models import DailySales
    from inventory.models import StoreProduct
    from simulation.shoppers import Shelf
    from simulation.store_run import _weekday_factors

    sp = StoreProduct.objects.filter(store=small_store).first()
    for back in range(1, 57):  # eight weeks: weekends sell twice a weekday
        day = DAY - dt.timedelta(days=back)
        DailySales.objects.create(
            store_product=sp,
            day=day,
            quantity=Decimal(20 if day.weekday() >= 5 else 10),
            revenue=Decimal(99),
        )
    text = SLICE.replace(
        "[arrivals.in_store]", '[arrivals]\nweekday = "history"\n[arrivals.in_store]'
    )
    shelves = [Shelf(sp.pk, "X", "dairy", False, True)]
    factors = _weekday_factors(scenario_parse(text), small_store, DAY, shelves)
    # Mean day (5 x 10 + 2 x 20) / 7 = 12.857: a weekday 0.778, a weekend day 1.556.
    assert factors == (0.778,) * 5 + (1.556,) * 2
    assert (
        _weekday_factors(scenario_parse(SLICE), small_store, DAY, shelves) == (1.0,) * 7
    )


def test_a_day_reaching_the_markdown_must_close_when_the_store_does(small_store):
    from simulation.delivery_run import SimulationRefused

    late = SLICE.replace("closes = 19", "closes = 20").replace(
        "18 = 8\n", "18 = 8\n19 = 8\n"
    )
    late = late.replace("to = 19\ntemperature", "to = 20\ntemperature")
    late = late.replace("18 = 14\n", "18 = 14\n19 = 14\n")
    from simulation.store_run import store_simulate

    with pytest.raises(
        SimulationRefused, match=r"closes at 20:00 but SH01 closes at 19:00"
    ):
        store_simulate(scenario=scenario_parse(late), seed=1)
    # A lunch slice ends before the markdown starts: it may end anywhere.
    lunch = SLICE.replace("opens = 17", "opens = 11").replace(
        "closes = 19", "closes = 13"
    )
    lunch = lunch.replace("from = 17\nto = 19\ntemp", "from = 11\nto = 13\ntemp")
    lunch = lunch.replace("17 = 14\n18 = 14", "11 = 14\n12 = 14")
    lunch = lunch.replace("17 = 8\n18 = 8", "11 = 8\n12 = 8")
    lunch = lunch.replace("from = 18\nto = 19\nprecip", "from = 12\nto = 13\nprecip")
    assert store_simulate(scenario=scenario_parse(lunch), seed=1).figures["days"]
