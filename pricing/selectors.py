"""Reads of the pricing app: the rules as a RuleBook, ``price()``, the preview,
the label feed and the price history.

Everything here loads rows and hands them to the pure engine; nothing writes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db.models import (
    CharField,
    DecimalField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Cast, ExtractHour
from django.utils import timezone

from inventory.models import MovementKind, Product, StockMovement, Store, StoreProduct
from inventory.weather import (
    hour_floor,
    store_weather_for_hour,
    store_weather_forecast,
)
from pricing.engine import (
    Limits,
    Markdown,
    PriceResult,
    RuleBook,
    ScopeFactors,
    compute_price,
)
from pricing.errors import StoreProductNotPriced
from pricing.markdowns import DayProfile, MarkdownWindow, markdown_window
from pricing.models import (
    HourFactor,
    MarkdownFloor,
    MarkdownStep,
    PriceChange,
    PriceChangeKind,
    PriceExemption,
    PriceRule,
    RepricingRun,
    RunState,
    StorePriceSettings,
    WeatherFactor,
    WeekdayFactor,
)

HUNDRED = Decimal(100)


# --- Settings and rules -------------------------------------------------------


def price_settings_for(store: Store) -> StorePriceSettings:
    """The store's price settings, or the defaults (unsaved) if it has none."""
    found = StorePriceSettings.objects.filter(store=store).first()
    return found or StorePriceSettings(store=store)


def limits_from(price_settings: StorePriceSettings) -> Limits:
    """The engine's limits (fractions) from the settings managers edit (percent)."""
    return Limits(
        min_margin=price_settings.min_margin,
        max_uplift=price_settings.max_uplift,
        max_step=price_settings.max_step_percent / HUNDRED,
        price_step=price_settings.price_step,
    )


def _scope_label(category_slug: str | None, product_sku: str | None) -> str:
    if product_sku:
        return f"product {product_sku}"
    if category_slug:
        return f"category {category_slug}"
    return "store"


def rulebook_load(
    *,
    store: Store,
    price_settings: StorePriceSettings | None = None,
    only_for: tuple[int, int] | None = None,
) -> RuleBook:
    """The store's active rules and exemptions as a RuleBook: three queries,
    whatever the number of rules or products.

    ``only_for=(product_id, category_id)`` loads just the scopes that can apply
    to that product (the store's, its category's and its own), which is what a
    single ``price()`` needs.
    """
    price_settings = price_settings or price_settings_for(store)
    book = RuleBook(limits=limits_from(price_settings))
    scope = Q()
    if only_for is not None:
        product_id, category_id = only_for
        scope = (
            Q(category__isnull=True, product__isnull=True)
            | Q(category_id=category_id)
            | Q(product_id=product_id)
        )
    rules = PriceRule.objects.filter(scope, store=store, is_active=True)
    scopes: dict[int, ScopeFactors] = {}
    for pk, category_id, product_id, slug, sku in rules.values_list(
        "pk", "category_id", "product_id", "category__slug", "product__sku"
    ):
        factors = ScopeFactors(label=_scope_label(slug, sku))
        scopes[pk] = factors
        if product_id:
            book.product_rules[product_id] = factors
        elif category_id:
            book.category_rules[category_id] = factors
        else:
            book.store_rule = factors
    of_rules = {"rule__in": rules.values("pk")}
    text = CharField()
    threshold = DecimalField(max_digits=4, decimal_places=1)
    factors = (
        WeekdayFactor.objects.filter(**of_rules)
        .order_by()
        .annotate(kind=Value("weekday", text), slot=Cast("weekday", text))
        .values_list("rule_id", "kind", "slot", "factor", Cast(Value(None), threshold))
        .union(
            HourFactor.objects.filter(**of_rules)
            .order_by()
            .annotate(kind=Value("hour", text), slot=Cast("hour", text))
            .values_list(
                "rule_id", "kind", "slot", "factor", Cast(Value(None), threshold)
            ),
            WeatherFactor.objects.filter(**of_rules)
            .order_by()
            .annotate(kind=Value("weather", text))
            .values_list("rule_id", "kind", "condition", "factor", "threshold"),
            all=True,
        )
    )
    for rule_id, kind, slot, factor, limit in factors:
        if kind == "weekday":
            scopes[rule_id].weekday[int(slot)] = factor
        elif kind == "hour":
            scopes[rule_id].hour[int(slot)] = factor
        else:
            scopes[rule_id].weather[slot] = (factor, limit)
    exemptions = PriceExemption.objects.filter(scope, store=store)
    for category_id, product_id, never_above_list in exemptions.values_list(
        "category_id", "product_id", "never_above_list"
    ):
        if product_id:
            book.exempt_products[product_id] = never_above_list
        elif category_id:
            book.exempt_categories[category_id] = never_above_list
        else:
            book.exempt_store = never_above_list
    return book


def markdown_floors(
    *, store: Store, price_settings: StorePriceSettings
) -> tuple[Decimal, dict[int, Decimal]]:
    """The store's markdown floor and each category's own (fractions of list)."""
    own = dict(
        MarkdownFloor.objects.filter(store=store).values_list("category_id", "floor")
    )
    return price_settings.markdown_floor, own


def local_weekday_hour(store: Store, at: dt.datetime) -> tuple[int, int]:
    """Weekday (Monday 0) and hour in the store's time zone."""
    local = at.astimezone(store.tz)
    return local.weekday(), local.hour


# --- Previous prices, markdowns and sales -------------------------------------


def with_previous_price(
    queryset: QuerySet[StoreProduct], *, hour_start: dt.datetime
) -> QuerySet[StoreProduct]:
    """Annotate each store product with the price in force when the hour began.

    The step limit is measured from it, so every run within one hour (a rerun,
    a weather change, a markdown step) starts from the same price and a rerun
    changes nothing. ``prev_price`` is the last change before the hour (its kind
    in ``prev_kind``); ``hour_old`` the price before the first change within it.
    """
    before = PriceChange.objects.filter(
        store_product=OuterRef("pk"), changed_at__lt=hour_start
    ).order_by("-changed_at", "-pk")
    within = PriceChange.objects.filter(
        store_product=OuterRef("pk"), changed_at__gte=hour_start
    ).order_by("changed_at", "pk")
    return queryset.annotate(
        prev_price=Subquery(before.values("new_price")[:1]),
        prev_kind=Subquery(before.values("kind")[:1]),
        hour_old=Subquery(within.values("old_price")[:1]),
    )


def previous_price_of(
    *,
    prev_price: Decimal | None,
    prev_kind: str | None,
    hour_old: Decimal | None,
    shelf_price: Decimal,
) -> Decimal | None:
    """The step limit's base; None right after a markdown (the next day's goods
    go back to the rules' price at once)."""
    if prev_price is not None:
        return None if prev_kind == PriceChangeKind.MARKDOWN else prev_price
    if hour_old is not None:
        return hour_old
    return shelf_price


def markdown_percents(
    *, store: Store, trading_day: dt.date, at: dt.datetime
) -> dict[int, Decimal]:
    """The markdown in force at ``at`` per store product (deepest step so far)."""
    return dict(
        MarkdownStep.objects.filter(
            store=store, trading_day=trading_day, decided_at__lte=at
        )
        .values("store_product_id")
        .annotate(percent=Max("percent"))
        .values_list("store_product_id", "percent")
    )


def demand_recent(
    *, store: Store, window: MarkdownWindow, at: dt.datetime
) -> dict[int, tuple[Decimal, Decimal]]:
    """Units of each daily-fresh product wanted (sold in store, plus ordered
    online, minus online reservations given back) since opening and in the
    last hour, as ``{store_product_id: (today, recent)}``. One query."""
    recent_from = window.pace_from(at)
    sold = Q(kind=MovementKind.SALE_IN_STORE)
    ordered = Q(kind=MovementKind.RESERVE)
    released = Q(kind=MovementKind.RELEASE)
    recent = Q(created_at__gte=recent_from)
    rows = (
        StockMovement.objects.filter(
            store_product__store=store,
            store_product__product__is_daily_fresh=True,
            created_at__gte=window.day_opens,
            created_at__lt=at,
            kind__in=[
                MovementKind.SALE_IN_STORE,
                MovementKind.RESERVE,
                MovementKind.RELEASE,
            ],
        )
        .values("store_product_id")
        .annotate(
            sold=Sum("on_hand_delta", filter=sold),
            ordered=Sum("reserved_delta", filter=ordered),
            released=Sum("reserved_delta", filter=released),
            sold_recent=Sum("on_hand_delta", filter=sold & recent),
            ordered_recent=Sum("reserved_delta", filter=ordered & recent),
            released_recent=Sum("reserved_delta", filter=released & recent),
        )
    )
    zero = Decimal(0)

    def wanted(row: dict, suffix: str) -> Decimal:
        return (
            -(row[f"sold{suffix}"] or zero)
            + (row[f"ordered{suffix}"] or zero)
            + (row[f"released{suffix}"] or zero)
        )

    return {
        row["store_product_id"]: (wanted(row, ""), wanted(row, "_recent"))
        for row in rows
    }


# How far back the day profile looks, and the least it needs: one day of sales
# (a store sells thousands of units) says more about the store's hours than the
# flat rate does, and four weeks follow a change of season.
PROFILE_DAYS = 28
PROFILE_MIN_UNITS = Decimal(50)


def day_profile(*, store: Store, before: dt.datetime) -> DayProfile | None:
    """How the store's demand spreads over its local hours, from the
    ``PROFILE_DAYS`` before ``before`` (units wanted, as ``demand_recent``
    counts them), or None with fewer than ``PROFILE_MIN_UNITS`` units. One
    query.

    Read from the products that are never marked down: daily fresh sells two
    or three times its full-price pace at an evening markdown, so its own
    hours would teach the next evening to expect that pace, hold the markdown
    back, and waste more each day (a simulated week did: 2% on the first days,
    8% on the last)."""
    rows = (
        StockMovement.objects.filter(
            store_product__store=store,
            store_product__product__is_daily_fresh=False,
            created_at__gte=before - dt.timedelta(days=PROFILE_DAYS),
            created_at__lt=before,
            kind__in=[
                MovementKind.SALE_IN_STORE,
                MovementKind.RESERVE,
                MovementKind.RELEASE,
            ],
        )
        .annotate(hour=ExtractHour("created_at", tzinfo=store.tz))
        .values("hour")
        .annotate(
            sold=Sum("on_hand_delta", filter=Q(kind=MovementKind.SALE_IN_STORE)),
            held=Sum("reserved_delta", filter=~Q(kind=MovementKind.SALE_IN_STORE)),
        )
    )
    units = [Decimal(0)] * 24
    for row in rows:
        wanted = -(row["sold"] or 0) + (row["held"] or 0)
        units[row["hour"]] += max(Decimal(wanted), Decimal(0))
    total = sum(units)
    if total < PROFILE_MIN_UNITS:
        return None
    return DayProfile(shares=[float(u / total) for u in units], tz=store.tz)


# --- price() ------------------------------------------------------------------


def _store_product(store: Store, product: Product | StoreProduct) -> StoreProduct:
    if isinstance(product, StoreProduct):
        if product.store_id != store.pk:
            raise StoreProductNotPriced(
                f"{product} is not a product of store {store.code}.",
                {"field": "product"},
            )
        return product
    found = StoreProduct.objects.filter(store=store, product=product).first()
    if found is None:
        raise StoreProductNotPriced(
            f"{store.code} does not sell {product.sku}.",
            {"field": "product", "value": product.sku},
        )
    return found


def price(
    store: Store,
    product: Product | StoreProduct,
    at: dt.datetime | None = None,
    *,
    now: dt.datetime | None = None,
) -> PriceResult:
    """The price of ``product`` in ``store`` at ``at``, and why.

    A deterministic function of the list price, the rules, the weather of that
    hour (``inventory.weather.store_weather_for_hour``), any markdown in force
    and the price when the hour began: the repricing job computes the same
    thing for every product at once and writes it to the shelf price, which
    scan, app and checkout read. ``now`` (default: the clock) only decides
    whether the hour is past (observation) or future (forecast).
    """
    at = at or timezone.now()
    store_product = _store_product(store, product)
    row = (
        with_previous_price(
            StoreProduct.objects.filter(pk=store_product.pk),
            hour_start=hour_floor(at),
        )
        .values(
            "list_price",
            "unit_cost",
            "shelf_price",
            "product_id",
            "product__category_id",
            "product__is_daily_fresh",
            "prev_price",
            "prev_kind",
            "hour_old",
        )
        .get()
    )
    price_settings = price_settings_for(store)
    book = rulebook_load(
        store=store,
        price_settings=price_settings,
        only_for=(row["product_id"], row["product__category_id"]),
    )
    weekday, hour = local_weekday_hour(store, at)
    rules = book.for_product(
        product_id=row["product_id"],
        category_id=row["product__category_id"],
        weekday=weekday,
        hour=hour,
    )
    weather = store_weather_for_hour(store=store, hour=at, now=now or timezone.now())
    markdown = None
    if row["product__is_daily_fresh"]:
        window = markdown_window(
            store=store, starts_at=price_settings.markdown_starts_at, at=at
        )
        if window is not None:
            percent = MarkdownStep.objects.filter(
                store_product_id=store_product.pk,
                trading_day=window.trading_day,
                decided_at__lte=at,
            ).aggregate(p=Max("percent"))["p"]
            if percent:
                store_floor, own = markdown_floors(
                    store=store, price_settings=price_settings
                )
                floor = own.get(row["product__category_id"], store_floor)
                markdown = Markdown(percent=percent, floor=floor)
    previous = previous_price_of(
        prev_price=row["prev_price"],
        prev_kind=row["prev_kind"],
        hour_old=row["hour_old"],
        shelf_price=row["shelf_price"],
    )
    return compute_price(
        row["list_price"], row["unit_cost"], rules, weather, markdown, previous
    )


# --- The admin preview --------------------------------------------------------


@dataclass(frozen=True)
class PreviewHour:
    starts: dt.datetime  # local time
    amount: Decimal
    reasons: tuple[str, ...]
    weather: str


def price_preview(
    *, store_product: StoreProduct, start: dt.datetime | None = None, hours: int = 168
) -> list[PreviewHour]:
    """The product's price for each of the coming ``hours`` under today's rules
    and the stored forecast (neutral where none), chaining the step limit from
    today's shelf price. Markdowns are left out: they depend on sales not yet
    made."""
    store = store_product.store
    start = hour_floor(start or timezone.now()) + dt.timedelta(hours=1)
    book = rulebook_load(store=store)
    forecast = store_weather_forecast(
        store=store, start=start, end=start + dt.timedelta(hours=hours)
    )
    product = store_product.product
    previous: Decimal | None = store_product.shelf_price
    preview = []
    for offset in range(hours):
        moment = start + dt.timedelta(hours=offset)
        weekday, hour = local_weekday_hour(store, moment)
        rules = book.for_product(
            product_id=product.pk,
            category_id=product.category_id,
            weekday=weekday,
            hour=hour,
        )
        weather = forecast.get(moment)
        result = compute_price(
            store_product.list_price,
            store_product.unit_cost,
            rules,
            weather,
            None,
            previous,
        )
        previous = result.amount
        label = (
            f"{weather.condition} {weather.temperature}°C"
            if weather is not None
            else "no forecast: neutral"
        )
        preview.append(
            PreviewHour(
                starts=moment.astimezone(store.tz),
                amount=result.amount,
                reasons=result.reasons,
                weather=label,
            )
        )
    return preview


# --- History and the label feed -----------------------------------------------


def price_history(
    *, store_product: StoreProduct, since: dt.datetime
) -> list[PriceChange]:
    """The product's price changes since ``since``, oldest first (the chart)."""
    return list(
        PriceChange.objects.filter(
            store_product=store_product, changed_at__gte=since
        ).order_by("changed_at", "pk")
    )


def price_at(*, store_product: StoreProduct, at: dt.datetime) -> Decimal:
    """The shelf price in force at ``at`` according to the history."""
    last = (
        PriceChange.objects.filter(store_product=store_product, changed_at__lte=at)
        .order_by("-changed_at", "-pk")
        .values_list("new_price", flat=True)
        .first()
    )
    if last is not None:
        return last
    first_after = (
        PriceChange.objects.filter(store_product=store_product, changed_at__gt=at)
        .order_by("changed_at", "pk")
        .values_list("old_price", flat=True)
        .first()
    )
    return first_after if first_after is not None else store_product.shelf_price


def feed_as_of(*, store: Store, now: dt.datetime | None = None) -> dt.datetime:
    """The ``since`` a label controller should send next time.

    Normally now; while a repricing run of the store is in flight it is the
    run's start, so changes that run commits later (stamped after its start)
    are not skipped by the next poll. A run whose heartbeat is older than
    ``HEMA_REPRICING_STALE_SECONDS`` died with its worker and is ignored (the
    store's next run marks it failed).
    """
    now = now or timezone.now()
    stale = dt.timedelta(seconds=settings.HEMA_REPRICING_STALE_SECONDS)
    earliest = (
        RepricingRun.objects.filter(
            store=store, state=RunState.RUNNING, heartbeat_at__gte=now - stale
        )
        .order_by("started_at")
        .values_list("started_at", flat=True)
        .first()
    )
    return min(now, earliest) if earliest is not None else now


def price_feed(
    *, store: Store, since: dt.datetime | None = None
) -> QuerySet[StoreProduct]:
    """The store's shelf prices, by SKU; with ``since``, only those changed at
    or after it, and those the store added since (their price is new to a label
    controller though no change row exists). Each carries when and how it last
    changed."""
    last = PriceChange.objects.filter(store_product=OuterRef("pk")).order_by(
        "-changed_at", "-pk"
    )
    queryset = (
        StoreProduct.objects.filter(store=store, is_active=True)
        .select_related("product")
        .annotate(
            last_changed_at=Subquery(last.values("changed_at")[:1]),
            last_change_kind=Subquery(last.values("kind")[:1]),
        )
        .order_by("product__sku")
    )
    if since is not None:
        # The (store, changed_at) index finds the few changes since the last poll.
        changed = PriceChange.objects.filter(store=store, changed_at__gte=since)
        queryset = queryset.filter(
            Q(pk__in=changed.values("store_product_id")) | Q(created_at__gte=since)
        )
    return queryset


def stores_in_markdown_window(*, at: dt.datetime) -> list[int]:
    """Ids of active stores whose markdown window contains ``at`` (one query)."""
    store_ids = []
    for store in Store.objects.filter(is_active=True).select_related("price_settings"):
        try:
            starts_at = store.price_settings.markdown_starts_at
        except StorePriceSettings.DoesNotExist:
            starts_at = StorePriceSettings(store=store).markdown_starts_at
        if markdown_window(store=store, starts_at=starts_at, at=at) is not None:
            store_ids.append(store.pk)
    return store_ids
