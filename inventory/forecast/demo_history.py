"""Two years of made-up but realistic daily sales for the demo stores.

``python manage.py seed_demo_history`` writes them (``source=demo``) with the
store weather that goes with them. What drives a product's demand on a day:

* its level: a third fast movers (tens of units, or kilograms, a day), a third
  medium, a third slow movers that sell on a minority of days (intermittent;
  some of them fading out); daily-fresh products are fast or medium only;
* the weekday (weekends busier, by category), a yearly season by category
  (fruit and drinks in summer, meat and frozen dumplings in winter), a slow
  trend;
* China's public holidays (``holidays``, CN): quieter during the Spring
  Festival week (Shanghai empties), busier on the other holidays and on the two
  days before any holiday;
* the weather: temperature (drinks and frozen up in the heat, hot food down)
  and rain (fewer people walk in);
* the price: promotions (a few days at 15-30% off) and evening markdowns of
  daily-fresh goods lower the day's average price; demand answers with the
  category's elasticity;
* noise (negative binomial), and a shelf that sometimes runs empty: the day's
  stock is planned from the usual demand, so a hot promotion day can sell out
  (the sales are then the stock, ``sold_out`` is set: censored).

Deterministic for a seed: one random stream per store (weather per city), so a
store regenerates alone to the same numbers. A rerun deletes the store's demo
rows and writes them again; days that hold ledger or imported rows are kept.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import zlib
import zoneinfo
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
from django.db import connection, transaction
from django.utils import timezone

from inventory.forecast.models import DailySales, SalesSource
from inventory.forecast.public_holidays import holiday_name, public_holidays
from inventory.models import Store, StoreProduct
from inventory.weather import StoreWeather, WeatherCondition, hour_floor

FORECAST_DAYS = 7
# Weekday factors Monday..Sunday.
WEEKLY = np.array([0.88, 0.86, 0.9, 0.95, 1.08, 1.3, 1.24])
# Per category: yearly amplitude and the day of the year it peaks, temperature
# effect per °C above 20, rain effect per log1p(mm), price elasticity.
CATEGORY = {
    "fruit": (0.30, 200, 0.015, -0.05, 1.8),
    "vegetables": (0.12, 60, 0.0, -0.06, 1.2),
    "seafood": (0.15, 35, -0.005, -0.08, 1.6),
    "meat": (0.22, 20, -0.012, -0.05, 1.4),
    "dairy": (0.08, 190, 0.006, -0.04, 1.3),
    "eggs": (0.05, 30, 0.0, -0.05, 0.9),
    "tofu": (0.08, 40, -0.004, -0.04, 1.1),
    "bakery": (0.10, 330, -0.004, -0.10, 1.5),
    "ready-meals": (0.12, 15, -0.01, 0.06, 1.4),
    "frozen": (0.20, 210, 0.02, 0.02, 1.7),
    "grocery": (0.06, 20, 0.0, -0.03, 1.0),
    "drinks": (0.35, 205, 0.035, -0.04, 2.0),
    "snacks": (0.10, 25, 0.0, -0.03, 1.6),
}
DEFAULT_CATEGORY = (0.1, 180, 0.0, -0.04, 1.4)
HOLIDAY_FACTOR = {"spring_festival": 0.55, "spring_festival_eve": 1.45}
OTHER_HOLIDAY_FACTOR = 1.2
LEAD_FACTOR = 1.25


@dataclass(frozen=True)
class DemoHistory:
    store: str
    products: int
    days: int
    sales_rows: int
    weather_rows: int
    sold_out_share: float
    zero_share: float


def _rng(seed: int, key: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(key.encode())])


def demo_weather(
    *, store: Store, first: dt.date, days: int, seed: int
) -> dict[str, np.ndarray]:
    """Daily mean °C and total mm for ``days`` days from ``first`` plus the
    forecast week, for the store's city (stores in one city share it)."""
    city = f"{float(store.latitude):.0f}:{float(store.longitude):.0f}"
    rng = _rng(seed, "weather:" + city)
    n = days + FORECAST_DAYS + 1
    dates = [first + dt.timedelta(days=i) for i in range(n)]
    doy = np.array([d.timetuple().tm_yday for d in dates])
    # Shanghai: about 5 °C in late January, 30 °C in late July.
    noise = np.zeros(n)
    shocks = rng.normal(0, 1.6, n)
    for i in range(1, n):
        noise[i] = 0.7 * noise[i - 1] + shocks[i]
    temperature = 17.5 - 12.5 * np.cos(2 * np.pi * (doy - 22) / 365.25) + noise
    # Rain on about a third of days, more in the June "plum rain" season.
    chance = 0.3 + 0.3 * np.exp(-(((doy - 170) / 20.0) ** 2))
    rain = np.where(rng.random(n) < chance, rng.exponential(7.0, n), 0.0)
    return {"dates": np.array(dates), "temperature": temperature, "precipitation": rain}


def _holiday_factors(dates: list[dt.date]) -> np.ndarray:
    factors = np.ones(len(dates))
    index = {d: i for i, d in enumerate(dates)}
    for day, name in public_holidays(dates[0].year, dates[-1].year):
        key = holiday_name(name)
        for lead in (1, 2):
            i = index.get(day - dt.timedelta(days=lead))
            if i is not None and factors[i] == 1.0:
                factors[i] = LEAD_FACTOR
        i = index.get(day)
        if i is not None:
            factors[i] = HOLIDAY_FACTOR.get(key, OTHER_HOLIDAY_FACTOR)
    return factors


def _sales_for_product(
    rng: np.random.Generator,
    *,
    category: str,
    list_price: float,
    weighed: bool,
    daily_fresh: bool,
    dates: list[dt.date],
    weather: dict[str, np.ndarray],
    holiday: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(quantity, average price, sold out) per day of ``dates``."""
    n = len(dates)
    amplitude, peak, temp_effect, rain_effect, elasticity = CATEGORY.get(
        category, DEFAULT_CATEGORY
    )
    kind = rng.random()
    if daily_fresh:
        # A store lists as daily fresh only what sells every day: a slow mover
        # would be thrown away most evenings (the draw scaled onto the fast
        # and medium thirds).
        kind *= 0.66
    if kind < 0.33:
        level = rng.uniform(15, 60)
    elif kind < 0.66:
        level = rng.uniform(3, 15)
    else:
        level = rng.uniform(0.15, 1.2)
    if weighed:
        level *= rng.uniform(0.3, 0.6)  # kilograms
    doy = np.array([d.timetuple().tm_yday for d in dates])
    weekday = np.array([d.weekday() for d in dates])
    weekly = WEEKLY[weekday] * np.exp(rng.normal(0, 0.04, 7))[weekday]
    season = 1 + amplitude * rng.uniform(0.6, 1.2) * np.cos(
        2 * np.pi * (doy - peak) / 365.25
    )
    t = np.arange(n) / 365.0
    trend = np.exp(rng.normal(0.03, 0.08) * t)
    if kind >= 0.66 and rng.random() < 0.2:
        trend *= np.exp(-1.5 * t)  # a slow mover that fades out
    temperature, rain = weather["temperature"][:n], weather["precipitation"][:n]
    climate = np.exp(temp_effect * (temperature - 20) + rain_effect * np.log1p(rain))
    # Prices: promotions in runs of 3-6 days on about 6% of days; daily-fresh
    # evening markdowns take up to 8% off the day's average.
    price = np.full(n, list_price)
    day = 0
    while day < n:
        if rng.random() < 0.015:
            length = int(rng.integers(3, 7))
            price[day : day + length] *= 1 - rng.uniform(0.15, 0.3)
            day += length
        day += 1
    if daily_fresh:
        price *= 1 - rng.uniform(0, 0.08, n)
    usual = level * weekly * season * trend
    expected = usual * holiday * climate * (price / list_price) ** (-elasticity)
    shape = 10.0
    demand = rng.poisson(expected * rng.gamma(shape, 1 / shape, n)).astype(float)
    if weighed:
        demand = np.round(demand * rng.uniform(0.8, 1.2, n) * 1.0, 3)
    # The day's stock: the usual demand with a margin (thinner for daily fresh).
    margin = 1.35 if daily_fresh else 1.8
    stock = np.ceil(usual * margin + 2)
    sold = np.minimum(demand, stock)
    sold_out = demand > stock
    return sold, np.round(price, 2), sold_out


def demo_history_generate(
    *, store: Store, days: int = 730, seed: int = 1, now: dt.datetime | None = None
) -> DemoHistory:
    """Replace the store's demo history (``days`` days up to yesterday, store
    time, as of ``now``) and its weather (observed hours before ``now``,
    forecast hours up to 7 days ahead). Returns what was written."""
    if days < 1:
        raise ValueError("days must be at least 1")
    zone = zoneinfo.ZoneInfo(store.time_zone)
    now = now or timezone.now()
    today = now.astimezone(zone).date()
    first = today - dt.timedelta(days=days)
    dates = [first + dt.timedelta(days=i) for i in range(days)]
    weather = demo_weather(store=store, first=first, days=days, seed=seed)
    holiday = _holiday_factors(dates)
    products = list(
        StoreProduct.objects.filter(store=store)
        .select_related("product__category")
        .order_by("product__sku")
    )
    rng = _rng(seed, "sales:" + store.code)
    lines = io.StringIO()
    sold_out_days = zero_days = rows = 0
    for sp in products:
        product = sp.product
        quantity, price, sold_out = _sales_for_product(
            rng,
            category=product.category.slug,
            list_price=float(sp.list_price) or 1.0,
            weighed=product.is_weighed,
            daily_fresh=product.is_daily_fresh,
            dates=dates,
            weather=weather,
            holiday=holiday,
        )
        sold_out_days += int(sold_out.sum())
        zero_days += int((quantity == 0).sum())
        for i, day in enumerate(dates):
            q = quantity[i]
            average = f"{price[i]:.2f}" if q > 0 else r"\N"
            lines.write(
                f"{sp.pk}\t{day.isoformat()}\t{q:.3f}\t{q * price[i]:.2f}\t"
                f"{average}\t{'t' if sold_out[i] else 'f'}\n"
            )
            rows += 1
    weather_rows = _weather_rows(
        store=store, weather=weather, zone=zone, now=now, days=days
    )
    with transaction.atomic():
        DailySales.objects.filter(
            store_product__store=store, source=SalesSource.DEMO
        ).delete()
        written = _copy_sales(lines.getvalue(), rows)
        StoreWeather.objects.filter(
            store=store,
            hour__gte=weather_rows[0].hour,
            hour__lte=weather_rows[-1].hour,
        ).delete()
        StoreWeather.objects.bulk_create(weather_rows, batch_size=2000)
    total = max(rows, 1)
    return DemoHistory(
        store=store.code,
        products=len(products),
        days=days,
        sales_rows=written,
        weather_rows=len(weather_rows),
        sold_out_share=sold_out_days / total,
        zero_share=zero_days / total,
    )


def _copy_sales(text: str, rows: int) -> int:
    """Insert the rows; days already held by other sources are kept. COPY into a
    temporary table on PostgreSQL (fast), bulk_create elsewhere."""
    if connection.vendor != "postgresql":
        objects = []
        for line in text.splitlines():
            pk, day, qty, revenue, average, out = line.split("\t")
            objects.append(
                DailySales(
                    store_product_id=int(pk),
                    day=dt.date.fromisoformat(day),
                    quantity=Decimal(qty),
                    revenue=Decimal(revenue),
                    average_price=None if average == r"\N" else Decimal(average),
                    sold_out=out == "t",
                    source=SalesSource.DEMO,
                )
            )
        created = DailySales.objects.bulk_create(
            objects, batch_size=2000, ignore_conflicts=True
        )
        return len(created)
    table = DailySales._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE demo_sales (store_product_id bigint, day date, "
            "quantity numeric(12,3), revenue numeric(14,2), average_price "
            "numeric(12,2), sold_out boolean) ON COMMIT DROP"
        )
        with cursor.cursor.copy(
            "COPY demo_sales (store_product_id, day, quantity, revenue, "
            "average_price, sold_out) FROM STDIN"
        ) as copy:
            copy.write(text)
        cursor.execute(
            f"INSERT INTO {table} (store_product_id, day, quantity, revenue, "  # noqa: S608 (our table name)
            "average_price, sold_out, source, updated_at) SELECT store_product_id, "
            "day, quantity, revenue, average_price, sold_out, %s, now() FROM "
            "demo_sales ON CONFLICT (store_product_id, day) DO NOTHING",
            [SalesSource.DEMO.value],
        )
        inserted = cursor.rowcount
        # Dropped now, not at commit: an enclosing transaction (a test) may
        # call this again before it commits.
        cursor.execute("DROP TABLE demo_sales")
        return inserted


def _weather_rows(
    *, store: Store, weather: dict[str, np.ndarray], zone, now: dt.datetime, days: int
) -> list[StoreWeather]:
    """Hourly rows: a daily cycle of ±4 °C around the day's mean, the day's rain
    over a few hours; observed before the current hour, forecast from it on
    (the forecast is the truth plus an error that grows with the lead time)."""
    rng = _rng(0, f"hours:{store.code}")
    current = hour_floor(now)
    rows = []
    for i, day in enumerate(weather["dates"]):
        mean, rain = (
            float(weather["temperature"][i]),
            float(weather["precipitation"][i]),
        )
        wet_hours = set(rng.choice(24, size=int(rng.integers(2, 9)), replace=False))
        for hour in range(24):
            local = dt.datetime.combine(day, dt.time(hour), tzinfo=zone)
            utc = local.astimezone(dt.UTC)
            forecast = utc >= current
            temperature = mean + 4 * math.sin(2 * math.pi * (hour - 9) / 24)
            precipitation = rain / len(wet_hours) if hour in wet_hours else 0.0
            if forecast:
                lead_days = (utc - current).total_seconds() / 86400
                temperature += rng.normal(0, 0.8 + 0.4 * lead_days)
                precipitation *= max(0.0, rng.normal(1.0, 0.3))
            rows.append(
                StoreWeather(
                    store=store,
                    hour=utc,
                    temperature=Decimal(f"{temperature:.1f}"),
                    precipitation=Decimal(f"{precipitation:.2f}"),
                    condition=WeatherCondition.RAIN
                    if precipitation > 0
                    else WeatherCondition.CLEAR,
                    is_forecast=forecast,
                    fetched_at=now,
                )
            )
    return rows
