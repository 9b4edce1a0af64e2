"""The forecast's series: sales history, daily weather and shelf prices, read.

Only inventory's tables (``DailySales``, ``StoreWeather``, ``StoreProduct``).
Days between a series' first row and its last day without a row sold nothing.
Weather is aggregated per store-local day (mean °C, total mm); a day without
weather rows takes the nearest earlier day's (or the series' mean).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable

import numpy as np
from django.db.models import Avg, Sum
from django.db.models.functions import TruncDate

from inventory.forecast.methods.base import FutureInputs, SeriesWindow
from inventory.forecast.models import DailySales
from inventory.models import Store, StoreProduct
from inventory.weather import StoreWeather

DEFAULT_TEMPERATURE = 18.0


def store_today(store: Store, now: dt.datetime | None = None) -> dt.date:
    """The store's local date now."""
    from django.utils import timezone

    moment = now or timezone.now()
    return moment.astimezone(zoneinfo.ZoneInfo(store.time_zone)).date()


def daily_weather(
    *, store: Store, first: dt.date, last: dt.date, forecast: bool | None = None
) -> dict[dt.date, tuple[float, float]]:
    """(mean °C, total mm) per store-local day in ``[first, last]``; ``forecast``
    False keeps observations only, True forecasts only, None both."""
    zone = zoneinfo.ZoneInfo(store.time_zone)
    start = dt.datetime.combine(first, dt.time.min, tzinfo=zone)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time.min, tzinfo=zone)
    rows = StoreWeather.objects.filter(store=store, hour__gte=start, hour__lt=end)
    if forecast is not None:
        rows = rows.filter(is_forecast=forecast)
    aggregated = (
        rows.annotate(day=TruncDate("hour", tzinfo=zone))
        .values("day")
        .annotate(temperature=Avg("temperature"), precipitation=Sum("precipitation"))
    )
    return {
        row["day"]: (float(row["temperature"]), float(row["precipitation"]))
        for row in aggregated
    }


def _weather_arrays(
    weather: dict[dt.date, tuple[float, float]], first: dt.date, n: int
) -> tuple[np.ndarray, np.ndarray]:
    temperature = np.full(n, np.nan)
    precipitation = np.full(n, np.nan)
    for i in range(n):
        value = weather.get(first + dt.timedelta(days=i))
        if value is not None:
            temperature[i], precipitation[i] = value
    return _fill(temperature, DEFAULT_TEMPERATURE), _fill(precipitation, 0.0)


def _fill(values: np.ndarray, default: float) -> np.ndarray:
    """Carry the last known value forward (then backward); all missing: default."""
    known = np.flatnonzero(~np.isnan(values))
    if len(known) == 0:
        return np.full(len(values), default)
    index = np.maximum.accumulate(
        np.where(~np.isnan(values), np.arange(len(values)), -1)
    )
    index[index < 0] = known[0]
    return values[index]


def load_history(
    *,
    store: Store,
    store_product_ids: Iterable[int],
    last_day: dt.date,
    first_day: dt.date | None = None,
    weather: dict[dt.date, tuple[float, float]] | None = None,
) -> dict[int, SeriesWindow]:
    """Each store product's history up to ``last_day`` (those without rows are
    left out). ``weather`` (from ``daily_weather``) may be passed to share one
    query among several chunks."""
    ids = list(store_product_ids)
    rows = DailySales.objects.filter(store_product_id__in=ids, day__lte=last_day)
    if first_day is not None:
        rows = rows.filter(day__gte=first_day)
    by_product: dict[int, list[tuple]] = defaultdict(list)
    for row in rows.order_by("store_product_id", "day").values_list(
        "store_product_id", "day", "quantity", "average_price", "sold_out"
    ):
        by_product[row[0]].append(row[1:])
    if not by_product:
        return {}
    start = min(rows_[0][0] for rows_ in by_product.values())
    if weather is None:
        weather = daily_weather(store=store, first=start, last=last_day, forecast=False)
    n_all = (last_day - start).days + 1
    temperature, precipitation = _weather_arrays(weather, start, n_all)
    shelf = dict(
        StoreProduct.objects.filter(pk__in=by_product).values_list("pk", "shelf_price")
    )
    series = {}
    for pk, product_rows in by_product.items():
        first = product_rows[0][0]
        n = (last_day - first).days + 1
        quantity = np.zeros(n)
        price = np.full(n, np.nan)
        sold_out = np.zeros(n, dtype=bool)
        for day, qty, avg_price, out in product_rows:
            i = (day - first).days
            quantity[i] = float(qty)
            if avg_price is not None and qty > 0:
                price[i] = float(avg_price)
            sold_out[i] = out
        offset = (first - start).days
        series[pk] = SeriesWindow(
            start=first,
            quantity=quantity,
            price=_fill(price, float(shelf.get(pk) or 1)),
            sold_out=sold_out,
            temperature=temperature[offset : offset + n],
            precipitation=precipitation[offset : offset + n],
        )
    return series


def future_weather(
    *, store: Store, first_day: dt.date, horizon: int
) -> tuple[np.ndarray, np.ndarray]:
    """The days ahead from the store's stored weather forecast (observations
    where an hour is already observed); a day without any row takes the last
    week's observed mean temperature and no rain."""
    last = first_day + dt.timedelta(days=horizon - 1)
    ahead = daily_weather(store=store, first=first_day, last=last)
    recent = daily_weather(
        store=store,
        first=first_day - dt.timedelta(days=7),
        last=first_day - dt.timedelta(days=1),
        forecast=False,
    )
    fallback = (
        float(np.mean([t for t, _ in recent.values()]))
        if recent
        else DEFAULT_TEMPERATURE
    )
    temperature = np.array(
        [
            ahead.get(first_day + dt.timedelta(days=i), (fallback, 0.0))[0]
            for i in range(horizon)
        ]
    )
    precipitation = np.array(
        [
            ahead.get(first_day + dt.timedelta(days=i), (fallback, 0.0))[1]
            for i in range(horizon)
        ]
    )
    return temperature, precipitation


def future_inputs(
    *,
    first_day: dt.date,
    temperature: np.ndarray,
    precipitation: np.ndarray,
    shelf_price: float,
) -> FutureInputs:
    """The inputs of one series' days ahead: the store's weather forecast and
    the current shelf price (the forecast never asks pricing what comes)."""
    return FutureInputs(
        first_day=first_day,
        temperature=temperature,
        precipitation=precipitation,
        price=np.full(len(temperature), float(shelf_price)),
    )
