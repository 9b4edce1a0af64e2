"""Known rows for the chart pages' tests (``tests/hema/test_charts.py`` and
the browser test): four weeks of one store product, and a day of deliveries.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

from delivery.models import Fulfilment, FulfilmentMode, FulfilmentState
from inventory.forecast.days import trading_day
from inventory.forecast.models import DailySales, DemandForecast, ForecastRun, RunKind
from inventory.models import MovementKind, StockMovement, Store, StoreProduct
from orders.models import Channel
from pricing.models import PriceChange
from tests.factories import ProductFactory
from tests.hema.dashboard_day import _fulfilment, _member, _order

DAY = dt.timedelta(days=1)


def _at(store: Store, day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=store.tz)


def product_weeks(store: Store, now: dt.datetime) -> tuple[StoreProduct, dict]:
    """A store product (40 on hand now) with a ledger, sales, forecasts and
    price changes around the trading day of ``now``; returns it and the
    figures its chart must show, by day."""
    today = trading_day(store, now)
    product = ProductFactory(sku=f"CH-{store.code}", name=f"Chart apples {store.code}")
    sp = StoreProduct.objects.create(
        store=store,
        product=product,
        list_price=D("12.00"),
        unit_cost=D("6.00"),
        shelf_price=D("9.50"),
        on_hand=D("40"),
        reserved=D("0"),
    )
    # Received 30 two days ago, sold 5 yesterday: 15 before, 45, then 40.
    for day, hour, kind, delta in (
        (today - 2 * DAY, 10, MovementKind.RECEIVE, "30"),
        (today - DAY, 12, MovementKind.SALE_IN_STORE, "-5"),
    ):
        movement = StockMovement.objects.create(
            store_product=sp, kind=kind, on_hand_delta=D(delta)
        )
        StockMovement.objects.filter(pk=movement.pk).update(
            created_at=_at(store, day, hour)
        )
    DailySales.objects.create(
        store_product=sp, day=today - 3 * DAY, quantity=D("7"), revenue=D("84.00")
    )
    DailySales.objects.create(
        store_product=sp,
        day=today - DAY,
        quantity=D("5"),
        revenue=D("55.00"),
        sold_out=True,
    )
    run = ForecastRun.objects.create(
        store=store,
        kind=RunKind.PREDICT,
        origin=today,
        state="done",
        started_at=now,
        finished_at=now,
    )
    for day, quantity, lower, upper in (
        (today - DAY, "6", "4", "8"),
        (today + DAY, "9", "6", "12"),
        (today + 10 * DAY, "9", "6", "12"),  # beyond the week ahead: not drawn
    ):
        DemandForecast.objects.create(
            store_product=sp,
            day=day,
            quantity=D(quantity),
            lower=D(lower),
            upper=D(upper),
            method="ets",
            run=run,
            made_on=today,
        )
    for when, old, new in (
        (_at(store, today - 40 * DAY, 9), "10.00", "12.00"),  # in force at the start
        (_at(store, today - 5 * DAY, 9), "12.00", "11.00"),
        (_at(store, today - DAY, 18), "11.00", "9.50"),
    ):
        PriceChange.objects.create(
            store=store,
            store_product=sp,
            kind="rules",
            old_price=D(old),
            new_price=D(new),
            reasons=["test"],
            changed_at=when,
        )
    first = today - 27 * DAY
    sp = StoreProduct.objects.select_related("store", "product").get(pk=sp.pk)
    return sp, {
        "today": today,
        "first": first,
        "sold": {today - 3 * DAY: "7.000", today - DAY: "5.000"},
        "on_hand": {
            first: "15.000",
            today - 3 * DAY: "15.000",
            today - 2 * DAY: "45.000",
            today - DAY: "40.000",
            today: "40.000",
        },
        "forecast": {today - DAY: "6.000", today + DAY: "9.000"},
        "price_changes": [
            (_at(store, today - 5 * DAY, 9), "11.00"),
            (_at(store, today - DAY, 18), "9.50"),
        ],
    }


def delivery_day_rows(store: Store, day: dt.date) -> dict:
    """Three deliveries made on ``day`` (10 min early, 7.5 and 45 min late),
    and rows that must not count: a pickup, one delivered the next day and one
    still on its way."""
    member = _member()

    def delivered(deadline, at, *, mode=FulfilmentMode.DELIVERY):
        order = _order(
            store,
            member,
            channel=Channel.APP,
            total="30.00",
            paid_at=deadline - dt.timedelta(minutes=40),
        )
        fulfilment = _fulfilment(
            order,
            state=FulfilmentState.DELIVERED if at else FulfilmentState.OUT_FOR_DELIVERY,
            deadline=deadline,
            paid_at=deadline - dt.timedelta(minutes=40),
            delivered_at=at,
        )
        Fulfilment.objects.filter(pk=fulfilment.pk).update(mode=mode)
        return fulfilment

    early = delivered(_at(store, day, 10, 30), _at(store, day, 10, 20))
    late = delivered(
        _at(store, day, 12), _at(store, day, 12, 7) + dt.timedelta(seconds=30)
    )
    very_late = delivered(_at(store, day, 18), _at(store, day, 18, 45))
    delivered(_at(store, day, 15), _at(store, day, 15, 5), mode=FulfilmentMode.PICKUP)
    delivered(_at(store, day, 23, 50), _at(store, day + DAY, 0, 20))
    delivered(_at(store, day, 20), None)
    return {
        "minutes": {
            early.reference: "-10.0",
            late.reference: "7.5",
            very_late.reference: "45.0",
        },
        "late": [late, very_late],
    }
