"""The online buffer from the forecast: what the app leaves on the shelf.

Why: a till sale is never refused (the goods are in the shopper's hand), so a
unit an app order has paid for can leave through the till before the picker
reaches it; the order is then flagged short and refunded. The buffer keeps back
what shoppers in the aisle are expected to take while a paid order waits to be
picked, at the store's service level (``ForecastSettings``; the defaults when a
store has no row).

One buffer per store product and trading day, set nightly:

1. ``forecast``: the product's ``DemandForecast`` for the day (units or kg).
2. ``share``: the part of the product's sales over the last 4 weeks of the
   ledger sold at the till (``SALE_IN_STORE`` against ``PICK``), blended with
   the store's share with the weight of 10 purchases, so that one sale does not
   put a product at 0% or 100%. A store without any sale assumes every sale is
   in the aisle (the side that protects paid orders).
3. The hour profile: when the store's till purchases happen, by store-local
   hour over the same 4 weeks (purchases counted, so kilograms and pieces weigh
   alike; the day's own weekday when it has 100 purchases or more, else every
   day). With no history, flat over the opening hours.
4. ``window share``: the largest part of a day's till purchases that falls in
   any ``order_wait_minutes`` window (slid minute by minute, each hour's
   purchases spread evenly over it). The buffer is sized for the busiest wait
   of the day, not hour by hour: it is written once a night, so in quiet hours
   it keeps back more than needed (the app promises a little less than it
   could), and it is never short at the peak.
5. ``expected`` = forecast x share x window share: the in-store units expected
   in the busiest wait.
6. The buffer is the ``buffer_service_level`` quantile of the in-store units in
   that wait. Purchases arrive as a Poisson process and each takes a size from
   the product's till purchases (a compound Poisson); it is approximated by a
   scaled Poisson with the same mean and variance: units = d x Poisson(expected
   / d) with d = E[size^2] / E[size] (the product's own till purchases when it
   has 5 or more, else the store's of the same sale unit, else 1 piece or
   0.5 kg). A product bought one piece at a time has d = 1: the plain Poisson
   quantile. Rounded up, to whole pieces or to the gram.

A product without a forecast for the day keeps its buffer (counted in the
plan). The buffers are written through ``inventory.services.
store_product_buffers_set`` in batches of 500, each its own short transaction.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal

from django.db.models import Count, DecimalField, ExpressionWrapper, F, Sum
from django.db.models.functions import ExtractHour, ExtractIsoWeekDay
from django.utils import timezone

from inventory import services
from inventory.forecast.models import DemandForecast, ForecastSettings
from inventory.models import MovementKind, SaleUnit, StockMovement, Store, StoreProduct

LOOKBACK_DAYS = 28
SHARE_PRIOR_PURCHASES = 10
OWN_SIZE_MIN_PURCHASES = 5
WEEKDAY_PROFILE_MIN_PURCHASES = 100
DEFAULT_PURCHASE_SIZE = {SaleUnit.PIECE: 1.0, SaleUnit.KILOGRAM: 0.5}
WRITE_BATCH = 500
MINUTES_PER_DAY = 24 * 60
_PIECE = Decimal(1)
_GRAM = Decimal("0.001")


# --- The arithmetic -----------------------------------------------------------


def poisson_quantile(mean: float, level: float) -> int:
    """The smallest k with P(X <= k) >= ``level`` for X ~ Poisson(``mean``).

    Summed in log space from where the mass below is negligible (12 standard
    deviations under the mean), so a mean of thousands costs a few hundred terms
    and never underflows.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, not {level}")
    if mean <= 0:
        return 0
    k = max(0, math.floor(mean - 12 * math.sqrt(mean)))
    log_mean = math.log(mean)
    limit = math.ceil(mean + 40 * math.sqrt(mean) + 40)
    total = 0.0
    while k < limit:
        total += math.exp(k * log_mean - mean - math.lgamma(k + 1))
        if total >= level:
            return k
        k += 1
    return limit


def busiest_window_share(density: Sequence[float], minutes: int) -> float:
    """The largest sum of ``minutes`` consecutive minutes of ``density`` (one
    value per minute of the day, the day wrapping round midnight)."""
    if minutes <= 0:
        return 0.0
    if minutes >= len(density):
        return float(sum(density))
    prefix = [0.0]
    for value in (*density, *density[:minutes]):
        prefix.append(prefix[-1] + value)
    return max(prefix[i + minutes] - prefix[i] for i in range(len(density)))


def _rounded_up(value: float, sale_unit: str) -> Decimal:
    step = _GRAM if sale_unit == SaleUnit.KILOGRAM else _PIECE
    # Round away float noise (3 x 0.1 is 0.30000000000000004) before rounding up.
    exact = Decimal(repr(value)).quantize(Decimal("0.000001"))
    return exact.quantize(step, rounding=ROUND_CEILING).quantize(_GRAM)


def buffer_for(
    *, expected: float, size: float, level: float, sale_unit: str
) -> Decimal:
    """The buffer for ``expected`` in-store units in the wait, purchases of
    dispersion ``size`` (E[size^2] / E[size]), at service ``level``."""
    if expected <= 0:
        return Decimal("0.000")
    size = size if size > 0 else DEFAULT_PURCHASE_SIZE[SaleUnit.PIECE]
    purchases = poisson_quantile(expected / size, level)
    return _rounded_up(purchases * size, sale_unit)


# --- Time -----------------------------------------------------------------------


def _as_time(value: dt.time | str) -> dt.time:
    return value if isinstance(value, dt.time) else dt.time.fromisoformat(value)


def _minute_of_day(value: dt.time | str) -> int:
    moment = _as_time(value)
    return moment.hour * 60 + moment.minute


def trading_day_of(store: Store, moment: dt.datetime) -> dt.date:
    """The trading day ``moment`` belongs to, in the store's time zone.

    A day that ends in the evening (``trading_day_ends_at`` 22:00) counts what
    comes after that hour to the next day; one that ends after midnight (02:00)
    counts the small hours to the day before.
    """
    local = timezone.localtime(moment, store.tz)
    ends = _as_time(store.trading_day_ends_at)
    if ends >= dt.time(12):
        return local.date() + dt.timedelta(days=1 if local.time() >= ends else 0)
    return local.date() - dt.timedelta(days=1 if local.time() < ends else 0)


# --- What the ledger says ---------------------------------------------------------


@dataclass(frozen=True)
class HourProfile:
    """When the store's till purchases happen: one share per minute of the day."""

    density: tuple[float, ...]
    source: str  # "weekday", "all days" or "opening hours"
    purchases: int


def _flat_over_opening_hours(store: Store) -> list[float]:
    opens, closes = _minute_of_day(store.opens_at), _minute_of_day(store.closes_at)
    length = (closes - opens) % MINUTES_PER_DAY
    if store.is_24h or length == 0:
        opens, length = 0, MINUTES_PER_DAY
    density = [0.0] * MINUTES_PER_DAY
    for offset in range(length):
        density[(opens + offset) % MINUTES_PER_DAY] = 1.0 / length
    return density


def _spread_by_minute(purchases_by_hour: Sequence[int]) -> list[float]:
    total = sum(purchases_by_hour)
    return [
        purchases_by_hour[minute // 60] / total / 60
        for minute in range(MINUTES_PER_DAY)
    ]


def hour_profile(
    *, store: Store, day: dt.date, since: dt.datetime, until: dt.datetime
) -> HourProfile:
    """The store's till purchases by local hour between ``since`` and ``until``:
    ``day``'s weekday alone when it has enough, else every day, else flat over
    the opening hours."""
    rows = (
        StockMovement.objects.filter(
            store_product__store=store,
            kind=MovementKind.SALE_IN_STORE,
            created_at__gte=since,
            created_at__lt=until,
        )
        .annotate(
            weekday=ExtractIsoWeekDay("created_at", tzinfo=store.tz),
            hour=ExtractHour("created_at", tzinfo=store.tz),
        )
        .values("weekday", "hour")
        .annotate(purchases=Count("pk"))
        .order_by()
    )
    by_weekday: dict[int, list[int]] = defaultdict(lambda: [0] * 24)
    every_day = [0] * 24
    for row in rows:
        by_weekday[row["weekday"]][row["hour"]] += row["purchases"]
        every_day[row["hour"]] += row["purchases"]
    own = by_weekday.get(day.isoweekday(), [0] * 24)
    if sum(own) >= WEEKDAY_PROFILE_MIN_PURCHASES:
        return HourProfile(tuple(_spread_by_minute(own)), "weekday", sum(own))
    if sum(every_day):
        return HourProfile(
            tuple(_spread_by_minute(every_day)), "all days", sum(every_day)
        )
    return HourProfile(tuple(_flat_over_opening_hours(store)), "opening hours", 0)


@dataclass
class _Sales:
    """One product's (or a group's) sales over the look-back, by channel."""

    till_units: float = 0.0
    till_purchases: int = 0
    till_squares: float = 0.0
    online_units: float = 0.0
    online_purchases: int = 0

    def add(self, other: _Sales) -> None:
        self.till_units += other.till_units
        self.till_purchases += other.till_purchases
        self.till_squares += other.till_squares
        self.online_units += other.online_units
        self.online_purchases += other.online_purchases

    @property
    def size(self) -> float | None:
        """E[size^2] / E[size] of the till purchases; None without any."""
        return self.till_squares / self.till_units if self.till_units > 0 else None


def _sales_by_product(
    *, store: Store, since: dt.datetime, until: dt.datetime
) -> dict[int, _Sales]:
    squares = ExpressionWrapper(
        F("on_hand_delta") * F("on_hand_delta"),
        output_field=DecimalField(max_digits=30, decimal_places=6),
    )
    rows = (
        StockMovement.objects.filter(
            store_product__store=store,
            kind__in=(MovementKind.SALE_IN_STORE, MovementKind.PICK),
            created_at__gte=since,
            created_at__lt=until,
        )
        .values("store_product_id", "kind")
        .annotate(
            units=Sum("on_hand_delta"), purchases=Count("pk"), squares=Sum(squares)
        )
        .order_by()
    )
    sales: dict[int, _Sales] = defaultdict(_Sales)
    for row in rows:
        entry = sales[row["store_product_id"]]
        units = -float(row["units"] or 0)
        if row["kind"] == MovementKind.SALE_IN_STORE:
            entry.till_units += units
            entry.till_purchases += row["purchases"]
            entry.till_squares += float(row["squares"] or 0)
        else:
            entry.online_units += units
            entry.online_purchases += row["purchases"]
    return sales


# --- The plan -------------------------------------------------------------------------


@dataclass(frozen=True)
class BufferLine:
    """One store product's new buffer and how it was reached."""

    store_product_id: int
    sku: str
    sale_unit: str
    forecast: Decimal
    share: float
    expected: float
    size: float
    current: Decimal
    buffer: Decimal

    @property
    def changed(self) -> bool:
        return self.buffer != self.current


@dataclass
class BufferPlan:
    """A store's buffers for one trading day; ``written`` once applied."""

    store: Store
    day: dt.date
    wait_minutes: int
    service_level: float
    profile: HourProfile
    window_share: float
    store_share: float
    lines: list[BufferLine] = field(default_factory=list)
    without_forecast: int = 0
    written: int = 0

    @property
    def changes(self) -> list[BufferLine]:
        return [line for line in self.lines if line.changed]


def forecast_settings_of(store: Store) -> ForecastSettings:
    """The store's settings row, or an unsaved one holding the defaults."""
    return ForecastSettings.objects.filter(store=store).first() or ForecastSettings(
        store=store
    )


def _share(own: _Sales, store_share: float, default_size: float) -> float:
    purchases = own.till_purchases + own.online_purchases
    units = own.till_units + own.online_units
    mean_size = units / purchases if purchases else default_size
    prior = SHARE_PRIOR_PURCHASES * mean_size
    return (own.till_units + prior * store_share) / (units + prior)


def online_buffers_plan(
    *, store: Store, day: dt.date | None = None, now: dt.datetime | None = None
) -> BufferPlan:
    """What each active product's buffer should be on ``day`` (default: the
    trading day in progress, or the next once today's has ended). Reads only."""
    now = now or timezone.now()
    day = day or trading_day_of(store, now)
    settings_row = forecast_settings_of(store)
    since = now - dt.timedelta(days=LOOKBACK_DAYS)
    profile = hour_profile(store=store, day=day, since=since, until=now)
    wait = int(settings_row.order_wait_minutes)
    window_share = busiest_window_share(profile.density, wait)
    level = float(settings_row.buffer_service_level)

    sales = _sales_by_product(store=store, since=since, until=now)
    products = list(
        StoreProduct.objects.filter(store=store, is_active=True)
        .order_by("pk")
        .values_list("pk", "product__sku", "product__sale_unit", "online_buffer")
    )
    unit_of = {pk: unit for pk, _, unit, _ in products}
    whole_store = _Sales()
    by_unit: dict[str, _Sales] = defaultdict(_Sales)
    for pk, entry in sales.items():
        whole_store.add(entry)
        if pk in unit_of:
            by_unit[unit_of[pk]].add(entry)
    all_purchases = whole_store.till_purchases + whole_store.online_purchases
    store_share = whole_store.till_purchases / all_purchases if all_purchases else 1.0

    forecasts = dict(
        DemandForecast.objects.filter(
            store_product__store=store, store_product__is_active=True, day=day
        ).values_list("store_product_id", "quantity")
    )
    plan = BufferPlan(
        store=store,
        day=day,
        wait_minutes=wait,
        service_level=level,
        profile=profile,
        window_share=window_share,
        store_share=store_share,
    )
    for pk, sku, sale_unit, current in products:
        if pk not in forecasts:
            plan.without_forecast += 1
            continue
        own = sales.get(pk, _Sales())
        default_size = DEFAULT_PURCHASE_SIZE.get(sale_unit, 1.0)
        if own.till_purchases >= OWN_SIZE_MIN_PURCHASES and own.size:
            size = own.size
        else:
            size = by_unit[sale_unit].size or default_size
        share = _share(own, store_share, default_size)
        expected = float(forecasts[pk]) * share * window_share
        plan.lines.append(
            BufferLine(
                store_product_id=pk,
                sku=sku,
                sale_unit=sale_unit,
                forecast=forecasts[pk],
                share=share,
                expected=expected,
                size=size,
                current=current,
                buffer=buffer_for(
                    expected=expected, size=size, level=level, sale_unit=sale_unit
                ),
            )
        )
    return plan


def online_buffers_set(
    *,
    store: Store,
    day: dt.date | None = None,
    now: dt.datetime | None = None,
    dry_run: bool = False,
) -> BufferPlan:
    """Plan the store's buffers for ``day`` and, unless ``dry_run``, write the
    ones that change (batches of ``WRITE_BATCH``, one short transaction each;
    running it twice writes nothing the second time)."""
    plan = online_buffers_plan(store=store, day=day, now=now)
    if dry_run:
        return plan
    changes = plan.changes
    for start in range(0, len(changes), WRITE_BATCH):
        batch = changes[start : start + WRITE_BATCH]
        plan.written += services.store_product_buffers_set(
            store=store,
            buffers={line.store_product_id: line.buffer for line in batch},
        )
    return plan
