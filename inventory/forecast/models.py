"""The tables of the forecast and what it drives.

The sales history is one row per store product and store-local day, built from
the sale rows of the stock ledger (both channels; reservations are not sales)
or imported from a former till system. Fitted models are kept (serialized and
versioned) so that the nightly run predicts without refitting; each forecast
row names the method and the run that made it, and a second run for the same
day replaces the rows rather than adding to them. Replenishment drafts are the
forecast's answer to "what should arrive tomorrow", approved by a manager.
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from hema.models import TimeStampedModel

QUANTITY = {"max_digits": 12, "decimal_places": 3}
MONEY = {"max_digits": 12, "decimal_places": 2}


class FreshCap(models.TextChoices):
    """How far a daily-fresh delivery may go (``inventory.replenishment``)."""

    FORECAST = "forecast", "the day's forecast"
    UPPER = "upper", "the forecast's 80% upper bound"


class ForecastSettings(TimeStampedModel):
    """A store's forecast and replenishment settings; a store without a row
    uses the defaults."""

    store = models.OneToOneField(
        "inventory.Store", on_delete=models.CASCADE, related_name="forecast_settings"
    )
    horizon_days = models.PositiveSmallIntegerField(default=7)
    service_level = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.950"),
        help_text="Replenishment: the chance that a delivery covers demand "
        "until the next one (sets the safety stock).",
    )
    buffer_service_level = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.900"),
        help_text="Online buffer: the chance that shoppers in the aisle take no "
        "more than the buffer while an app order waits to be picked.",
    )
    order_wait_minutes = models.PositiveSmallIntegerField(
        default=15, help_text="Paid app order to picked, for the online buffer."
    )
    cover_days = models.PositiveSmallIntegerField(
        default=1, help_text="Days one supplier delivery must last."
    )
    fresh_cap = models.CharField(
        max_length=8,
        choices=FreshCap.choices,
        default=FreshCap.UPPER,
        help_text="Daily fresh: the most a delivery may bring. The upper bound "
        "(the default) leaves the surplus to the evening markdown; the forecast "
        "wastes less but runs short at full price about three times as often "
        "(a simulated week: waste 2.9% and 1.2%, daily-fresh product-days short "
        "4.5% and 15%).",
    )

    class Meta:
        verbose_name_plural = "forecast settings"
        constraints = [
            models.CheckConstraint(
                condition=Q(service_level__gt=0)
                & Q(service_level__lt=1)
                & Q(buffer_service_level__gt=0)
                & Q(buffer_service_level__lt=1),
                name="forecast_settings_levels_between_0_and_1",
            ),
            models.CheckConstraint(
                condition=Q(horizon_days__gt=0) & Q(cover_days__gt=0),
                name="forecast_settings_days_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"forecast settings of {self.store_id}"


class SalesSource(models.TextChoices):
    LEDGER = "ledger", "Stock ledger"
    IMPORT = "import", "Imported"
    DEMO = "demo", "Demo history"


class DailySales(models.Model):
    """What one store product sold on one store-local day.

    ``sold_out``: the shelf was empty at some point of the day, so the day's
    units are a floor of the demand, not the demand (censored)."""

    # Found through the (store_product, day) unique index below; an index of
    # its own would only slow the import of millions of rows down.
    store_product = models.ForeignKey(
        "inventory.StoreProduct",
        on_delete=models.CASCADE,
        related_name="daily_sales",
        db_index=False,
    )
    day = models.DateField(help_text="The store's local day.")
    quantity = models.DecimalField(**QUANTITY, default=Decimal("0.000"))
    revenue = models.DecimalField(
        max_digits=14, decimal_places=2, default=Decimal("0.00")
    )
    average_price = models.DecimalField(**MONEY, null=True, blank=True)
    sold_out = models.BooleanField(default=False)
    source = models.CharField(
        max_length=8, choices=SalesSource.choices, default=SalesSource.LEDGER
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("store_product", "day")
        verbose_name_plural = "daily sales"
        constraints = [
            models.UniqueConstraint(
                fields=["store_product", "day"], name="daily_sales_one_per_day"
            ),
            models.CheckConstraint(
                condition=Q(quantity__gte=0) & Q(revenue__gte=0),
                name="daily_sales_non_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.store_product_id} {self.day}: {self.quantity}"


class SalesWatermark(models.Model):
    """The last ledger row folded into the sales history, per store: the
    incremental job starts after it."""

    store = models.OneToOneField(
        "inventory.Store", on_delete=models.CASCADE, related_name="sales_watermark"
    )
    last_movement_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"sales of {self.store_id} up to movement {self.last_movement_id}"


class ForecastMethod(models.TextChoices):
    PROPHET = "prophet", "Prophet"
    SEASONAL_NAIVE = "seasonal_naive", "Seasonal naive (same weekday last week)"
    ETS = "ets", "Exponential smoothing"
    CROSTON = "croston", "Croston"
    TSB = "tsb", "TSB (intermittent)"
    PROPHET_ETS = "prophet_ets", "Prophet and exponential smoothing, averaged"


class RunKind(models.TextChoices):
    PREDICT = "predict", "Nightly predict"
    REFIT = "refit", "Weekly refit"
    BACKTEST = "backtest", "Backtest"


class RunState(models.TextChoices):
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ForecastRun(TimeStampedModel):
    """One predict, refit or backtest of a store: what it did and how long."""

    store = models.ForeignKey(
        "inventory.Store", on_delete=models.CASCADE, related_name="forecast_runs"
    )
    kind = models.CharField(max_length=8, choices=RunKind.choices)
    origin = models.DateField(
        help_text="The first day forecast (predict), or the last day of history."
    )
    state = models.CharField(
        max_length=8, choices=RunState.choices, default=RunState.RUNNING
    )
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    series = models.PositiveIntegerField(default=0)
    fallbacks = models.PositiveIntegerField(
        default=0, help_text="Series that failed their method and used a cheaper one."
    )
    failures = models.PositiveIntegerField(default=0)
    seconds = models.FloatField(default=0.0)
    # Yesterday's accuracy, measured by a nightly predict (WAPE, bias), and any
    # per-category or per-method figures; failures are listed with their reason.
    accuracy_wape = models.FloatField(null=True, blank=True)
    accuracy_bias = models.FloatField(null=True, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ("-started_at", "-pk")
        indexes = [models.Index(fields=["store", "kind", "-started_at"])]

    def __str__(self) -> str:
        return f"{self.kind} of {self.store_id} from {self.origin} ({self.state})"


class FittedModel(TimeStampedModel):
    """A series' fitted model, kept so that the nightly run only predicts.

    ``payload`` is the method's own serialization (Prophet's JSON, or the
    parameters of a cheaper method); ``version`` counts the fits of the series.
    Only the newest (``is_current``) is used."""

    store_product = models.ForeignKey(
        "inventory.StoreProduct", on_delete=models.CASCADE, related_name="fitted_models"
    )
    method = models.CharField(max_length=16, choices=ForecastMethod.choices)
    version = models.PositiveIntegerField()
    is_current = models.BooleanField(default=True)
    trained_until = models.DateField()
    payload = models.TextField()
    # Why this method (the written rule's inputs: length, zeros, backtest error).
    reason = models.CharField(max_length=255, blank=True)
    run = models.ForeignKey(
        ForecastRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ("store_product", "-version")
        constraints = [
            models.UniqueConstraint(
                fields=["store_product", "version"], name="fitted_model_version_unique"
            ),
            models.UniqueConstraint(
                fields=["store_product"],
                condition=Q(is_current=True),
                name="fitted_model_one_current",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.method} v{self.version} of {self.store_product_id}"


class DemandForecast(models.Model):
    """The latest forecast of one store product's demand on one day (a later
    run replaces it, so the row for yesterday is yesterday's one-day-ahead
    forecast: the nightly accuracy check compares it with the actual)."""

    store_product = models.ForeignKey(
        "inventory.StoreProduct", on_delete=models.CASCADE, related_name="forecasts"
    )
    day = models.DateField()
    quantity = models.DecimalField(**QUANTITY)
    lower = models.DecimalField(**QUANTITY, help_text="80% interval, low end.")
    upper = models.DecimalField(**QUANTITY, help_text="80% interval, high end.")
    method = models.CharField(max_length=16, choices=ForecastMethod.choices)
    run = models.ForeignKey(ForecastRun, on_delete=models.CASCADE, related_name="+")
    made_on = models.DateField(help_text="The run's origin: the first day forecast.")

    class Meta:
        ordering = ("store_product", "day")
        constraints = [
            models.UniqueConstraint(
                fields=["store_product", "day"], name="demand_forecast_one_per_day"
            ),
            models.CheckConstraint(
                condition=Q(lower__gte=0) & Q(quantity__gte=0) & Q(upper__gte=0),
                name="demand_forecast_non_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.store_product_id} {self.day}: {self.quantity}"


class ReplenishmentState(models.TextChoices):
    DRAFT = "draft", "Draft"
    APPROVED = "approved", "Approved"
    RECEIVED = "received", "Received"
    CANCELLED = "cancelled", "Cancelled"


class ReplenishmentOrder(TimeStampedModel):
    """A draft order to one supplier for one delivery day, from the forecast."""

    store = models.ForeignKey(
        "inventory.Store", on_delete=models.CASCADE, related_name="replenishments"
    )
    supplier = models.ForeignKey(
        "inventory.Supplier", on_delete=models.PROTECT, related_name="replenishments"
    )
    delivery_day = models.DateField()
    state = models.CharField(
        max_length=10,
        choices=ReplenishmentState.choices,
        default=ReplenishmentState.DRAFT,
    )
    run = models.ForeignKey(
        ForecastRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-delivery_day", "store", "supplier")
        constraints = [
            models.UniqueConstraint(
                fields=["store", "supplier", "delivery_day"],
                condition=~Q(state="cancelled"),
                name="replenishment_one_live_per_delivery",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.store_id} from {self.supplier_id} for {self.delivery_day}"


class ReplenishmentLine(models.Model):
    """One product of a draft: the suggestion and how it was reached, and the
    quantity ordered (the manager may edit it before approving)."""

    order = models.ForeignKey(
        ReplenishmentOrder, on_delete=models.CASCADE, related_name="lines"
    )
    store_product = models.ForeignKey(
        "inventory.StoreProduct", on_delete=models.PROTECT, related_name="+"
    )
    forecast_demand = models.DecimalField(**QUANTITY)
    safety_stock = models.DecimalField(**QUANTITY)
    on_hand = models.DecimalField(**QUANTITY)
    on_order = models.DecimalField(**QUANTITY)
    suggested = models.DecimalField(**QUANTITY)
    quantity = models.DecimalField(**QUANTITY)
    received = models.DecimalField(**QUANTITY, null=True, blank=True)

    class Meta:
        ordering = ("order", "store_product")
        constraints = [
            models.UniqueConstraint(
                fields=["order", "store_product"], name="replenishment_line_once"
            ),
            models.CheckConstraint(
                condition=Q(quantity__gte=0) & Q(suggested__gte=0),
                name="replenishment_line_non_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.store_product_id} x {self.quantity}"
