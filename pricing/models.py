"""Price rules, limits, markdowns and the price history of each store.

Managers edit rules and limits in the admin; django-simple-history keeps every
version (who changed what, when). The jobs write ``PriceChange`` (one row per
price that moved), ``MarkdownStep`` (one row per deeper markdown) and
``RepricingRun`` (one row per run, for the admin). Prices themselves live on
``inventory.StoreProduct.shelf_price`` and reach it only through inventory's
``shelf_prices_set`` service.
"""

import datetime as dt
from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from hema.models import TimeStampedModel

MONEY = {"max_digits": 12, "decimal_places": 2}
FACTOR = {
    "max_digits": 6,
    "decimal_places": 3,
    "validators": [MinValueValidator(Decimal("0.010")), MaxValueValidator(10)],
}
WEEKDAYS = [
    (0, "Monday"),
    (1, "Tuesday"),
    (2, "Wednesday"),
    (3, "Thursday"),
    (4, "Friday"),
    (5, "Saturday"),
    (6, "Sunday"),
]
FACTOR_RANGE = Q(factor__gt=0) & Q(factor__lte=10)


class StorePriceSettings(TimeStampedModel):
    """A store's price limits and markdown policy; a store without a row uses
    the defaults below."""

    store = models.OneToOneField(
        "inventory.Store", on_delete=models.CASCADE, related_name="price_settings"
    )
    min_margin = models.DecimalField(
        max_digits=5,
        decimal_places=4,
        default=Decimal("0.0500"),
        help_text="Rules never take a price below unit cost x (1 + this). 0.05 is 5%.",
    )
    max_uplift = models.DecimalField(
        max_digits=5,
        decimal_places=3,
        default=Decimal("1.200"),
        help_text="Rules never take a price above list price x this (at least 1).",
    )
    max_step_percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal("10.00"),
        help_text="At most this % change from the price of the hour before.",
    )
    price_step = models.DecimalField(
        max_digits=6,
        decimal_places=2,
        default=Decimal("0.10"),
        help_text="Prices are rounded to this step of the store's currency.",
    )
    markdown_starts_at = models.TimeField(
        default=dt.time(17, 0),
        help_text="Local time from which daily-fresh leftovers are marked down "
        "until closing.",
    )
    markdown_floor = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.400"),
        help_text="A markdown never goes below list price x this, unless the "
        "category has its own floor.",
    )
    markdown_step_percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal("10.00"),
        help_text="Markdowns move in steps of this many % off list.",
    )
    markdown_elasticity = models.DecimalField(
        max_digits=4,
        decimal_places=2,
        default=Decimal("2.00"),
        help_text="How much more sells per % off: 2 means 10% off sells 20% more.",
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = "store price settings"
        verbose_name_plural = "store price settings"
        constraints = [
            models.CheckConstraint(
                condition=Q(min_margin__gte=0) & Q(min_margin__lte=10),
                name="price_settings_margin_range",
            ),
            models.CheckConstraint(
                condition=Q(max_uplift__gte=1), name="price_settings_uplift_at_least_1"
            ),
            models.CheckConstraint(
                condition=Q(max_step_percent__gt=0) & Q(max_step_percent__lte=100),
                name="price_settings_step_range",
            ),
            models.CheckConstraint(
                condition=Q(price_step__gte=Decimal("0.01")),
                name="price_settings_price_step_positive",
            ),
            models.CheckConstraint(
                condition=Q(markdown_floor__gt=0) & Q(markdown_floor__lte=1),
                name="price_settings_markdown_floor_range",
            ),
            models.CheckConstraint(
                condition=Q(markdown_step_percent__gt=0)
                & Q(markdown_step_percent__lte=100),
                name="price_settings_markdown_step_range",
            ),
            models.CheckConstraint(
                condition=Q(markdown_elasticity__gt=0),
                name="price_settings_elasticity_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"price settings of {self.store.code}"


class Scope(models.TextChoices):
    STORE = "store", "Whole store"
    CATEGORY = "category", "Category"
    PRODUCT = "product", "Product"


def _scope_constraints(prefix: str, *, unique: bool) -> list[models.BaseConstraint]:
    """A row names a category, a product or neither (the whole store), never both;
    with ``unique`` there is at most one row per store and scope."""
    constraints: list[models.BaseConstraint] = [
        models.CheckConstraint(
            condition=Q(category__isnull=True) | Q(product__isnull=True),
            name=f"{prefix}_one_scope",
        )
    ]
    if unique:
        constraints += [
            models.UniqueConstraint(
                fields=["store"],
                condition=Q(category__isnull=True, product__isnull=True),
                name=f"{prefix}_one_per_store",
            ),
            models.UniqueConstraint(
                fields=["store", "category"],
                condition=Q(category__isnull=False),
                name=f"{prefix}_one_per_category",
            ),
            models.UniqueConstraint(
                fields=["store", "product"],
                condition=Q(product__isnull=False),
                name=f"{prefix}_one_per_product",
            ),
        ]
    return constraints


class ScopedModel(TimeStampedModel):
    """Applies to a whole store, one category of it, or one product of it."""

    store = models.ForeignKey("inventory.Store", on_delete=models.CASCADE)
    category = models.ForeignKey(
        "inventory.Category",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        help_text="Empty with product empty: the whole store.",
    )
    product = models.ForeignKey(
        "inventory.Product", on_delete=models.CASCADE, null=True, blank=True
    )

    class Meta:
        abstract = True

    @property
    def scope(self) -> str:
        if self.product_id:
            return Scope.PRODUCT
        if self.category_id:
            return Scope.CATEGORY
        return Scope.STORE

    def scope_label(self) -> str:
        if self.product_id:
            return f"product {self.product}"
        if self.category_id:
            return f"category {self.category}"
        return "whole store"


class PriceRule(ScopedModel):
    """The factors of one scope of a store: per weekday, per hour, per weather.

    For each weekday, hour and weather condition separately the narrowest scope
    that sets a factor wins (product over category over store); the winning
    factors multiply. An inactive rule is ignored entirely.
    """

    name = models.CharField(max_length=80, blank=True)
    is_active = models.BooleanField(default=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ("store", "product", "category")
        constraints = _scope_constraints("price_rule", unique=True)

    def __str__(self) -> str:
        label = f" {self.name}" if self.name else ""
        return f"rule{label} ({self.scope_label()}) of {self.store.code}"


class WeekdayFactor(models.Model):
    rule = models.ForeignKey(
        PriceRule, on_delete=models.CASCADE, related_name="weekday_factors"
    )
    weekday = models.PositiveSmallIntegerField(choices=WEEKDAYS)
    factor = models.DecimalField(**FACTOR)
    history = HistoricalRecords()

    class Meta:
        ordering = ("rule", "weekday")
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "weekday"], name="weekday_factor_one_per_day"
            ),
            models.CheckConstraint(
                condition=Q(weekday__lte=6), name="weekday_factor_weekday_range"
            ),
            models.CheckConstraint(
                condition=FACTOR_RANGE, name="weekday_factor_factor_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} x{self.factor}"


class HourFactor(models.Model):
    rule = models.ForeignKey(
        PriceRule, on_delete=models.CASCADE, related_name="hour_factors"
    )
    hour = models.PositiveSmallIntegerField(
        validators=[MaxValueValidator(23)], help_text="Local hour, 0-23."
    )
    factor = models.DecimalField(**FACTOR)
    history = HistoricalRecords()

    class Meta:
        ordering = ("rule", "hour")
        constraints = [
            models.UniqueConstraint(fields=["rule", "hour"], name="hour_factor_one"),
            models.CheckConstraint(
                condition=Q(hour__lte=23), name="hour_factor_hour_range"
            ),
            models.CheckConstraint(
                condition=FACTOR_RANGE, name="hour_factor_factor_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.hour:02d}:00 x{self.factor}"


class WeatherTrigger(models.TextChoices):
    RAIN = "rain", "Rain in the hour"
    SNOW = "snow", "Snow in the hour"
    HOT = "hot", "Temperature above threshold"
    COLD = "cold", "Temperature below threshold"


class WeatherFactor(models.Model):
    """A factor for a weather condition; hot and cold need a threshold (°C)."""

    rule = models.ForeignKey(
        PriceRule, on_delete=models.CASCADE, related_name="weather_factors"
    )
    condition = models.CharField(max_length=8, choices=WeatherTrigger.choices)
    threshold = models.DecimalField(
        "threshold (°C)",
        max_digits=4,
        decimal_places=1,
        null=True,
        blank=True,
        help_text="Hot: above this. Cold: below this. Empty for rain and snow.",
    )
    factor = models.DecimalField(**FACTOR)
    history = HistoricalRecords()

    class Meta:
        ordering = ("rule", "condition")
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "condition"], name="weather_factor_one_per_condition"
            ),
            models.CheckConstraint(
                condition=(
                    Q(condition__in=["hot", "cold"], threshold__isnull=False)
                    | Q(condition__in=["rain", "snow"], threshold__isnull=True)
                ),
                name="weather_factor_threshold_matches_condition",
            ),
            models.CheckConstraint(
                condition=FACTOR_RANGE, name="weather_factor_factor_range"
            ),
        ]

    def __str__(self) -> str:
        threshold = f" {self.threshold}°C" if self.threshold is not None else ""
        return f"{self.condition}{threshold} x{self.factor}"


class PriceExemption(ScopedModel):
    """Staples that bad weather must never raise (and optionally nothing may)."""

    never_above_list = models.BooleanField(
        default=False,
        help_text="Also never above list price, whatever the weekday or hour.",
    )
    note = models.CharField(max_length=160, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ("store", "product", "category")
        constraints = _scope_constraints("price_exemption", unique=True)

    def __str__(self) -> str:
        return f"exemption ({self.scope_label()}) of {self.store.code}"


class MarkdownFloor(TimeStampedModel):
    """A category's own markdown floor, as a fraction of list price."""

    store = models.ForeignKey("inventory.Store", on_delete=models.CASCADE)
    category = models.ForeignKey("inventory.Category", on_delete=models.CASCADE)
    floor = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        validators=[MinValueValidator(Decimal("0.010")), MaxValueValidator(1)],
        help_text="0.400: never below 40% of list price.",
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ("store", "category")
        constraints = [
            models.UniqueConstraint(
                fields=["store", "category"], name="markdown_floor_one_per_category"
            ),
            models.CheckConstraint(
                condition=Q(floor__gt=0) & Q(floor__lte=1),
                name="markdown_floor_range",
            ),
        ]

    def __str__(self) -> str:
        return f"markdown floor {self.floor} for {self.category} in {self.store.code}"


class RunTrigger(models.TextChoices):
    HOURLY = "hourly", "Hourly"
    WEATHER = "weather", "Weather changed"
    MARKDOWN = "markdown", "Markdown step"
    MANUAL = "manual", "Manual"


class RunState(models.TextChoices):
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class RepricingRun(TimeStampedModel):
    """One run of the repricing job for one store: what it did and how long.

    The counts grow as batches commit, so a run that died shows how far it got.
    """

    store = models.ForeignKey(
        "inventory.Store", on_delete=models.CASCADE, related_name="repricing_runs"
    )
    trigger = models.CharField(max_length=16, choices=RunTrigger.choices)
    state = models.CharField(
        max_length=16, choices=RunState.choices, default=RunState.RUNNING
    )
    priced_at = models.DateTimeField(help_text="The moment the prices are for.")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        default=timezone.now,
        help_text="Touched as each batch commits. A running run whose heartbeat "
        "is older than HEMA_REPRICING_STALE_SECONDS died with its worker.",
    )
    products_priced = models.PositiveIntegerField(default=0)
    prices_changed = models.PositiveIntegerField(default=0)
    markdowns_stepped = models.PositiveIntegerField(default=0)
    weather_source = models.CharField(
        max_length=16,
        blank=True,
        help_text="observation, fallback or neutral: what the prices used.",
    )
    weather_error = models.CharField(max_length=255, blank=True)
    weather_ms = models.PositiveIntegerField(default=0)
    compute_ms = models.PositiveIntegerField(default=0)
    write_ms = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ("-started_at", "-pk")
        indexes = [models.Index(fields=["store", "state", "started_at"])]

    def __str__(self) -> str:
        local = timezone.localtime(self.started_at, self.store.tz)
        return f"{self.trigger} run of {self.store.code} at {local:%Y-%m-%d %H:%M}"

    @property
    def duration_ms(self) -> int | None:
        if self.finished_at is None:
            return None
        return int((self.finished_at - self.started_at).total_seconds() * 1000)


class PriceChangeKind(models.TextChoices):
    RULES = "rules", "Rules"
    MARKDOWN = "markdown", "Markdown"


class PriceChange(models.Model):
    """A shelf price that moved: old, new, why, when. Never updated."""

    store = models.ForeignKey(
        "inventory.Store", on_delete=models.CASCADE, related_name="price_changes"
    )
    store_product = models.ForeignKey(
        "inventory.StoreProduct",
        on_delete=models.CASCADE,
        related_name="price_changes",
    )
    run = models.ForeignKey(
        RepricingRun,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="changes",
    )
    kind = models.CharField(max_length=16, choices=PriceChangeKind.choices)
    old_price = models.DecimalField(**MONEY)
    new_price = models.DecimalField(**MONEY)
    reasons = models.JSONField(default=list)
    changed_at = models.DateTimeField()

    class Meta:
        ordering = ("-changed_at", "-pk")
        constraints = [
            models.CheckConstraint(
                condition=~Q(old_price=F("new_price")), name="price_change_changes"
            ),
            models.CheckConstraint(
                condition=Q(new_price__gte=0), name="price_change_not_negative"
            ),
        ]
        indexes = [
            models.Index(fields=["store", "changed_at"]),
            models.Index(fields=["store_product", "changed_at"]),
        ]

    def __str__(self) -> str:
        local = timezone.localtime(self.changed_at, self.store.tz)
        return (
            f"{self.store_product}: {self.old_price} → {self.new_price} "
            f"at {local:%Y-%m-%d %H:%M}"
        )


class MarkdownStep(models.Model):
    """A daily-fresh product marked down deeper on one trading day.

    The markdown in force at a moment is the deepest step of that trading day
    decided at or before it; steps only ever deepen within a day.
    """

    store = models.ForeignKey("inventory.Store", on_delete=models.CASCADE)
    store_product = models.ForeignKey(
        "inventory.StoreProduct",
        on_delete=models.CASCADE,
        related_name="markdown_steps",
    )
    trading_day = models.DateField(help_text="Local date the markdown window opened.")
    percent = models.DecimalField(
        max_digits=5, decimal_places=2, help_text="% off list price."
    )
    stock_left = models.DecimalField(max_digits=12, decimal_places=3)
    expected_demand = models.DecimalField(
        max_digits=12,
        decimal_places=3,
        help_text="Units expected to sell before closing at the pace so far.",
    )
    decided_at = models.DateTimeField()
    run = models.ForeignKey(
        RepricingRun, on_delete=models.SET_NULL, null=True, blank=True
    )

    class Meta:
        ordering = ("store_product", "trading_day", "percent")
        constraints = [
            models.UniqueConstraint(
                fields=["store_product", "trading_day", "percent"],
                name="markdown_step_once_per_depth",
            ),
            models.CheckConstraint(
                condition=Q(percent__gt=0) & Q(percent__lt=100),
                name="markdown_step_percent_range",
            ),
        ]
        indexes = [models.Index(fields=["store", "trading_day"])]

    def __str__(self) -> str:
        return f"{self.store_product} {self.percent}% off on {self.trading_day}"
