"""A known trading day at a store, built from rows, for the dashboard tests.

``build_day(store, now)`` writes today's and last week's orders, fulfilments,
a late bag, stock, forecast, a write-off, a recount, a markdown, the weather,
price changes, job runs and the to-dos, at fixed offsets from ``now``, and
returns what a manager should read on the dashboard.
"""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal as D

from accounts.models import User
from delivery.models import (
    Fulfilment,
    FulfilmentMode,
    FulfilmentState,
    PickTask,
    PickTaskState,
    RecountRequest,
)
from inventory.forecast.models import (
    DemandForecast,
    ForecastRun,
    ReplenishmentOrder,
    RunKind,
)
from inventory.models import (
    MovementKind,
    ReconcileRun,
    ReconcileState,
    StockMovement,
    Store,
    StoreProduct,
    Supplier,
)
from inventory.weather import StoreWeather
from orders.models import Channel, Member, Order, OrderState
from orders.models import FulfilmentMode as OrderMode
from pricing.models import MarkdownStep, PriceChange, RepricingRun
from tests.factories import ProductFactory

_numbers = itertools.count(1)
MIN = dt.timedelta(minutes=1)


def _member() -> Member:
    n = next(_numbers)
    user = User.objects.create_user(
        email=f"dash{n}@hema.test", phone=f"+86139{n:08d}", password="x"
    )
    return Member.objects.create(user=user)


def _order(
    store, member, *, channel, total, paid_at, state=OrderState.PAID, created_at=None
):
    n = next(_numbers)
    order = Order.objects.create(
        number=f"{store.code}-D{n:05d}",
        member=member,
        store=store,
        channel=channel,
        fulfilment_mode=OrderMode.DELIVERY if channel == Channel.APP else "carry_out",
        state=state,
        currency="CNY",
        subtotal=D(total),
        total=D(total),
        paid_at=paid_at,
    )
    Order.objects.filter(pk=order.pk).update(created_at=created_at or paid_at)
    return order


def _fulfilment(order, *, state, deadline, paid_at, **times) -> Fulfilment:
    return Fulfilment.objects.create(
        order=order,
        reference=order.number,
        store=order.store,
        mode=FulfilmentMode.DELIVERY,
        state=state,
        deadline=deadline,
        paid_at=paid_at,
        **times,
    )


def _local(store: Store, now: dt.datetime, hour: int, minute: int = 0):
    local = now.astimezone(store.tz)
    return local.replace(hour=hour, minute=minute, second=0, microsecond=0)


def build_day(store: Store, now: dt.datetime) -> dict:
    """``now`` should be 15:30 local; returns the figures expected."""
    member = _member()
    week = dt.timedelta(days=7)
    at = lambda h, m=0: _local(store, now, h, m)  # noqa: E731
    # Today: app 50 at 09:10 and 30 at 14:20, in store 20 at 10:05; a
    # cancelled one and an unpaid one do not count.
    app1 = _order(store, member, channel=Channel.APP, total="50.00", paid_at=at(9, 10))
    app2 = _order(store, member, channel=Channel.APP, total="30.00", paid_at=at(14, 20))
    _order(store, member, channel=Channel.IN_STORE, total="20.00", paid_at=at(10, 5))
    _order(
        store,
        member,
        channel=Channel.IN_STORE,
        total="99.00",
        paid_at=at(11),
        state=OrderState.CANCELLED,
    )
    _order(
        store,
        member,
        channel=Channel.APP,
        total="77.00",
        paid_at=None,
        state=OrderState.CREATED,
        created_at=at(11, 30),
    )
    # Last week: app 40 at 09:30 (before 15:30), in store 100 at 16:00 (after).
    _order(store, member, channel=Channel.APP, total="40.00", paid_at=at(9, 30) - week)
    _order(
        store,
        member,
        channel=Channel.IN_STORE,
        total="100.00",
        paid_at=at(16) - week,
    )
    # Fulfilments: delivered on time (packed in 8 min), delivered late
    # (packed in 12 min), one at risk (promise in 5 min), one late (promise
    # 3 min ago, packed, its bag late on the rail).
    o1 = _order(store, member, channel=Channel.APP, total="10.00", paid_at=at(12))
    _fulfilment(
        o1,
        state=FulfilmentState.DELIVERED,
        deadline=at(12, 30),
        paid_at=at(12),
        packed_at=at(12, 8),
        delivered_at=at(12, 25),
    )
    o2 = _order(store, member, channel=Channel.APP, total="10.00", paid_at=at(13))
    _fulfilment(
        o2,
        state=FulfilmentState.DELIVERED,
        deadline=at(13, 30),
        paid_at=at(13),
        packed_at=at(13, 12),
        delivered_at=at(13, 40),
    )
    _fulfilment(
        app1, state=FulfilmentState.OPEN, deadline=now + 5 * MIN, paid_at=at(9, 10)
    )
    late = _fulfilment(
        app2, state=FulfilmentState.PICKING, deadline=now - 3 * MIN, paid_at=at(14, 20)
    )
    PickTask.objects.create(
        fulfilment=late,
        store=store,
        deadline=late.deadline,
        state=PickTaskState.BAGGED,
        claimed_at=at(15, 0),
        bagged_at=at(15, 6),
        hung_at=at(15, 7),
        expected_at=now - 4 * MIN,
    )
    # Stock.
    supplier = Supplier.objects.create(name=f"Dash supplier {store.code}")
    products = [
        ProductFactory(sku=f"DSH-{store.code}-{i}", name=f"Dash product {i}")
        for i in range(3)
    ]
    empty, short, fine = (
        StoreProduct.objects.create(
            store=store,
            product=product,
            list_price=D("10.00"),
            unit_cost=D("5.00"),
            shelf_price=D("10.00"),
            on_hand=D(on_hand),
            reserved=D("0"),
        )
        for product, on_hand in zip(products, ("0", "3", "50"), strict=True)
    )
    run = ForecastRun.objects.create(
        store=store,
        kind=RunKind.PREDICT,
        origin=now.astimezone(store.tz).date(),
        state="done",
        started_at=now - 10 * MIN,
        finished_at=now - 9 * MIN,
        series=3,
    )
    for sp, quantity in ((short, "10"), (fine, "10")):
        DemandForecast.objects.create(
            store_product=sp,
            day=now.astimezone(store.tz).date(),
            quantity=D(quantity),
            lower=D("5"),
            upper=D("15"),
            method="ets",
            run=run,
            made_on=now.astimezone(store.tz).date(),
        )
    for sp, kind, delta in (
        (short, MovementKind.PICK, "-4"),
        (fine, MovementKind.WRITE_OFF, "-2"),
    ):
        movement = StockMovement.objects.create(
            store_product=sp, kind=kind, on_hand_delta=D(delta), reason="dash"
        )
        StockMovement.objects.filter(pk=movement.pk).update(created_at=at(11))
    RecountRequest.objects.create(store=store, store_product=short, reason="empty")
    MarkdownStep.objects.create(
        store=store,
        store_product=fine,
        trading_day=now.astimezone(store.tz).date(),
        percent=D("30"),
        stock_left=D("50"),
        expected_demand=D("10"),
        decided_at=now - 30 * MIN,
    )
    hour = now.replace(minute=0, second=0, microsecond=0)
    for i in range(3):
        StoreWeather.objects.create(
            store=store,
            hour=hour + dt.timedelta(hours=i),
            temperature=D("21.5"),
            precipitation=D("1.20") if i else D("0"),
            condition="rain" if i else "cloudy",
            is_forecast=bool(i),
            fetched_at=now,
        )
    repricing = RepricingRun.objects.create(
        store=store,
        trigger="hourly",
        state="done",
        priced_at=hour,
        started_at=now - 20 * MIN,
        finished_at=now - 20 * MIN + dt.timedelta(seconds=2),
    )
    for minutes, reasons in ((20, ["rain +5%"]), (120, ["weekday"])):
        PriceChange.objects.create(
            store=store,
            store_product=fine,
            run=repricing,
            kind="rules",
            old_price=D("10.00"),
            new_price=D("10.50"),
            reasons=reasons,
            changed_at=now - minutes * MIN,
        )
    ReconcileRun.objects.create(
        store=store,
        state=ReconcileState.FAILED,
        started_at=now - 60 * MIN,
        finished_at=now - 59 * MIN,
        error="database went away",
    )
    draft = ReplenishmentOrder.objects.create(
        store=store,
        supplier=supplier,
        delivery_day=now.astimezone(store.tz).date() + dt.timedelta(days=1),
    )
    return {
        "sales": D("120.00"),  # 50 + 30 + 20 + the two delivered (10 + 10)
        "orders": 5,
        "app_sales": D("100.00"),
        "last_week_so_far": D("40.00"),
        "last_week": D("140.00"),
        "at_risk_order": app1,
        "late_order": app2,
        "draft": draft,
        "sold_out": empty,
        "short": short,
    }
