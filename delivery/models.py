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
    # Delivery: where it goes and the capacity its promise took.
    latitude = models.DecimalField(
        max_digits=9, decimal_places=6, null=True, blank=True
    )
    longitude = models.DecimalField(
        max_digits=9, decimal_places=6, null=True, blank=True
    )
    slot = models.ForeignKey(
        "DeliverySlot",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="fulfilments",
    )
    delivered_at = models.DateTimeField(null=True, blank=True)

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


# --- Riders, the promise and the dispatcher (issue 14) -------------------------------


class FailedDeliveryPolicy(models.TextChoices):
    REFUND = "refund", "Refund the order"
    REDELIVER = "redeliver", "Bring it back and deliver it again"


class DeliverySettings(TimeStampedModel):
    """A store's delivery model: how riders travel, what a trip carries, how
    long the floor takes when the timers have no history, and what a failed
    delivery becomes. A store without a row uses the defaults."""

    store = models.OneToOneField(
        "inventory.Store", on_delete=models.CASCADE, related_name="delivery_settings"
    )
    rider_speed_kmh = models.DecimalField(
        max_digits=5, decimal_places=2, default=Decimal("15.00")
    )
    road_factor = models.DecimalField(
        max_digits=4,
        decimal_places=2,
        default=Decimal("1.30"),
        help_text="Road distance / great-circle distance.",
    )
    handover_seconds = models.PositiveIntegerField(default=60)
    rider_capacity_bags = models.PositiveSmallIntegerField(default=6)
    slot_minutes = models.PositiveSmallIntegerField(default=30)
    orders_per_rider_slot = models.PositiveSmallIntegerField(
        default=2, help_text="Deliveries one rider on shift adds to a window."
    )
    default_pick_seconds = models.PositiveIntegerField(default=240)
    default_pack_seconds = models.PositiveIntegerField(
        default=150, help_text="Last bag on the rail to packed."
    )
    failed_delivery = models.CharField(
        max_length=16,
        choices=FailedDeliveryPolicy.choices,
        default=FailedDeliveryPolicy.REFUND,
    )

    class Meta:
        verbose_name_plural = "delivery settings"
        constraints = [
            models.CheckConstraint(
                condition=Q(rider_speed_kmh__gt=0) & Q(road_factor__gte=1),
                name="delivery_settings_travel_positive",
            ),
            models.CheckConstraint(
                condition=Q(rider_capacity_bags__gt=0) & Q(slot_minutes__gt=0),
                name="delivery_settings_capacity_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"delivery settings of {self.store_id}"


class PickerShift(TimeStampedModel):
    """A picker on duty (from ``started_at`` until ``ended_at``): the promise
    counts them."""

    store = models.ForeignKey(
        "inventory.Store", on_delete=models.CASCADE, related_name="picker_shifts"
    )
    picker = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-started_at", "pk")
        constraints = [
            models.UniqueConstraint(
                fields=["picker"],
                condition=Q(ended_at__isnull=True),
                name="picker_one_open_shift",
            )
        ]

    def __str__(self) -> str:
        return f"picker {self.picker_id} at {self.store_id} from {self.started_at}"


class RiderShift(TimeStampedModel):
    """A rider on duty, with the last position their phone reported and how many
    bags they carry on one trip."""

    store = models.ForeignKey(
        "inventory.Store", on_delete=models.CASCADE, related_name="rider_shifts"
    )
    rider = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    capacity_bags = models.PositiveSmallIntegerField(default=6)
    latitude = models.DecimalField(
        max_digits=9, decimal_places=6, null=True, blank=True
    )
    longitude = models.DecimalField(
        max_digits=9, decimal_places=6, null=True, blank=True
    )
    position_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-started_at", "pk")
        constraints = [
            models.UniqueConstraint(
                fields=["rider"],
                condition=Q(ended_at__isnull=True),
                name="rider_one_open_shift",
            ),
            models.CheckConstraint(
                condition=Q(capacity_bags__gt=0), name="rider_capacity_positive"
            ),
        ]
        indexes = [models.Index(fields=["store", "ended_at"])]

    def __str__(self) -> str:
        return f"rider {self.rider_id} at {self.store_id} from {self.started_at}"


class SlotKind(models.TextChoices):
    EXPRESS = "express", "Express (within the promise)"
    WINDOW = "window", "Delivery window"


class DeliverySlot(TimeStampedModel):
    """Capacity to deliver in one window of a store. ``book`` takes a place with
    ``UPDATE ... SET booked = booked + 1 WHERE booked < capacity``; the database
    refuses ``booked > capacity`` as well. Express orders placed in a window
    book that window's express slot."""

    store = models.ForeignKey(
        "inventory.Store", on_delete=models.CASCADE, related_name="delivery_slots"
    )
    kind = models.CharField(max_length=8, choices=SlotKind.choices)
    starts = models.DateTimeField()
    ends = models.DateTimeField()
    capacity = models.PositiveIntegerField()
    booked = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ("store", "starts", "kind")
        constraints = [
            models.UniqueConstraint(
                fields=["store", "kind", "starts"], name="delivery_slot_once"
            ),
            models.CheckConstraint(
                condition=Q(booked__lte=models.F("capacity")),
                name="delivery_slot_within_capacity",
            ),
            models.CheckConstraint(
                condition=Q(ends__gt=models.F("starts")), name="delivery_slot_ends"
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.store_id} {self.kind} {self.starts:%H:%M} "
            f"{self.booked}/{self.capacity}"
        )


class DeliveryBooking(TimeStampedModel):
    """A place taken in a slot by one checkout (``reference``: the order number),
    so that the fulfilment opened at payment knows its slot."""

    slot = models.ForeignKey(
        DeliverySlot, on_delete=models.PROTECT, related_name="bookings"
    )
    reference = models.CharField(max_length=32, unique=True)
    deadline = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.reference} in {self.slot_id}"


class DispatchRun(models.Model):
    """One dispatcher tick of one store: what it considered, what the solver
    said, and each trip it made with the reason (``decisions``)."""

    store = models.ForeignKey(
        "inventory.Store", on_delete=models.CASCADE, related_name="dispatch_runs"
    )
    started_at = models.DateTimeField(db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    solver = models.CharField(max_length=32, blank=True)
    solver_seconds = models.FloatField(default=0)
    cost = models.FloatField(default=0)
    stops_considered = models.PositiveIntegerField(default=0)
    riders_considered = models.PositiveIntegerField(default=0)
    trips_created = models.PositiveIntegerField(default=0)
    stops_pooled = models.PositiveIntegerField(
        default=0, help_text="Stops on trips that carry more than one order."
    )
    decisions = models.JSONField(default=list, blank=True)
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ("-started_at", "-pk")

    def __str__(self) -> str:
        return f"dispatch {self.store_id} {self.started_at:%H:%M:%S}"


class TripState(models.TextChoices):
    ASSIGNED = "assigned", "Assigned (rider to collect at the store)"
    OUT = "out", "Out delivering"
    FINISHED = "finished", "Every stop done"


class Trip(TimeStampedModel):
    """One rider's round from the store through its stops and back."""

    store = models.ForeignKey(
        "inventory.Store", on_delete=models.PROTECT, related_name="trips"
    )
    rider = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    shift = models.ForeignKey(
        RiderShift, on_delete=models.PROTECT, related_name="trips"
    )
    run = models.ForeignKey(
        DispatchRun,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="trips",
    )
    state = models.CharField(
        max_length=12, choices=TripState.choices, default=TripState.ASSIGNED
    )
    planned_departure = models.DateTimeField()
    planned_return = models.DateTimeField()
    picked_up_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-planned_departure", "-pk")
        constraints = [
            models.UniqueConstraint(
                fields=["rider"],
                condition=Q(state__in=["assigned", "out"]),
                name="trip_one_active_per_rider",
            )
        ]
        indexes = [models.Index(fields=["store", "state"])]

    def __str__(self) -> str:
        return f"trip {self.pk} of rider {self.rider_id} ({self.state})"


class StopState(models.TextChoices):
    PENDING = "pending", "To deliver"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class TripStop(TimeStampedModel):
    """One order on a trip: its place in the round, its deadline (the promise),
    the planned arrival and what happened. An order is on one live trip at a
    time (a unique constraint); after a failed stop it may ride again."""

    trip = models.ForeignKey(Trip, on_delete=models.CASCADE, related_name="stops")
    fulfilment = models.ForeignKey(
        Fulfilment, on_delete=models.PROTECT, related_name="stops"
    )
    sequence = models.PositiveSmallIntegerField()
    deadline = models.DateTimeField()
    planned_arrival = models.DateTimeField()
    arrived_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(
        max_length=12, choices=StopState.choices, default=StopState.PENDING
    )
    failure_reason = models.CharField(max_length=255, blank=True)
    latitude = models.DecimalField(
        max_digits=9, decimal_places=6, null=True, blank=True
    )
    longitude = models.DecimalField(
        max_digits=9, decimal_places=6, null=True, blank=True
    )

    class Meta:
        ordering = ("trip", "sequence")
        constraints = [
            models.UniqueConstraint(
                fields=["fulfilment"],
                condition=Q(state__in=["pending", "delivered"]),
                name="trip_stop_one_live_per_fulfilment",
            ),
            models.UniqueConstraint(
                fields=["trip", "sequence"], name="trip_stop_sequence_once"
            ),
        ]

    def __str__(self) -> str:
        return f"stop {self.sequence} of trip {self.trip_id}: {self.fulfilment_id}"
