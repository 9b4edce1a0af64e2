"""Stores, the chain-wide catalogue, and the one stock count per store and product.

Stock invariants are database constraints, not Python checks: on hand, reserved
and the buffer are never negative, and reserved never exceeds on hand, so a unit
can never be promised twice whatever the code above does.
"""

import zoneinfo
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q

from hema.models import TimeStampedModel

QUANTITY = {"max_digits": 12, "decimal_places": 3}
MONEY = {"max_digits": 12, "decimal_places": 2}

code_validator = RegexValidator(
    r"^[A-Z0-9][A-Z0-9_-]{0,15}$",
    "Use 1-16 capital letters, digits, '-' or '_'.",
)
sku_validator = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
    "Use 1-64 letters, digits, '.', '-' or '_'.",
)


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"Unknown time zone {value!r}.")


class Store(TimeStampedModel):
    """One shop floor that is also a fulfillment center."""

    code = models.CharField(max_length=16, unique=True, validators=[code_validator])
    name = models.CharField(max_length=120)
    address = models.CharField(max_length=255, blank=True)
    latitude = models.DecimalField(max_digits=9, decimal_places=6)
    longitude = models.DecimalField(max_digits=9, decimal_places=6)
    delivery_radius_km = models.DecimalField(
        max_digits=5, decimal_places=2, default=Decimal("3.00")
    )
    delivery_promise_minutes = models.PositiveSmallIntegerField(default=30)
    time_zone = models.CharField(
        max_length=64, default="Asia/Shanghai", validators=[validate_time_zone]
    )
    currency = models.CharField(max_length=3, default="CNY")
    opens_at = models.TimeField(default="08:00")
    closes_at = models.TimeField(default="22:00")
    is_24h = models.BooleanField("open 24 hours", default=False)
    trading_day_ends_at = models.TimeField(
        default="22:00",
        help_text="Local hour the trading day ends; daily sales and markdowns use it, "
        "also for 24-hour stores.",
    )
    price_hold_minutes = models.PositiveSmallIntegerField(
        default=15,
        help_text="How long the price shown at a scan is the price charged.",
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ("code",)
        constraints = [
            models.CheckConstraint(
                condition=Q(delivery_radius_km__gt=0), name="store_radius_positive"
            ),
            models.CheckConstraint(
                condition=Q(latitude__gte=-90, latitude__lte=90)
                & Q(longitude__gte=-180, longitude__lte=180),
                name="store_coordinates_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)


class StaffRole(models.TextChoices):
    MANAGER = "manager", "Manager"
    PICKER = "picker", "Picker"
    PACKER = "packer", "Packer"
    RIDER = "rider", "Rider"


class StoreStaff(TimeStampedModel):
    """A person's role in one store; every staff permission check goes through it."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="store_roles"
    )
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="staff")
    role = models.CharField(max_length=16, choices=StaffRole.choices)
    is_active = models.BooleanField(default=True)

    class Meta:
        verbose_name_plural = "store staff"
        constraints = [
            models.UniqueConstraint(
                fields=["user", "store", "role"], name="store_staff_unique_role"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.role} at {self.store.code}"


class Zone(TimeStampedModel):
    """A picking zone of the shop floor; each picker works one."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="zones")
    code = models.CharField(max_length=16, validators=[code_validator])
    name = models.CharField(max_length=80)
    sort_order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ("store", "sort_order", "code")
        constraints = [
            models.UniqueConstraint(
                fields=["store", "code"], name="zone_code_per_store"
            )
        ]

    def __str__(self) -> str:
        return f"{self.store.code}/{self.code} {self.name}"


class Supplier(TimeStampedModel):
    name = models.CharField(max_length=120, unique=True)
    contact_email = models.EmailField(blank=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class Category(TimeStampedModel):
    slug = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=80)

    class Meta:
        ordering = ("name",)
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


class SaleUnit(models.TextChoices):
    PIECE = "piece", "By the piece"
    KILOGRAM = "kg", "By weight (kg)"


class TaxClass(models.TextChoices):
    STANDARD = "standard", "Standard"
    REDUCED = "reduced", "Reduced (food)"
    ZERO = "zero", "Zero-rated"


class Product(TimeStampedModel):
    """The chain-wide catalogue entry; what differs per store is in StoreProduct."""

    sku = models.CharField(max_length=64, unique=True, validators=[sku_validator])
    name = models.CharField(max_length=160)
    name_local = models.CharField(
        "local name",
        max_length=160,
        blank=True,
        help_text="The name in the stores' language (Simplified Chinese in "
        "Shanghai), printed on labels and shown beside the English one.",
    )
    category = models.ForeignKey(
        Category, on_delete=models.PROTECT, related_name="products"
    )
    sale_unit = models.CharField(
        max_length=8, choices=SaleUnit.choices, default=SaleUnit.PIECE
    )
    origin = models.CharField(max_length=120, blank=True)
    shelf_life_days = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Empty: not perishable, no lots are tracked."
    )
    is_daily_fresh = models.BooleanField(
        default=False, help_text="Sold only on the day it arrives."
    )
    supplier = models.ForeignKey(
        Supplier,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="products",
    )
    case_size = models.DecimalField(**QUANTITY, default=Decimal("1.000"))
    tax_class = models.CharField(
        max_length=16, choices=TaxClass.choices, default=TaxClass.REDUCED
    )

    class Meta:
        ordering = ("sku",)
        constraints = [
            models.CheckConstraint(
                condition=Q(case_size__gt=0), name="product_case_size_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"

    @property
    def is_weighed(self) -> bool:
        return self.sale_unit == SaleUnit.KILOGRAM


class StoreProduct(TimeStampedModel):
    """A product in one store: its price, its place and its one stock count.

    ``on_hand`` is what is on the shelf, ``reserved`` what online orders hold,
    ``online_buffer`` what the app never sells (shoppers in the aisle may hold it).
    The app sees ``on_hand - reserved - online_buffer``. Only
    ``inventory.services`` writes the counts, with conditional UPDATEs, and
    creates rows (``store_product_create`` starts the shelf price at the list
    price).
    """

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="products")
    product = models.ForeignKey(
        Product, on_delete=models.PROTECT, related_name="store_products"
    )
    list_price = models.DecimalField(**MONEY, validators=[MinValueValidator(0)])
    unit_cost = models.DecimalField(**MONEY, validators=[MinValueValidator(0)])
    shelf_price = models.DecimalField(
        **MONEY,
        help_text="The one price now: scan, app, checkout and labels read it. "
        "Equals the list price until pricing sets it.",
    )
    zone = models.ForeignKey(
        Zone, on_delete=models.PROTECT, null=True, blank=True, related_name="products"
    )
    shelf_location = models.CharField(max_length=32, blank=True)
    online_buffer = models.DecimalField(**QUANTITY, default=Decimal("0.000"))
    on_hand = models.DecimalField(**QUANTITY, default=Decimal("0.000"))
    reserved = models.DecimalField(**QUANTITY, default=Decimal("0.000"))
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ("store", "product")
        constraints = [
            models.UniqueConstraint(
                fields=["store", "product"], name="store_product_unique"
            ),
            models.CheckConstraint(
                condition=Q(on_hand__gte=0), name="store_product_on_hand_non_negative"
            ),
            models.CheckConstraint(
                condition=Q(reserved__gte=0), name="store_product_reserved_non_negative"
            ),
            models.CheckConstraint(
                condition=Q(reserved__lte=F("on_hand")),
                name="store_product_reserved_within_on_hand",
            ),
            models.CheckConstraint(
                condition=Q(online_buffer__gte=0),
                name="store_product_buffer_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(list_price__gte=0)
                & Q(unit_cost__gte=0)
                & Q(shelf_price__gte=0),
                name="store_product_money_non_negative",
            ),
        ]
        indexes = [models.Index(fields=["store", "is_active"])]

    def __str__(self) -> str:
        return f"{self.store.code}/{self.product.sku}"

    @property
    def available_in_store(self) -> Decimal:
        return self.on_hand - self.reserved

    @property
    def available_online(self) -> Decimal:
        return max(self.on_hand - self.reserved - self.online_buffer, Decimal(0))


class StockLot(TimeStampedModel):
    """Goods of one delivery with one best-before date; sales take the oldest first."""

    store_product = models.ForeignKey(
        StoreProduct, on_delete=models.CASCADE, related_name="lots"
    )
    received_at = models.DateTimeField()
    best_before = models.DateField()
    quantity_received = models.DecimalField(**QUANTITY)
    quantity_left = models.DecimalField(**QUANTITY)
    reference = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ("best_before", "pk")
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity_left__gte=0)
                & Q(quantity_left__lte=F("quantity_received")),
                name="stock_lot_left_within_received",
            )
        ]
        indexes = [models.Index(fields=["store_product", "best_before"])]

    def __str__(self) -> str:
        return f"{self.store_product} lot best before {self.best_before}"


class ReservationState(models.TextChoices):
    HELD = "held", "Held"
    PICKED = "picked", "Picked"
    RELEASED = "released", "Released"
    SHORT = "short", "Short"


class Reservation(TimeStampedModel):
    """Units an online order holds until they are picked, released or found short."""

    # Indexed by (store_product, state) below; a second index would only slow
    # every reservation down.
    store_product = models.ForeignKey(
        StoreProduct,
        on_delete=models.PROTECT,
        related_name="reservations",
        db_index=False,
    )
    quantity = models.DecimalField(**QUANTITY)
    reference = models.CharField(max_length=64)
    # Written on every online order, never searched by time: no index.
    created_at = models.DateTimeField(auto_now_add=True)
    reserved_until = models.DateTimeField(null=True, blank=True)
    state = models.CharField(
        max_length=16, choices=ReservationState.choices, default=ReservationState.HELD
    )
    quantity_picked = models.DecimalField(**QUANTITY, default=Decimal("0.000"))

    class Meta:
        ordering = ("pk",)
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="reservation_quantity_positive"
            ),
        ]
        indexes = [
            models.Index(
                fields=["reserved_until"],
                condition=Q(state="held", reserved_until__isnull=False),
                name="reservation_expiry_idx",
            ),
            models.Index(fields=["store_product", "state"]),
        ]

    def __str__(self) -> str:
        return (
            f"{self.reference}: {self.quantity} of {self.store_product} ({self.state})"
        )


class MovementKind(models.TextChoices):
    RECEIVE = "receive", "Goods received"
    CORRECTION = "correction", "Count correction"
    WRITE_OFF = "write_off", "Written off"
    RESERVE = "reserve", "Reserved online"
    RELEASE = "release", "Reservation released"
    PICK = "pick", "Picked (online sale)"
    SALE_IN_STORE = "sale_in_store", "Sold in store"
    SHORT = "short", "Reservation found short"


class StockMovement(models.Model):
    """The stock ledger: every change of on hand or reserved is one row.

    Summing ``on_hand_delta`` and ``reserved_delta`` over a store product gives its
    counts; sale rows carry the unit price charged, which the sales history uses.
    """

    # Indexed by (store_product, created_at) below.
    store_product = models.ForeignKey(
        StoreProduct, on_delete=models.PROTECT, related_name="movements", db_index=False
    )
    kind = models.CharField(max_length=16, choices=MovementKind.choices)
    on_hand_delta = models.DecimalField(**QUANTITY, default=Decimal("0.000"))
    reserved_delta = models.DecimalField(**QUANTITY, default=Decimal("0.000"))
    unit_price = models.DecimalField(**MONEY, null=True, blank=True)
    reference = models.CharField(max_length=64, blank=True, db_index=True)
    reason = models.CharField(max_length=255, blank=True)
    # The ledger is written on every sale and reservation and read by product and
    # time: no index of its own for the actor or the reservation.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    reservation = models.ForeignKey(
        Reservation,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="movements",
        db_index=False,
    )
    # The one-time token of the staff form that asked for this change (receive,
    # correct, write off): a form sent twice finds the first change, not a second.
    request_id = models.CharField(max_length=64, blank=True, default="", db_default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created_at", "-pk")
        indexes = [
            models.Index(fields=["store_product", "created_at"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["store_product", "request_id"],
                condition=~Q(request_id=""),
                name="stock_movement_one_per_request",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.store_product_id} on_hand {self.on_hand_delta:+}"


class ReconcileState(models.TextChoices):
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ReconcileRun(TimeStampedModel):
    """One comparison of a store's stock counts with the ledger and the holds.

    Written by ``inventory.reconcile``; it records and never changes a count.
    """

    # Found through the (store, state, started_at) index below.
    store = models.ForeignKey(
        Store, on_delete=models.CASCADE, related_name="reconcile_runs", db_index=False
    )
    state = models.CharField(
        max_length=16, choices=ReconcileState.choices, default=ReconcileState.RUNNING
    )
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    products_checked = models.PositiveIntegerField(default=0)
    drift_count = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ("-started_at", "-pk")
        indexes = [models.Index(fields=["store", "state", "started_at"])]

    def __str__(self) -> str:
        return (
            f"reconcile {self.store.code} {self.started_at:%Y-%m-%d %H:%M} {self.state}"
        )

    @property
    def duration_ms(self) -> int | None:
        if self.finished_at is None:
            return None
        return round((self.finished_at - self.started_at).total_seconds() * 1000)


class ReconcileDrift(models.Model):
    """A store product whose counts disagree with what the ledger and holds say.

    ``*_expected`` is the ledger's sum, ``reserved_held`` the sum of the held
    reservations, ``*_actual`` the row's count when the run read it.
    """

    # Found through the (run, store_product) unique index below.
    run = models.ForeignKey(
        ReconcileRun, on_delete=models.CASCADE, related_name="drifts", db_index=False
    )
    store_product = models.ForeignKey(
        StoreProduct, on_delete=models.CASCADE, related_name="+"
    )
    on_hand_expected = models.DecimalField(**QUANTITY)
    on_hand_actual = models.DecimalField(**QUANTITY)
    reserved_expected = models.DecimalField(**QUANTITY)
    reserved_held = models.DecimalField(**QUANTITY)
    reserved_actual = models.DecimalField(**QUANTITY)

    class Meta:
        ordering = ("run", "store_product")
        constraints = [
            models.UniqueConstraint(
                fields=["run", "store_product"], name="reconcile_drift_once_per_run"
            )
        ]

    def __str__(self) -> str:
        return f"drift of {self.store_product_id} in run {self.run_id}"


# Weather is defined in its own module (providers beside the table); import it
# here so that Django registers the model with the inventory app.
from inventory.forecast.models import (  # noqa: E402, F401
    DailySales,
    DemandForecast,
    FittedModel,
    ForecastRun,
    ForecastSettings,
    ReplenishmentLine,
    ReplenishmentOrder,
    SalesWatermark,
)
from inventory.weather import StoreWeather  # noqa: E402, F401
