"""A store product's last four weeks, read for its chart: sales, stock on hand,
shelf price and forecast, day by day in the store's trading days.

* sales: ``DailySales`` (the history the forecast reads), ``sold_out`` kept;
* stock on hand at each trading day's end: rebuilt from the ledger, the count
  now minus every ``StockMovement.on_hand_delta`` written after that day ended
  (one query with a conditional sum per day), so it needs no snapshot table;
* shelf price: ``pricing.selectors`` (the price in force when the window
  opens, then every ``PriceChange``), a step function of time;
* forecast: ``DemandForecast`` rows, the one-day-ahead ones kept for past days
  and the days ahead (at most ``AHEAD_DAYS``).

It lives in ``hema`` because it reads inventory and pricing together, and
inventory may not import pricing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Q, Sum

from inventory.forecast.days import TradingCalendar
from inventory.forecast.models import DailySales, DemandForecast
from inventory.models import StockMovement, StoreProduct
from pricing import selectors as pricing_selectors

WINDOW_DAYS = 28
AHEAD_DAYS = 7


@dataclass(frozen=True)
class DayFigures:
    day: dt.date
    sold: Decimal | None
    sold_out: bool
    on_hand: Decimal | None
    forecast: Decimal | None
    lower: Decimal | None
    upper: Decimal | None


@dataclass(frozen=True)
class ProductHistory:
    """``days``: first to last, one row each; ``prices``: (moment, price)
    steps from ``start`` to ``now``, the first at ``start``."""

    store_product: StoreProduct
    calendar: TradingCalendar
    today: dt.date
    first: dt.date
    last: dt.date
    start: dt.datetime
    now: dt.datetime
    days: list[DayFigures]
    prices: list[tuple[dt.datetime, Decimal]]


def on_hand_at_day_ends(
    *, store_product: StoreProduct, ends: dict[dt.date, dt.datetime]
) -> dict[dt.date, Decimal]:
    """On hand at each moment of ``ends``: the count now minus what the ledger
    moved after it (one query)."""
    sums = StockMovement.objects.filter(store_product=store_product).aggregate(
        **{
            f"d{day:%Y%m%d}": Sum("on_hand_delta", filter=Q(created_at__gte=end))
            for day, end in ends.items()
        }
    )
    return {
        day: store_product.on_hand - (sums[f"d{day:%Y%m%d}"] or Decimal(0))
        for day in ends
    }


def shelf_prices(
    *, store_product: StoreProduct, start: dt.datetime, now: dt.datetime
) -> list[tuple[dt.datetime, Decimal]]:
    """The shelf price in force at ``start``, then each change up to ``now``."""
    steps = [(start, pricing_selectors.price_at(store_product=store_product, at=start))]
    steps += [
        (change.changed_at, change.new_price)
        for change in pricing_selectors.price_history(
            store_product=store_product, since=start
        )
        if start < change.changed_at <= now
    ]
    return steps


def product_history(*, store_product: StoreProduct, now: dt.datetime) -> ProductHistory:
    """The last ``WINDOW_DAYS`` trading days (today included) and the
    forecast's days ahead."""
    calendar = TradingCalendar(store_product.store)
    today = calendar.day_of(now)
    first = today - dt.timedelta(days=WINDOW_DAYS - 1)
    start = calendar.start_of(first)
    sales = {
        row.day: row
        for row in DailySales.objects.filter(
            store_product=store_product, day__gte=first, day__lte=today
        )
    }
    forecasts = {
        row.day: row
        for row in DemandForecast.objects.filter(
            store_product=store_product,
            day__gte=first,
            day__lte=today + dt.timedelta(days=AHEAD_DAYS),
        )
    }
    last = max([today, *forecasts])
    past_days = [first + dt.timedelta(days=n) for n in range(WINDOW_DAYS)]
    ends = {
        day: min(calendar.start_of(day + dt.timedelta(days=1)), now)
        for day in past_days
    }
    on_hand = on_hand_at_day_ends(store_product=store_product, ends=ends)
    days = []
    for n in range((last - first).days + 1):
        day = first + dt.timedelta(days=n)
        sold, forecast = sales.get(day), forecasts.get(day)
        days.append(
            DayFigures(
                day=day,
                sold=sold.quantity if sold else None,
                sold_out=bool(sold and sold.sold_out),
                on_hand=on_hand.get(day),
                forecast=forecast.quantity if forecast else None,
                lower=forecast.lower if forecast else None,
                upper=forecast.upper if forecast else None,
            )
        )
    return ProductHistory(
        store_product=store_product,
        calendar=calendar,
        today=today,
        first=first,
        last=last,
        start=start,
        now=now,
        days=days,
        prices=shelf_prices(store_product=store_product, start=start, now=now),
    )
