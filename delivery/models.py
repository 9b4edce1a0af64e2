"""Fulfilment on the shop floor: what leaves the store for an order, the store's
rail layout, pick tasks per zone, bags on the ceiling rail and the timers.

Delivery stands below orders: it refers to an order by a string foreign key and
reports upward with the signals in ``delivery/signals.py``; it never imports
orders. Invariants are database constraints where the database can say them.
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from hema.models import TimeStampedModel

QUANTITY = {"max_digits": 12, "decimal_places": 3}


# --- The store's rail layout ----------------------------------------------------------


class StationKind(models.TextChoices):
    HANG = "hang", "Hang station (a zone's pickers hang bags here)"
    PACKING = "packing", "Packing station (bags arrive here)"


class RailStation(TimeStampedModel):
    """A point of the ceiling rail: where a zone hangs its bags, or where bags
    arrive to be packed. Bags pass the others on their way."""

    store = models.ForeignKey(
        "inventory.Store", on_delete=models.CASCADE, related_name="rail_stations"
    )
    code = models.CharField(max_length=16)
    name = models.CharField(max_length=80)
    kind = models.CharField(max_length=8, choices=StationKind.choices)
    zone = models.ForeignKey(
        "inventory.Zone",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="rail_stations",
        help_text="Hang stations: the zone whose pickers hang bags here.",
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ("store", "kind", "code")
        constraints = [
            models.UniqueConstraint(
                fields=["store", "code"], name="rail_station_code_per_store"
            ),
            models.UniqueConstraint(
                fields=["zone"],
                condition=Q(kind="hang", is_active=True),
                name="rail_one_active_hang_station_per_zone",
            ),
            models.CheckConstraint(
                condition=Q(kind="packing", zone__isnull=True) | Q(kind="hang"),
                name="rail_packing_station_has_no_zone",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.store_id}/{self.code} {self.name}"


class RailSegment(TimeStampedModel):
    """One stretch of rail between two stations and how long a bag takes on it."""

    store = models.ForeignKey(
        "inventory.Store", on_delete=models.CASCADE, related_name="rail_segments"
    )
    from_station = models.ForeignKey(
        RailStation, on_delete=models.CASCADE, related_name="segments_out"
    )
    to_station = models.ForeignKey(
        RailStation, on_delete=models.CASCADE, related_name="segments_in"
    )
    travel_seconds = models.PositiveIntegerField()

    class Meta:
        ordering = ("store", "from_station", "to_station")
        constraints = [
            models.UniqueConstraint(
                fields=["from_station", "to_station"], name="rail_segment_once"
            ),
            models.CheckConstraint(
                condition=~Q(from_station=models.F("to_station")),
                name="rail_segment_not_a_loop",
            ),
            models.CheckConstraint(
                condition=Q(travel_seconds__gt=0), name="rail_segment_takes_time"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.from_station_id} -> {self.to_station_id}: {self.travel_seconds}s"


# --- Fulfilments ----------------------------------------------------------------------


class FulfilmentMode(models.TextChoices):
    # The same values as orders' fulfilment modes that leave through the store.
    DELIVERY = "delivery", "Delivery"
    PICKUP = "pickup", "Pickup in store"


class FulfilmentState(models.TextChoices):
    OPEN = "open", "Waiting to be picked"
    PICKING = "picking", "Picking"
    PACKED = "packed", "Packed"
    READY = "ready", "Ready for collection"
    COLLECTED = "collected", "Collected"
    OUT_FOR_DELIVERY = "out_for_delivery", "Out for delivery"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Delivery failed"
    CANCELLED = "cancelled", "Cancelled"


class Fulfilment(TimeStampedModel):
    """What the store does for one paid order that leaves through it.

    Opened by ``open_fulfilment`` in the payment's transaction. ``skips_picking``:
    an in-store purchase sent home, packed at the counter. The timer columns
    (``paid_at`` … ``packed_at``) measure the 10-minute target.
    """

    order = models.OneToOneField(
        "orders.Order", on_delete=models.PROTECT, related_name="fulfilment"
    )
    reference = models.CharField(
        max_length=32, unique=True, help_text="The order number staff see."
    )
    store = models.ForeignKey(
        "inventory.Store", on_delete=models.PROTECT, related_name="fulfilments"
    )
    mode = models.CharField(max_length=16, choices=FulfilmentMode.choices)
    skips_picking = models.BooleanField(default=False)
    state = models.CharField(
        max_length=20, choices=FulfilmentState.choices, default=FulfilmentState.OPEN
    )
    deadline = models.DateTimeField(help_text="The promise to the shopper.")
    packing_station = models.ForeignKey(
        RailStation,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="fulfilments",
    )
    paid_at = models.DateTimeField()
    first_pick_at = models.DateTimeField(null=True, blank=True)
    last_hung_at = models.DateTimeField(
        null=True, blank=True, help_text="When the last bag went on the rail."
    )
    packed_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    collection_code = models.CharField(max_length=8, blank=True)

    class Meta:
        ordering = ("deadline", "pk")
        indexes = [
            models.Index(fields=["store", "state", "deadline"]),
            models.Index(fields=["store", "paid_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.reference} ({self.state})"


class LineState(models.TextChoices):
    OPEN = "open", "To pick"
    PICKED = "picked", "Picked"
    SHORT = "short", "Short"
    CANCELLED = "cancelled", "Cancelled"


class PickTaskState(models.TextChoices):
    OPEN = "open", "Waiting for a picker"
    CLAIMED = "claimed", "Being picked"
    BAGGED = "bagged", "In its bag"
    CANCELLED = "cancelled", "Cancelled"


class PickTask(TimeStampedModel):
    """One fulfilment's lines in one zone: one picker's walk, into one bag.

    Claimed with ``SELECT ... FOR UPDATE SKIP LOCKED`` so that two pickers never
    get the same task; ordered by the fulfilment's deadline. Once bagged, the
    rail columns say where its bag is and when it should arrive.
    """

    fulfilment = models.ForeignKey(
        Fulfilment, on_delete=models.CASCADE, related_name="tasks"
    )
    store = models.ForeignKey(
        "inventory.Store", on_delete=models.PROTECT, related_name="pick_tasks"
    )
    zone = models.ForeignKey(
        "inventory.Zone",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="pick_tasks",
    )
    deadline = models.DateTimeField()
    state = models.CharField(
        max_length=16, choices=PickTaskState.choices, default=PickTaskState.OPEN
    )
    picker = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    bagged_at = models.DateTimeField(null=True, blank=True)
    # The rail: filled from the controller's events.
    hung_at = models.DateTimeField(null=True, blank=True)
    location = models.ForeignKey(
        RailStation, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    expected_at = models.DateTimeField(null=True, blank=True)
    arrived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("deadline", "pk")
        indexes = [
            models.Index(
                fields=["store", "zone", "deadline"],
                condition=Q(state="open"),
                name="pick_task_claimable_idx",
            ),
            models.Index(
                fields=["expected_at"],
                condition=Q(state="bagged", arrived_at__isnull=True),
                name="pick_task_on_rail_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"task {self.pk} of {self.fulfilment_id} ({self.state})"


class FulfilmentLine(TimeStampedModel):
    """One order line to take off the shelf: its product, quantity and hold."""

    fulfilment = models.ForeignKey(
        Fulfilment, on_delete=models.CASCADE, related_name="lines"
    )
    order_line = models.OneToOneField(
        "orders.OrderLine", on_delete=models.PROTECT, related_name="fulfilment_line"
    )
    task = models.ForeignKey(
        PickTask, on_delete=models.SET_NULL, null=True, blank=True, related_name="lines"
    )
    store_product = models.ForeignKey(
        "inventory.StoreProduct", on_delete=models.PROTECT, related_name="+"
    )
    reservation = models.OneToOneField(
        "inventory.Reservation",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="fulfilment_line",
    )
    quantity = models.DecimalField(**QUANTITY)
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)
    weight_tolerance = models.DecimalField(
        max_digits=4, decimal_places=3, default=Decimal("0.100")
    )
    state = models.CharField(
        max_length=16, choices=LineState.choices, default=LineState.OPEN
    )
    quantity_picked = models.DecimalField(**QUANTITY, null=True, blank=True)
    picked_at = models.DateTimeField(null=True, blank=True)
    picked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ("pk",)
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="fulfilment_line_quantity_positive"
            ),
            models.CheckConstraint(
                condition=Q(quantity_picked__isnull=True) | Q(quantity_picked__gt=0),
                name="fulfilment_line_picked_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.fulfilment_id}: {self.quantity} x {self.store_product_id}"


class RecountRequest(TimeStampedModel):
    """A shelf the picker found short: the manager's list of counts to redo."""

    store = models.ForeignKey(
        "inventory.Store", on_delete=models.CASCADE, related_name="recount_requests"
    )
    store_product = models.ForeignKey(
        "inventory.StoreProduct", on_delete=models.CASCADE, related_name="+"
    )
    reason = models.CharField(max_length=255)
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-pk")
        constraints = [
            models.UniqueConstraint(
                fields=["store_product"],
                condition=Q(resolved_at__isnull=True),
                name="recount_once_while_open",
            )
        ]

    def __str__(self) -> str:
        return f"recount {self.store_product_id}"


# --- Bags and the rail controller ----------------------------------------------------


class Bag(TimeStampedModel):
    """A reusable picking bag with a printed QR (a signed token naming it).

    ``task`` is the pick task it carries now; it is free again once packed.
    """

    store = models.ForeignKey(
        "inventory.Store", on_delete=models.CASCADE, related_name="bags"
    )
    code = models.CharField(max_length=32, unique=True)
    task = models.OneToOneField(
        PickTask, on_delete=models.SET_NULL, null=True, blank=True, related_name="bag"
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ("store", "code")

    def __str__(self) -> str:
        return self.code


class RailController(TimeStampedModel):
    """The rail's controller of one store: a device with its own secret, which
    signs every event it reports (HMAC-SHA256, like a payment provider)."""

    store = models.OneToOneField(
        "inventory.Store", on_delete=models.CASCADE, related_name="rail_controller"
    )
    device_id = models.CharField(max_length=64, unique=True)
    secret = models.CharField(max_length=128)
    is_active = models.BooleanField(default=True)

    def __str__(self) -> str:
        return f"rail controller {self.device_id}"


class RailEventKind(models.TextChoices):
    HUNG = "hung", "Hung"
    PASSED = "passed", "Passed a station"
    ARRIVED = "arrived", "Arrived at packing"


class RailEvent(models.Model):
    """A controller's event, kept once: its id refuses a replay."""

    controller = models.ForeignKey(
        RailController, on_delete=models.CASCADE, related_name="events"
    )
    event_id = models.CharField(max_length=64)
    kind = models.CharField(max_length=8, choices=RailEventKind.choices)
    bag = models.ForeignKey(Bag, on_delete=models.PROTECT, related_name="events")
    task = models.ForeignKey(
        PickTask, on_delete=models.SET_NULL, null=True, related_name="rail_events"
    )
    station = models.ForeignKey(RailStation, on_delete=models.PROTECT, related_name="+")
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("occurred_at", "pk")
        constraints = [
            models.UniqueConstraint(
                fields=["controller", "event_id"], name="rail_event_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.bag_id} at {self.station_id}"


class StaffIdempotencyKey(models.Model):
    """The answer to a staff scanner's POST, replayed for retries with its key
    (the same rules as the shopper's, ``hema.idempotency``)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField()
    response_body = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "key"], name="staff_idempotency_key_per_user"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key} ({self.response_status})"
