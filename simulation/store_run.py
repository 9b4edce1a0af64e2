"""The simulated store day (issue 16): the whole store on the real services.

One event heap over simulated time drives, each at its time:

* in-store shoppers: a cart at the door, each product scanned at the shelf
  price of that moment (``cart_line_add`` with the shelf's QR code), paid with
  ``checkout_in_store`` a few minutes later (carry out);
* app shoppers: a quote, a cart, ``checkout_app`` with the quote's token,
  substitution preferences per line;
* the beat jobs of ``CELERY_BEAT_SCHEDULE`` at their minutes: the hourly
  repricing at :00 (with the scenario's weather written as the hour's
  observation first), the markdown run at :30 inside the markdown window,
  reservation expiry every minute, and the reconcile overnight;
* picking, the rail, packing, the dispatcher and the riders, through the
  handlers of ``simulation.delivery_run``;
* closing: daily-fresh units left (on hand less what paid orders hold) are
  written off; overnight the ledger is folded into the sales history, the
  forecast predicts (when the forecast service is installed), replenishment is
  drafted for the next day and approved by the scenario's rule, and received
  the next morning at the delivery hour (later for a late supplier).

Shoppers react to price (``simulation.shoppers``) and to stock: what is not
on the shelf (in store) or not available online (app) is a stock-out, counted
with the hour and the product. Everything runs in one transaction, rolled back
at the end unless ``keep``.
"""

from __future__ import annotations

import datetime as dt
import heapq
import random
import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from simulation.clock import SimClock, simulated_time
from simulation.delivery_run import (
    TICK,
    SimulationRefused,
    _arrived,
    _deliver,
    _dispatch,
    _pick_up,
    _picked,
    _pickers_claim,
    _Run,
    _staff,
)
from simulation.draws import floor_seconds, point_within, poisson_arrivals
from simulation.scenario import Scenario
from simulation.shoppers import (
    HISTORY_MIX,
    KG_PER_UNIT,
    Shelf,
    basket_pick,
    category_weights,
    in_store_weights,
    price_reaction,
    quantity_of,
)

DRAIN = dt.timedelta(hours=1)  # deliveries still out at closing get this long
NIGHT_AFTER_CLOSE = dt.timedelta(minutes=60)
SHOPPING_MINUTES = (3.0, 15.0)  # scan at the door .. pay at the till
MEMBERS = 30
POPULARITY_DAYS = 28  # shoppers reach for products as they sold over these days
WEEKDAY_WEEKS = 8  # the weekly pattern of "history" arrivals, from these weeks


@dataclass
class DayTally:
    """What the run counts itself for one day (the rest is read from the rows)."""

    stockouts: list[tuple[str, str, int]] = field(default_factory=list)
    # Products a shopper found empty while still on sale at full price (a
    # daily-fresh shelf emptied once the evening markdown has begun is the
    # markdown doing its job: DOMAIN.md).
    short_at_full_price: set[str] = field(default_factory=set)
    short_daily_fresh: set[str] = field(default_factory=set)  # of those above
    markdown_started: bool = False
    price_walks: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    app_refused: int = 0
    app_failed: int = 0
    in_store_baskets: int = 0
    delivered_home: int = 0
    empty_baskets: int = 0
    fresh_opening: Decimal = Decimal(0)
    fresh_received: Decimal = Decimal(0)
    fresh_written_off: Decimal = Decimal(0)
    sold_out_at_close: list[str] = field(default_factory=list)
    products: int = 0
    forecast: str = "not run"
    replenishment: dict[str, Any] = field(default_factory=dict)


@dataclass
class StoreRun:
    scenario: Scenario
    store: Any
    d: _Run  # the delivery run: heap, clock, rng, pickers, riders' figures
    shelves: list[Shelf]
    in_store_mix: list[Any]
    app_mix: list[Any]
    manager: Any
    daily_fresh: set[int]
    days: list[dt.date]
    tallies: dict[int, DayTally]
    jobs: list[tuple[str, dt.datetime]] = field(default_factory=list)
    idle: list[Any] = field(default_factory=list)
    away: list[Any] = field(default_factory=list)
    owed_absent: int = 0
    in_baskets: dict[int, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    ticking: bool = False
    day: int = 0
    closes_at: dt.datetime | None = None
    shoppers: int = 0
    events_end: dt.datetime | None = None
    tag: str = ""
    free: list[Any] = field(default_factory=list)  # members not in the store now
    weekday: tuple[float, ...] = (1.0,) * 7  # arrivals' factor, Monday first

    @property
    def now(self) -> dt.datetime:
        return self.d.clock.now

    @property
    def tally(self) -> DayTally:
        return self.tallies[self.day]

    def local(self, day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
        base = dt.datetime.combine(day, dt.time(0), tzinfo=self.store.tz)
        return (base + dt.timedelta(hours=hour, minutes=minute)).astimezone(dt.UTC)


# --- Setting up ----------------------------------------------------------------


def _popularity(store: Any, before: dt.date) -> dict[int, float]:
    """Each product's mean daily sales (pieces; kilograms as the simulation's
    half-kilogram units) over the ``POPULARITY_DAYS`` before ``before``, from
    the store's sales history: how often shoppers reach for it. Only products
    with history rows in the window."""
    from django.db.models import Count, Sum

    from inventory.forecast.models import DailySales
    from inventory.models import SaleUnit

    rows = (
        DailySales.objects.filter(
            store_product__store=store,
            day__lt=before,
            day__gte=before - dt.timedelta(days=POPULARITY_DAYS),
        )
        .values("store_product", "store_product__product__sale_unit")
        .annotate(total=Sum("quantity"), days=Count("pk"))
    )
    out = {}
    for row in rows:
        mean = float(row["total"]) / POPULARITY_DAYS
        if row["store_product__product__sale_unit"] == SaleUnit.KILOGRAM:
            mean /= float(KG_PER_UNIT)
        out[row["store_product"]] = mean
    return out


def _weighted(shelves: list[Shelf], popularity: dict[int, float]) -> list[Shelf]:
    """Shelves weighted by popularity; a product without history weighs as the
    mean of its category's products with history (a new product sells like
    an average one of its kind), 1 when the category has none."""
    from dataclasses import replace

    known: dict[str, list[float]] = defaultdict(list)
    for shelf in shelves:
        if shelf.pk in popularity:
            known[shelf.category].append(popularity[shelf.pk])
    out = []
    for shelf in shelves:
        weight = popularity.get(shelf.pk)
        if weight is None:
            seen = known.get(shelf.category)
            weight = sum(seen) / len(seen) if seen else 1.0
        out.append(replace(shelf, weight=weight))
    return out


def _shelves(store: Any, scenario: Scenario, first_day: dt.date) -> list[Shelf]:
    from inventory.models import SaleUnit, StoreProduct

    rows = (
        StoreProduct.objects.filter(store=store, is_active=True)
        .select_related("product__category")
        .order_by("pk")
    )
    shelves = [
        Shelf(
            pk=sp.pk,
            sku=sp.product.sku,
            category=sp.product.category.slug if sp.product.category_id else "",
            by_weight=sp.product.sale_unit == SaleUnit.KILOGRAM,
            zoned=sp.zone_id is not None,
        )
        for sp in rows
    ]
    if isinstance(scenario.category_mix, dict) and scenario.category_mix:
        shelves = [s for s in shelves if scenario.category_mix.get(s.category, 0) > 0]
    shelves = _weighted(shelves, _popularity(store, first_day))
    if not scenario.products:
        return shelves
    # The first N, taken in turn from each category (by id within each), so
    # that a small assortment still has every category of the mix.
    by_category: dict[str, list[Shelf]] = defaultdict(list)
    for shelf in shelves:
        by_category[shelf.category].append(shelf)
    chosen: list[Shelf] = []
    queues = [by_category[c] for c in sorted(by_category)]
    while len(chosen) < scenario.products and any(queues):
        for queue in queues:
            if queue and len(chosen) < scenario.products:
                chosen.append(queue.pop(0))
    return sorted(chosen, key=lambda s: s.pk)


# The simulated shoppers' passwords are random and never typed again: they
# are hashed with a cheap hasher rather than the deployment's PBKDF2 (200 ms a
# sign-up, a fifth of a Hema-scale hour's wall time for nothing a figure sees).
SHOPPER_PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _members(tag: str) -> list[Any]:
    from django.test.utils import override_settings

    from orders.members import member_sign_up
    from orders.wallet import wallet_credit

    members = []
    for i in range(MEMBERS):
        with override_settings(PASSWORD_HASHERS=SHOPPER_PASSWORD_HASHERS):
            member, _ = member_sign_up(
                password=secrets.token_urlsafe(16),
                email=f"sim-{tag}-m{i}@sim.hema.test",
            )
        wallet_credit(
            member=member,
            amount=Decimal("1000000.00"),
            kind="top_up",
            reference=f"sim-{tag}-{i}",
        )
        members.append(member)
    return members


def _weekday_factors(
    scenario: Scenario, store: Any, first_day: dt.date, shelves: list[Shelf]
) -> tuple[float, ...]:
    """The arrivals' factor for each weekday, Monday first: the scenario's, or
    with ``"history"`` the store's units by weekday over the
    ``WEEKDAY_WEEKS`` weeks before the first day over their mean (so that the
    hourly arrivals stay the average day's; 1 each without history)."""
    if scenario.weekday != HISTORY_MIX:
        return tuple(scenario.weekday)
    from django.db.models import Sum

    from inventory.forecast.models import DailySales

    rows = (
        DailySales.objects.filter(
            store_product_id__in=[s.pk for s in shelves],
            day__lt=first_day,
            day__gte=first_day - dt.timedelta(weeks=WEEKDAY_WEEKS),
        )
        .values("day")
        .annotate(units=Sum("quantity"))
    )
    totals = [0.0] * 7
    for row in rows:
        totals[row["day"].weekday()] += float(row["units"])
    mean = sum(totals) / 7
    if mean <= 0:
        return (1.0,) * 7
    return tuple(round(t / mean, 3) for t in totals)


def _aisle_shelves(
    scenario: Scenario, shelves: list[Shelf], app_shelves: list[Shelf]
) -> list[Shelf]:
    """With the history's mix, the aisle makes up for what the app cannot
    sell (``shoppers.in_store_weights``); otherwise the shelves as weighted."""
    if scenario.category_mix != HISTORY_MIX or not scenario.app_per_hour:
        return shelves

    def units(per_hour: dict[int, float], lines: tuple[int, int]) -> float:
        return sum(per_hour.values()) * sum(lines) / 2 * sum(scenario.units) / 2

    return in_store_weights(
        shelves,
        {s.pk for s in app_shelves},
        in_store_units=units(scenario.in_store_per_hour, scenario.in_store_lines),
        app_units=units(scenario.app_per_hour, scenario.app_lines),
    )


def _setup(scenario: Scenario, store: Any, seed: int, start: dt.datetime) -> StoreRun:
    from delivery.layout import bags_issue, rail_layout_linear
    from delivery.models import RailController, RiderShift
    from delivery.rail import controller_create
    from delivery.riders import picker_shift_start, rider_shift_start
    from delivery.travel import delivery_settings
    from inventory.models import StoreProduct
    from inventory.services import stock_correct, stock_receive

    tag = f"{seed}-{int(start.timestamp())}"
    shelves = _shelves(store, scenario, scenario.start)
    app_shelves = [s for s in shelves if s.zoned and not s.by_weight]
    if not shelves:
        raise SimulationRefused(f"{store.code} has no active product to sell.")
    if scenario.app_per_hour and not app_shelves:
        raise SimulationRefused(
            f"{store.code} has no zoned piece product for app orders."
        )
    RiderShift.objects.filter(store=store, ended_at__isnull=True).update(ended_at=start)
    for rider in _staff(store, "rider", scenario.riders, tag):
        rider_shift_start(store=store, rider=rider, now=start)
    pickers = _staff(store, "picker", scenario.pickers, tag)
    for picker in pickers:
        picker_shift_start(store=store, picker=picker, now=start)
    packers = _staff(store, "packer", scenario.packers, tag)
    manager = _staff(store, "manager", 1, tag)[0]
    zones = list(store.zones.order_by("sort_order", "code"))
    if zones:
        rail_layout_linear(store=store, zones=zones, packing_codes=("PACK1",))
        # Bags come back at packing and ``_picked`` issues more when none is
        # free, so a few per rider and zone will do: the free bag is looked up
        # among all of them at every pick.
        bags_issue(store=store, count=max(60, 2 * len(zones) * scenario.riders))
    controller = RailController.objects.filter(store=store).first()
    if controller is None:
        controller, _ = controller_create(store=store)
    for sp in (
        StoreProduct.objects.filter(pk__in=[s.pk for s in shelves])
        .select_related("product")
        .order_by("pk")
    ):
        target = scenario.opening_units
        if sp.product.is_daily_fresh and scenario.opening_units_fresh is not None:
            target = scenario.opening_units_fresh
        if target is None or Decimal(target) == sp.on_hand:
            continue
        if Decimal(target) > sp.on_hand:
            stock_receive(
                store_product=sp,
                quantity=Decimal(target) - sp.on_hand,
                reference="sim opening",
            )
        else:
            stock_correct(
                store_product=sp, counted=target, reason="simulation: opening count"
            )
    if scenario.fresh_cap is not None:
        from inventory.forecast.models import ForecastSettings

        ForecastSettings.objects.update_or_create(
            store=store, defaults={"fresh_cap": scenario.fresh_cap}
        )
    daily_fresh = set(
        StoreProduct.objects.filter(
            pk__in=[s.pk for s in shelves], product__is_daily_fresh=True
        ).values_list("pk", flat=True)
    )
    d = _Run(
        store=store,
        rng=random.Random(seed),  # noqa: S311 (a seeded simulation)
        clock=SimClock(start),
        config=delivery_settings(store),
        solve=None,
        max_iterations=scenario.max_iterations,
        seed=seed,
        pickers=pickers,
        packer=packers[0],
        controller=controller,
        products=[],
        members=_members(tag),
        events=[],
        outcomes={},
        tag=tag,
    )
    days = [scenario.start + dt.timedelta(days=i) for i in range(scenario.days)]
    return StoreRun(
        scenario=scenario,
        store=store,
        d=d,
        shelves=shelves,
        in_store_mix=category_weights(
            _aisle_shelves(scenario, shelves, app_shelves), scenario.category_mix
        ),
        app_mix=category_weights(app_shelves, scenario.category_mix),
        manager=manager,
        daily_fresh=daily_fresh,
        days=days,
        tallies={i: DayTally(products=len(shelves)) for i in range(len(days))},
        idle=list(pickers),
        tag=tag,
        free=list(d.members),
        weekday=_weekday_factors(scenario, store, scenario.start, shelves),
    )


# --- The day's timetable -------------------------------------------------------


def _schedule_day(run: StoreRun, index: int) -> None:
    """Put one day's events on the heap: deliveries in, opening, the beat jobs,
    the arrivals (Poisson per hour, a holiday's multiplier), staff events,
    closing and the night."""
    sc, day, at = run.scenario, run.days[index], run.d.at
    late = {e.supplier: e.hours for e in sc.events_of("supplier_late", index + 1)}
    at(run.local(day, sc.delivery_hour), "receive", (index, late, False))
    if late:
        for hours in sorted(set(late.values())):
            at(
                run.local(day, sc.delivery_hour + hours),
                "receive",
                (index, late, hours),
            )
    at(run.local(day, sc.opens), "open", index)
    for hour in range(sc.opens, sc.closes):
        at(run.local(day, hour), "reprice", hour)
        at(run.local(day, hour, 30), "markdown", hour)
        for minute in range(60):
            at(run.local(day, hour, minute) + dt.timedelta(seconds=1), "expire")
    demand = run.weekday[day.weekday()]
    for event in sc.events_of("holiday", index + 1):
        demand *= event.demand
    for kind, curve in (("shopper", sc.in_store_per_hour), ("order", sc.app_per_hour)):
        for hour in sorted(curve):
            begin = run.local(day, hour)
            for offset in poisson_arrivals(
                run.d.rng, per_hour=curve[hour] * demand, hours=1
            ):
                at(begin + dt.timedelta(seconds=offset), kind)
    for event in sc.events_of("picker_absent", index + 1):
        at(run.local(day, event.start_hour), "absent", event.count)
        at(run.local(day, event.end_hour), "present", event.count)
    at(run.local(day, sc.closes), "close", index)
    # The hourly beat runs around the clock: the first run after closing ends
    # the evening markdown, so the night's forecast reads tomorrow's shelf
    # prices, not tonight's clearance ones.
    at(run.local(day, sc.closes), "reprice", None)
    at(run.local(day, sc.closes) + NIGHT_AFTER_CLOSE, "night", index)


def _weather_for(run: StoreRun, hour: int) -> tuple[float, float, str] | None:
    sc = run.scenario
    if sc.weather == "recorded":
        return None
    span = next(s for s in sc.weather if s.start_hour <= hour < s.end_hour)
    weather = (span.temperature, span.precipitation, span.condition)
    for shower in sc.events_of("rain_shower", run.day + 1):
        if shower.start_hour <= hour < shower.end_hour:
            weather = (span.temperature, shower.precipitation, "rain")
    return weather


# --- The handlers --------------------------------------------------------------


def _reprice(run: StoreRun, hour: int | None) -> None:
    """The hourly job: the scenario's weather is the hour's observation, then
    the real repricing (no provider called: the weather is the scenario's).
    ``hour`` None: after closing, with the last observation."""
    from inventory.weather import StoreWeather, hour_floor
    from pricing.models import RunTrigger
    from pricing.services import store_reprice

    weather = None if hour is None else _weather_for(run, hour)
    if weather is not None:
        temperature, precipitation, condition = weather
        StoreWeather.objects.update_or_create(
            store=run.store,
            hour=hour_floor(run.now),
            defaults={
                "temperature": Decimal(str(temperature)).quantize(Decimal("0.1")),
                "precipitation": Decimal(str(precipitation)).quantize(Decimal("0.01")),
                "condition": condition,
                "is_forecast": False,
                "fetched_at": run.now,
            },
        )
    store_reprice(
        store=run.store, trigger=RunTrigger.HOURLY, now=run.now, refresh_weather=False
    )
    run.jobs.append(("reprice", run.now))


def _markdown(run: StoreRun) -> None:
    from pricing.models import RunTrigger
    from pricing.selectors import stores_in_markdown_window
    from pricing.services import store_reprice

    if run.store.pk in stores_in_markdown_window(at=run.now):
        run.tally.markdown_started = True
        store_reprice(
            store=run.store,
            trigger=RunTrigger.MARKDOWN,
            now=run.now,
            refresh_weather=False,
        )
        run.jobs.append(("markdown", run.now))


def _expire(run: StoreRun) -> None:
    from inventory.services import reservations_release_expired

    reservations_release_expired(now=run.now)
    run.jobs.append(("expire", run.now))


def _member_take(run: StoreRun) -> Any:
    """A member not shopping at the moment (each has one open cart per
    channel, so two visits of one member at once would share a cart); the
    pool grows by a batch when every member is in the store."""
    if not run.free:
        batch = _members(f"{run.tag}-b{len(run.d.members)}")
        run.d.members.extend(batch)
        run.free.extend(batch)
    return run.free.pop(run.d.rng.randrange(len(run.free)))


def _stock(pks: list[int]) -> dict[int, tuple[Decimal, Decimal, Decimal]]:
    from inventory.models import StoreProduct

    return {
        pk: (shelf, listed, on_hand)
        for pk, shelf, listed, on_hand in StoreProduct.objects.filter(
            pk__in=pks
        ).values_list("pk", "shelf_price", "list_price", "on_hand")
    }


def _chosen(run: StoreRun, mix: list[Any], lines: tuple[int, int], channel: str):
    """A basket: products by the category mix, units reacting to the price."""
    rng, sc = run.d.rng, run.scenario
    shelves = basket_pick(rng, mix, rng.randint(*lines))
    prices = _stock([s.pk for s in shelves])
    basket = []
    for shelf in shelves:
        price, listed, on_hand = prices[shelf.pk]
        units = price_reaction(
            rng,
            ratio=float(price / listed) if listed else 1.0,
            units=rng.randint(*sc.units),
            elasticity=sc.elasticity,
        )
        if units == 0:
            run.tally.price_walks[channel] += 1
            continue
        basket.append((shelf, quantity_of(shelf, units), on_hand))
    return basket


def _stockout(run: StoreRun, channel: str, shelf: Shelf) -> None:
    hour = run.now.astimezone(run.store.tz).hour
    run.tally.stockouts.append((channel, shelf.sku, hour))
    if not (shelf.pk in run.daily_fresh and run.tally.markdown_started):
        run.tally.short_at_full_price.add(shelf.sku)
        if shelf.pk in run.daily_fresh:
            run.tally.short_daily_fresh.add(shelf.sku)


def _shopper(run: StoreRun) -> None:
    """In store: a cart at the door, each product scanned at the shelf price
    of now; what is not on the shelf (less what other shoppers carry) is a
    stock-out. Pays a few minutes later."""
    from orders.carts import cart_line_add, cart_open

    rng = run.d.rng
    basket = _chosen(run, run.in_store_mix, run.scenario.in_store_lines, "in_store")
    run.tally.in_store_baskets += 1
    run.shoppers += 1
    taken = []
    for shelf, quantity, on_hand in basket:
        left = on_hand - run.in_baskets[shelf.pk]
        if left <= 0:
            _stockout(run, "in_store", shelf)
            continue
        taken.append((shelf, min(quantity, left)))
    if not taken:
        run.tally.empty_baskets += 1
        return
    member = _member_take(run)
    cart = cart_open(member=member, store=run.store, channel="in_store")
    for shelf, quantity in taken:
        cart_line_add(
            cart=cart,
            quantity=str(quantity),
            code=f"https://hema.test/q/{run.store.code}/{shelf.sku}",
        )
        run.in_baskets[shelf.pk] += quantity
    pay_at = run.now + dt.timedelta(minutes=rng.uniform(*SHOPPING_MINUTES))
    run.d.at(pay_at, "pay", (member, cart.uuid, taken))


def _home_quote(run: StoreRun, lines: int) -> tuple[Any, float, float]:
    from delivery.promise import quote

    store = run.store
    lat, lng = point_within(
        run.d.rng,
        latitude=float(store.latitude),
        longitude=float(store.longitude),
        radius_km=float(store.delivery_radius_km) * 0.98,
    )
    q = quote(
        store=store,
        latitude=Decimal(f"{lat:.6f}"),
        longitude=Decimal(f"{lng:.6f}"),
        line_count=lines,
        at=run.now,
    )
    return q, lat, lng


def _pay(run: StoreRun, member: Any, cart_uuid: Any, taken: list) -> None:
    """At the till: carry out, or (``delivery_home_share`` of shoppers, when
    the store can promise it) delivered home: packed at the counter after a
    packing time, then the dispatcher and a rider, as an app order."""
    from delivery.models import Fulfilment
    from orders.checkout import checkout_in_store
    from orders.members import address_add

    share = run.scenario.delivery_home_share
    q = None
    if share and run.d.rng.random() < share:
        q, lat, lng = _home_quote(run, len(taken))
        if not q.token:
            q = None
    if q is None:
        checkout_in_store(
            member=member,
            cart_uuid=cart_uuid,
            fulfilment_mode="carry_out",
            payment_method="wallet",
            now=run.now,
        )
    else:
        address = address_add(member=member, label="Sim", latitude=lat, longitude=lng)
        result = checkout_in_store(
            member=member,
            cart_uuid=cart_uuid,
            fulfilment_mode="delivery",
            payment_method="wallet",
            address=address,
            now=run.now,
            delivery_quote=q.token,
        )
        fulfilment = Fulfilment.objects.get(order=result.order)
        run.d.outcomes[fulfilment.pk] = q.mode
        run.tally.delivered_home += 1
        seconds = floor_seconds(run.d.rng, mean=run.d.config.default_pack_seconds)
        run.d.at(run.now + dt.timedelta(seconds=seconds), "pack", fulfilment.reference)
    for shelf, quantity in taken:
        run.in_baskets[shelf.pk] -= quantity
    run.free.append(member)


def _app_order(run: StoreRun) -> None:
    """An app shopper: quote, cart (what is not available online is a
    stock-out), checkout with the quote's token and the wallet."""
    from delivery.models import Fulfilment
    from hema.errors import ApplicationError
    from inventory.errors import InsufficientStock
    from orders.carts import cart_line_add, cart_open
    from orders.checkout import checkout_app
    from orders.members import address_add

    store, rng, sc = run.store, run.d.rng, run.scenario
    run.shoppers += 1
    basket = _chosen(run, run.app_mix, sc.app_lines, "app")
    if not basket:
        return
    q, lat, lng = _home_quote(run, len(basket))
    if not q.token:
        run.tally.app_refused += 1
        return
    member = _member_take(run)
    run.free.append(member)  # an app visit ends within this event
    cart = cart_open(member=member, store=store, channel="app")
    lines = 0
    for shelf, quantity, _ in basket:
        substitution = "allow" if rng.random() < sc.substitution_share else "none"
        try:
            cart_line_add(
                cart=cart,
                quantity=str(quantity),
                sku=shelf.sku,
                substitution=substitution,
            )
            lines += 1
        except InsufficientStock:
            _stockout(run, "app", shelf)
    if not lines:
        return
    address = address_add(member=member, label="Sim", latitude=lat, longitude=lng)
    try:
        result = checkout_app(
            member=member,
            cart_uuid=cart.uuid,
            fulfilment_mode="delivery",
            payment_method="wallet",
            address=address,
            now=run.now,
            delivery_quote=q.token,
        )
    except ApplicationError:
        run.tally.app_failed += 1
        _cart_empty(cart)
        return
    fulfilment = Fulfilment.objects.get(order=result.order)
    run.d.outcomes[fulfilment.pk] = q.mode


def _cart_empty(cart: Any) -> None:
    """A checkout refused: the shopper leaves, the cart is emptied (the next
    visit of the member starts from an empty cart)."""
    from orders.carts import cart_line_remove

    for line_id in list(cart.lines.values_list("pk", flat=True)):
        cart_line_remove(cart=cart, line_id=line_id)


def _open(run: StoreRun, index: int) -> None:
    from django.db.models import Sum

    from inventory.models import StoreProduct

    run.day = index
    on_hand = StoreProduct.objects.filter(pk__in=run.daily_fresh).aggregate(
        total=Sum("on_hand")
    )["total"]
    # What was left from the day before: the morning's delivery, received
    # before opening, is counted as received (not twice).
    run.tally.fresh_opening = (on_hand or Decimal(0)) - run.tally.fresh_received
    run.closes_at = run.local(run.days[index], run.scenario.closes)
    if not run.ticking:
        run.ticking = True
        run.d.at(run.now, "tick")


def _tick(run: StoreRun) -> None:
    """A dispatcher tick and idle pickers claiming; ticks go on while the store
    trades or an order is still on its way (at most ``DRAIN`` after closing)."""
    from delivery.models import Fulfilment, FulfilmentState

    _pickers_claim(run.d, run.idle)
    _dispatch(run.d)
    trading = run.closes_at is not None and run.now < run.closes_at
    # Asked only after closing: the day's every delivery is in the query (a
    # few thousand ids at Hema's scale), and while trading ticks go on anyway.
    open_ = (
        not trading
        and run.closes_at is not None
        and run.now < run.closes_at + DRAIN
        and Fulfilment.objects.filter(pk__in=list(run.d.outcomes))
        .exclude(state__in=[FulfilmentState.DELIVERED, FulfilmentState.FAILED])
        .exists()
    )
    if trading or open_:
        run.d.at(run.now + TICK, "tick")
    else:
        run.ticking = False


def _picked_back(run: StoreRun, picker: Any, task: Any) -> None:
    _picked(run.d, picker, task)
    if run.owed_absent:
        run.owed_absent -= 1
        run.away.append(picker)
    else:
        run.idle.append(picker)
    _pickers_claim(run.d, run.idle)


def _absent(run: StoreRun, count: int) -> None:
    """Pickers leave the floor: idle ones at once, busy ones after their task."""
    for _ in range(count):
        if run.idle:
            run.away.append(run.idle.pop())
        else:
            run.owed_absent += 1


def _present(run: StoreRun, count: int) -> None:
    for _ in range(count):
        if run.away:
            run.idle.append(run.away.pop())
        elif run.owed_absent:
            run.owed_absent -= 1
    _pickers_claim(run.d, run.idle)


def _close(run: StoreRun, index: int) -> None:
    """Closing: a product with nothing on the shelf is a product-day sold out;
    daily-fresh units left (beyond what paid orders hold) are written off."""
    from inventory.models import StoreProduct
    from inventory.services import stock_write_off

    tally = run.tallies[index]
    skus = {s.pk: s.sku for s in run.shelves}
    for sp in StoreProduct.objects.filter(pk__in=list(skus)).order_by("pk"):
        if sp.on_hand - sp.reserved <= 0:
            tally.sold_out_at_close.append(skus[sp.pk])
        left = sp.on_hand - sp.reserved
        if sp.pk in run.daily_fresh and left > 0:
            stock_write_off(
                store_product=sp, quantity=left, reason="daily fresh left at closing"
            )
            tally.fresh_written_off += left
    run.jobs.append(("close", run.now))


def _night(run: StoreRun, index: int) -> None:
    """Overnight: fold the day's sales, reconcile, forecast, set the online
    buffers, draft tomorrow's replenishment and approve it by the scenario's
    rule."""
    from inventory.forecast.history import sales_history_fold
    from inventory.reconcile import stock_reconcile

    tally = run.tallies[index]
    sales_history_fold(store=run.store, now=run.now)
    stock_reconcile(store=run.store)
    run.jobs.append(("fold", run.now))
    tomorrow = run.days[index] + dt.timedelta(days=1)
    # The delivery after the last day is not simulated: its draft is left for
    # the store's manager to approve in the admin (make demo keeps it).
    last = index == len(run.days) - 1
    tally.forecast, tally.replenishment = _order_for(run, tomorrow, approve=not last)


def _order_for(
    run: StoreRun, day: dt.date, *, approve: bool = True
) -> tuple[str, dict[str, Any]]:
    """The forecast from ``day`` on, then ``day``'s replenishment drafted and
    (``approve``) approved by the scenario's rule, as a manager would. Returns
    the forecast run's state and what was ordered."""
    from inventory.forecast.buffer import online_buffers_set
    from inventory.forecast.service import forecast_predict
    from inventory.replenishment import (
        replenishment_approve,
        replenishment_draft,
        replenishment_line_set_quantity,
    )

    forecast_run = forecast_predict(store=run.store, origin=day)
    run.jobs.append(("forecast", run.now))
    # The online buffers follow the new forecast (the beat's nightly job),
    # so that the app promises only what the shelf can spare tomorrow.
    online_buffers_set(store=run.store, day=day, now=run.now)
    run.jobs.append(("buffers", run.now))
    drafts = replenishment_draft(store=run.store, delivery_day=day, run=forecast_run)
    lines = units = 0
    for order in drafts:
        for line in order.lines.select_related("store_product__product"):
            quantity = line.quantity
            if run.scenario.approve == "cap_to_forecast":
                cap = (
                    line.forecast_demand * Decimal(str(run.scenario.cap_factor))
                ).quantize(Decimal("1"))
                if quantity > cap:
                    replenishment_line_set_quantity(line=line, quantity=str(cap))
                    quantity = cap
            lines += 1
            units += quantity
        if approve:
            replenishment_approve(order=order, actor=run.manager)
    run.jobs.append(("replenishment", run.now))
    return forecast_run.state, {
        "orders": len(drafts),
        "lines": lines,
        "units": str(units),
        "approved": approve,
    }


def _receive(run: StoreRun, index: int, late: dict[str, int], hours: Any) -> None:
    """The morning delivery: approved orders for the day, received into lots;
    a late supplier's come ``hours`` later (its own event)."""
    from inventory.forecast.models import ReplenishmentOrder, ReplenishmentState
    from inventory.replenishment import replenishment_receive

    day = run.days[index]
    orders = ReplenishmentOrder.objects.filter(
        store=run.store, delivery_day=day, state=ReplenishmentState.APPROVED
    ).select_related("supplier")
    for order in orders.order_by("pk"):
        delay = late.get(order.supplier.name, late.get("", 0))
        if (hours is False and delay) or (hours is not False and delay != hours):
            continue
        replenishment_receive(order=order, actor=run.manager)
        for line in order.lines.all():
            if line.store_product_id in run.daily_fresh:
                run.tallies[index].fresh_received += line.received or 0
    run.jobs.append(("receive", run.now))


HANDLERS = {
    "reprice": lambda run, p: _reprice(run, p),
    "markdown": lambda run, p: _markdown(run),
    "expire": lambda run, p: _expire(run),
    "shopper": lambda run, p: _shopper(run),
    "pay": lambda run, p: _pay(run, *p),
    "order": lambda run, p: (_app_order(run), _pickers_claim(run.d, run.idle)),
    "picked": lambda run, p: _picked_back(run, *p),
    "arrived": lambda run, p: _arrived(run.d, *p),
    "pack": lambda run, p: _pack(run, p),
    "pick_up": lambda run, p: _pick_up(run.d, p),
    "deliver": lambda run, p: _deliver(run.d, *p),
    "tick": lambda run, p: _tick(run),
    "open": lambda run, p: _open(run, p),
    "close": lambda run, p: _close(run, p),
    "night": lambda run, p: _night(run, p),
    "receive": lambda run, p: _receive(run, *p),
    "absent": lambda run, p: _absent(run, p),
    "present": lambda run, p: _present(run, p),
}


def _pack(run: StoreRun, reference: str) -> None:
    from delivery.packing import fulfilment_pack

    fulfilment_pack(store=run.store, reference=reference, packer=run.d.packer)


# The run's tables are analysed this often (simulated time; see ``_analyse``):
# often enough that a table never grows far past what the planner was told.
ANALYSE_EVERY = dt.timedelta(minutes=20)
ANALYSED_APPS = ("delivery", "orders", "inventory", "pricing", "accounts")
# Committed history the run only reads: its statistics are already right.
NOT_ANALYSED = {"inventory_dailysales", "inventory_storeweather"}


def _analyse() -> None:
    """Refresh the planner's statistics of the tables the run writes.

    A live store's tables are analysed by autovacuum as its rows commit; a
    run's single transaction is never seen by it, so the planner keeps
    planning for the tables as they were before the run (near empty) and
    chooses scans that grow with the day: at Hema's scale the promise's
    riders query alone scanned every trip stop once per rider, 80 ms a quote
    by the evening (told "empty", the planner walked a whole index per
    rider). ``ANALYZE`` inside the transaction counts the run's own rows; it
    takes a few tens of milliseconds. The statistics target is raised for the
    run so that every table under 300,000 rows is read whole: the same rows
    give the same statistics and plans, so a seed still gives the same run.
    PostgreSQL only (SQLite plans without them)."""
    from django.apps import apps
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    tables = sorted(
        {
            model._meta.db_table
            for label in ANALYSED_APPS
            for model in apps.get_app_config(label).get_models()
            if not model._meta.proxy and model._meta.managed
        }
        - NOT_ANALYSED
    )
    quoted = ", ".join(connection.ops.quote_name(t) for t in tables)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL default_statistics_target = 1000")
        cursor.execute(f"ANALYZE {quoted}")


def _loop(run: StoreRun, progress: Any) -> None:
    first = run.now
    total = (run.events_end - first).total_seconds()
    shown = first
    analysed = None
    while run.d.events:
        when, _, kind, payload = heapq.heappop(run.d.events)
        run.d.clock.advance_to(when)
        if analysed is None or run.now - analysed >= ANALYSE_EVERY:
            analysed = run.now
            _analyse()
        if progress is not None and run.now - shown >= dt.timedelta(minutes=5):
            shown = run.now
            progress(min(1.0, (run.now - first).total_seconds() / total), run)
        HANDLERS[kind](run, payload)


@dataclass(frozen=True)
class RunResult:
    """What the report needs: the store, the days' windows and tallies, the
    jobs run, and the fulfilments' promises."""

    scenario: Scenario
    seed: int
    store_code: str
    days: list[dt.date]
    windows: list[tuple[dt.datetime, dt.datetime]]
    tallies: dict[int, DayTally]
    jobs: list[tuple[str, dt.datetime]]
    figures: dict[str, Any]


def next_free_day(store: Any) -> dt.date:
    """The store's next local day, or the day after the last one traded (a
    run kept by ``make demo`` before): a simulation never goes back in time
    over rows already written."""
    from django.db.models import Max

    from orders.models import Order
    from pricing.models import PriceChange

    day = dt.datetime.now(store.tz).date() + dt.timedelta(days=1)
    for last in (
        Order.objects.filter(store=store).aggregate(at=Max("paid_at"))["at"],
        PriceChange.objects.filter(store=store).aggregate(at=Max("changed_at"))["at"],
    ):
        if last is not None:
            day = max(day, last.astimezone(store.tz).date() + dt.timedelta(days=1))
    return day


def _refuse_an_evening_cut_short(scenario: Scenario, store: Any) -> None:
    """A day that reaches the markdown window must close when the store does.

    The markdown plans to sell daily fresh by the store's closing time and the
    run writes off what is left at the scenario's: a scenario closing at 22:00
    in a store that closes at 23:00 marks down an hour too shallow, and its
    closing reprice, still inside the window, leaves the markdown on the shelf
    for the night's forecast to read as tomorrow's price. A slice of the day
    that ends before the markdown starts (a lunch hour) may end anywhere.
    """
    from pricing.markdowns import as_time, closing_time
    from pricing.selectors import price_settings_for

    starts = as_time(price_settings_for(store).markdown_starts_at)
    if scenario.closes * 60 <= starts.hour * 60 + starts.minute:
        return
    closing = closing_time(store)
    if dt.time(scenario.closes % 24) != closing:
        raise SimulationRefused(
            f"The scenario's day closes at {scenario.closes}:00 but {store.code} "
            f"closes at {closing:%H:%M}: the evening markdown plans to the "
            "store's closing, so a day that reaches it must end then "
            "([day] closes, or the store's closing time in the admin)."
        )


def store_simulate(
    *, scenario: Scenario, seed: int, keep: bool = False, progress: Any = None
) -> RunResult:
    """Run the scenario's days on its store and return the figures.

    One transaction: rolled back at the end (nothing outlives the run, not
    even its staff and shoppers) unless ``keep``, for the demo database. The
    figures are read from the rows before the rollback."""
    from django.db import transaction

    from inventory.models import Store
    from simulation.figures import run_figures

    store = Store.objects.filter(code=scenario.store).first()
    if store is None:
        raise SimulationRefused(f"No store {scenario.store!r}.")
    _refuse_an_evening_cut_short(scenario, store)
    if scenario.start is None:
        from dataclasses import replace

        scenario = replace(scenario, start=next_free_day(store))
    first_day = scenario.start
    first_hour = min(scenario.opens, scenario.delivery_hour)
    start = (
        dt.datetime.combine(first_day, dt.time(0), tzinfo=store.tz)
        + dt.timedelta(hours=first_hour, minutes=-5)
    ).astimezone(dt.UTC)
    with transaction.atomic():
        try:
            clock = SimClock(start)
            with simulated_time(clock):
                run = _setup(scenario, store, seed, start)
                run.d.clock = clock
                first_delivery = None
                if scenario.first_delivery == "forecast":
                    # The eve of the first day: its delivery sized from the
                    # forecast like every later one, received at the hour.
                    first_delivery = _order_for(run, first_day)[1]
                for index in range(len(run.days)):
                    _schedule_day(run, index)
                run.events_end = max(e[0] for e in run.d.events)
                _loop(run, progress)
                windows = [
                    (run.local(day, 0), run.local(day + dt.timedelta(days=1), 0))
                    for day in run.days
                ]
                figures = run_figures(run, windows)
                if first_delivery is not None:
                    figures["first_delivery"] = first_delivery
            return RunResult(
                scenario=scenario,
                seed=seed,
                store_code=store.code,
                days=run.days,
                windows=windows,
                tallies=run.tallies,
                jobs=run.jobs,
                figures=figures,
            )
        finally:
            if not keep:
                transaction.set_rollback(True)
