"""Members, wallets, carts and the one order model of both channels.

Money is Decimal with two places and never negative where the database can say
so: a wallet balance below zero is refused by a check constraint, whatever the
code above does.
"""

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from hema.models import TimeStampedModel
from inventory.display import quantity

MONEY = {"max_digits": 12, "decimal_places": 2}
QUANTITY = {"max_digits": 12, "decimal_places": 3}
ZERO_MONEY = Decimal("0.00")


class Member(TimeStampedModel):
    """A shopper's account in the app: one history across both channels."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="member"
    )

    def __str__(self) -> str:
        return str(self.user)


class Address(TimeStampedModel):
    """A delivery address as the phone located it."""

    member = models.ForeignKey(
        Member, on_delete=models.CASCADE, related_name="addresses"
    )
    label = models.CharField(max_length=60)
    latitude = models.DecimalField(max_digits=9, decimal_places=6)
    longitude = models.DecimalField(max_digits=9, decimal_places=6)
    note = models.CharField(max_length=255, blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ("member", "pk")
        verbose_name_plural = "addresses"
        constraints = [
            models.CheckConstraint(
                condition=Q(latitude__gte=-90, latitude__lte=90)
                & Q(longitude__gte=-180, longitude__lte=180),
                name="address_coordinates_valid",
            )
        ]

    def __str__(self) -> str:
        return f"{self.member}: {self.label}"


class Wallet(TimeStampedModel):
    """Stored value; the balance equals the sum of its entries."""

    member = models.OneToOneField(
        Member, on_delete=models.CASCADE, related_name="wallet"
    )
    balance = models.DecimalField(**MONEY, default=ZERO_MONEY)
    currency = models.CharField(max_length=3, default="CNY")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(balance__gte=0), name="wallet_balance_non_negative"
            )
        ]

    def __str__(self) -> str:
        return f"wallet of {self.member}: {self.balance} {self.currency}"


class WalletEntryKind(models.TextChoices):
    TOP_UP = "top_up", "Top-up"
    PAYMENT = "payment", "Payment"
    REFUND = "refund", "Refund"


class WalletEntry(models.Model):
    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(max_length=16, choices=WalletEntryKind.choices)
    amount = models.DecimalField(**MONEY, help_text="Signed: payments are negative.")
    reference = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ("-created_at", "-pk")
        verbose_name_plural = "wallet entries"
        constraints = [
            models.UniqueConstraint(
                fields=["wallet", "kind", "reference"], name="wallet_entry_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount:+} ({self.reference})"


class Channel(models.TextChoices):
    IN_STORE = "in_store", "In store (QR scan)"
    APP = "app", "App"


class SubstitutionPreference(models.TextChoices):
    ALLOW = "allow", "Allow a similar product"
    NONE = "none", "No substitute"


class CartState(models.TextChoices):
    OPEN = "open", "Open"
    CHECKED_OUT = "checked_out", "Checked out"
    ABANDONED = "abandoned", "Abandoned"


class Cart(TimeStampedModel):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="carts")
    store = models.ForeignKey(
        "inventory.Store", on_delete=models.PROTECT, related_name="carts"
    )
    channel = models.CharField(max_length=16, choices=Channel.choices)
    state = models.CharField(
        max_length=16, choices=CartState.choices, default=CartState.OPEN
    )
    expires_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["member", "state"])]

    def __str__(self) -> str:
        return f"{self.channel} cart {self.uuid} at {self.store_id}"


class CartLine(TimeStampedModel):
    cart = models.ForeignKey(Cart, on_delete=models.CASCADE, related_name="lines")
    store_product = models.ForeignKey(
        "inventory.StoreProduct", on_delete=models.PROTECT, related_name="+"
    )
    quantity = models.DecimalField(**QUANTITY)
    held_price = models.DecimalField(
        **MONEY, help_text="The price shown when the line was scanned or added."
    )
    price_held_until = models.DateTimeField(null=True, blank=True)
    substitution = models.CharField(
        max_length=8,
        choices=SubstitutionPreference.choices,
        default=SubstitutionPreference.ALLOW,
    )

    class Meta:
        ordering = ("pk",)
        constraints = [
            models.UniqueConstraint(
                fields=["cart", "store_product"], name="cart_line_one_per_product"
            ),
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="cart_line_quantity_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.store_product_id}"


class FulfilmentMode(models.TextChoices):
    CARRY_OUT = "carry_out", "Carry out (in store)"
    DELIVERY = "delivery", "Delivery"
    PICKUP = "pickup", "Pickup in store"


class OrderState(models.TextChoices):
    CREATED = "created", "Created (awaiting payment)"
    PAID = "paid", "Paid"
    PICKING = "picking", "Picking"
    PACKED = "packed", "Packed"
    READY = "ready", "Ready for pickup"
    OUT_FOR_DELIVERY = "out_for_delivery", "Out for delivery"
    DELIVERED = "delivered", "Delivered"
    COLLECTED = "collected", "Collected"
    COMPLETED = "completed", "Completed (carried out)"
    CANCELLED = "cancelled", "Cancelled"


class RefundStatus(models.TextChoices):
    NONE = "none", "None"
    PARTIAL = "partially_refunded", "Partially refunded"
    FULL = "refunded", "Refunded"


class Order(TimeStampedModel):
    """One order model for both channels; its state changes only through services."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    number = models.CharField(max_length=32, unique=True)
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="orders")
    store = models.ForeignKey(
        "inventory.Store", on_delete=models.PROTECT, related_name="orders"
    )
    cart = models.OneToOneField(
        Cart,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="order",
        help_text="The cart this order was checked out from: one order per cart.",
    )
    channel = models.CharField(max_length=16, choices=Channel.choices)
    fulfilment_mode = models.CharField(max_length=16, choices=FulfilmentMode.choices)
    state = models.CharField(
        max_length=20, choices=OrderState.choices, default=OrderState.CREATED
    )
    refund_status = models.CharField(
        max_length=20, choices=RefundStatus.choices, default=RefundStatus.NONE
    )
    currency = models.CharField(max_length=3)
    subtotal = models.DecimalField(**MONEY, default=ZERO_MONEY)
    tax_total = models.DecimalField(**MONEY, default=ZERO_MONEY)
    total = models.DecimalField(**MONEY, default=ZERO_MONEY)
    refunded_total = models.DecimalField(**MONEY, default=ZERO_MONEY)
    delivery_latitude = models.DecimalField(
        max_digits=9, decimal_places=6, null=True, blank=True
    )
    delivery_longitude = models.DecimalField(
        max_digits=9, decimal_places=6, null=True, blank=True
    )
    delivery_label = models.CharField(max_length=60, blank=True)
    delivery_note = models.CharField(max_length=255, blank=True)
    delivery_distance_km = models.DecimalField(
        max_digits=7, decimal_places=3, null=True, blank=True
    )
    promised_by = models.DateTimeField(null=True, blank=True)
    payment_due_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-pk")
        constraints = [
            models.CheckConstraint(
                condition=Q(total__gte=0) & Q(refunded_total__gte=0),
                name="order_money_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(refunded_total__lte=F("total")),
                name="order_refund_within_total",
            ),
        ]
        indexes = [
            models.Index(fields=["member", "-created_at"]),
            models.Index(fields=["store", "state"]),
            # The dashboard's sales by hour: a store's orders paid in a day.
            models.Index(fields=["store", "paid_at"], name="order_store_paid_idx"),
            models.Index(
                fields=["payment_due_at"],
                condition=Q(state="created"),
                name="order_unpaid_due_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.number


class OrderLineState(models.TextChoices):
    OPEN = "open", "Open"
    PICKED = "picked", "Picked"
    SHORT = "short", "Short (refunded)"
    SUBSTITUTED = "substituted", "Replaced by a substitute"
    CANCELLED = "cancelled", "Cancelled"


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    store_product = models.ForeignKey(
        "inventory.StoreProduct", on_delete=models.PROTECT, related_name="+"
    )
    sku = models.CharField(max_length=64)
    name = models.CharField(max_length=160)
    sale_unit = models.CharField(max_length=8)
    quantity = models.DecimalField(**QUANTITY, help_text="Ordered (kg when weighed).")
    unit_price = models.DecimalField(**MONEY, help_text="Charged, tax included.")
    line_total = models.DecimalField(**MONEY)
    tax_rate = models.DecimalField(max_digits=5, decimal_places=4)
    tax_amount = models.DecimalField(**MONEY)
    weight_tolerance = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.100"),
        help_text="Weighed lines: how far the picked weight may differ.",
    )
    substitution = models.CharField(
        max_length=8,
        choices=SubstitutionPreference.choices,
        default=SubstitutionPreference.ALLOW,
    )
    substitute_for = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="substitutes",
    )
    reservation = models.OneToOneField(
        "inventory.Reservation",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="order_line",
    )
    state = models.CharField(
        max_length=16, choices=OrderLineState.choices, default=OrderLineState.OPEN
    )
    repriced_from = models.DecimalField(
        **MONEY,
        null=True,
        blank=True,
        help_text="In store: the scanned price when the hold had lapsed.",
    )

    class Meta:
        ordering = ("pk",)
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="order_line_quantity_positive"
            ),
            models.CheckConstraint(
                condition=Q(line_total__gte=0) & Q(unit_price__gte=0),
                name="order_line_money_non_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{quantity(self.quantity, self.sale_unit)} x {self.sku}"


class OrderEvent(models.Model):
    """The order's timeline: every state change with its time and actor."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    from_state = models.CharField(max_length=20, blank=True)
    to_state = models.CharField(max_length=20)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    note = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("created_at", "pk")

    def __str__(self) -> str:
        # An entry that changed no state (a refund, a note): never "paid -> paid".
        if self.from_state != self.to_state:
            return f"{self.from_state or 'new'} \u2192 {self.to_state}"
        return f"{self.note or 'note'} (stays {self.to_state})"


class OrderSequence(models.Model):
    """The last order number given out per store and local day."""

    store = models.ForeignKey("inventory.Store", on_delete=models.CASCADE)
    day = models.DateField()
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["store", "day"], name="order_sequence_per_day"
            )
        ]

    def __str__(self) -> str:
        return f"{self.store_id} {self.day}: {self.last}"


class PaymentPurpose(models.TextChoices):
    ORDER = "order", "Order"
    TOP_UP = "top_up", "Wallet top-up"


class PaymentState(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    # Money that arrived for an order already paid another way: refunded in full.
    DUPLICATE = "duplicate", "Paid twice (refunded)"


class Payment(TimeStampedModel):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="payments"
    )
    order = models.ForeignKey(
        Order, on_delete=models.PROTECT, null=True, blank=True, related_name="payments"
    )
    purpose = models.CharField(max_length=8, choices=PaymentPurpose.choices)
    method = models.CharField(max_length=32, help_text="wallet, or a provider's name")
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3)
    state = models.CharField(
        max_length=16, choices=PaymentState.choices, default=PaymentState.PENDING
    )
    provider_reference = models.CharField(max_length=64, unique=True)
    client_reference = models.CharField(
        max_length=64,
        blank=True,
        help_text="A top-up's reference, once per member: a retry whose "
        "Idempotency-Key record was lost finds the first top-up by it.",
    )
    succeeded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gt=0), name="payment_amount_positive"
            ),
            models.UniqueConstraint(
                fields=["member", "client_reference"],
                condition=~Q(client_reference=""),
                name="payment_client_reference_once_per_member",
            ),
            models.UniqueConstraint(
                fields=["order"],
                condition=Q(state="succeeded", purpose="order"),
                name="order_paid_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.amount} {self.state} ({self.provider_reference})"


class RefundState(models.TextChoices):
    PENDING = "pending", "Pending (to pay)"
    SUBMITTED = "submitted", "Submitted to the provider"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed (retried by the sweep)"
    # Failed every attempt: shown to the store's managers, retried only by them.
    NEEDS_ATTENTION = "needs_attention", "Needs attention (retries used up)"


class Refund(TimeStampedModel):
    """A refund to the method that paid; a pending row is the outbox a task pays."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="refunds")
    payment = models.ForeignKey(
        Payment, on_delete=models.PROTECT, related_name="refunds"
    )
    line = models.ForeignKey(
        OrderLine,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="refunds",
    )
    amount = models.DecimalField(**MONEY)
    reason = models.CharField(max_length=255)
    state = models.CharField(
        max_length=16, choices=RefundState.choices, default=RefundState.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the sweep next sends (or, submitted, sends again) this refund.",
    )
    last_error = models.CharField(max_length=255, blank=True)
    request_id = models.CharField(
        max_length=64,
        blank=True,
        help_text="The request that asked for it, once per order: a retry with "
        "the same id returns this refund.",
    )
    provider_key = models.CharField(
        max_length=64,
        blank=True,
        help_text="The idempotency key of the request to the provider: kept while "
        "an attempt's outcome is unknown, renewed after a definite failure.",
    )
    provider_refund_id = models.CharField(max_length=64, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    succeeded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gt=0), name="refund_amount_positive"
            ),
            models.UniqueConstraint(
                fields=["order", "request_id"],
                condition=~Q(request_id=""),
                name="refund_request_once_per_order",
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(state__in=["pending", "failed", "submitted"]),
                name="refund_due_idx",
            ),
            models.Index(
                fields=["created_at"],
                condition=Q(state="needs_attention"),
                name="refund_needs_attention_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"refund {self.amount} on {self.order_id} ({self.state})"


class WebhookEvent(models.Model):
    """A provider's notification, kept once: the unique event id deduplicates."""

    provider = models.CharField(max_length=32)
    event_id = models.CharField(max_length=128)
    event_type = models.CharField(max_length=64)
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "event_id"], name="webhook_event_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.event_type} {self.event_id}"


class IdempotencyKey(models.Model):
    """The answer to a POST, replayed for retries with the same key.

    A row exists only once its request has committed: it is written in the same
    transaction as the request's effect, so a commit carries its answer and a
    rollback (an error, a process that died, a connection cut) leaves neither.
    A request still running holds a transaction-scoped lock on its key instead
    (``orders.idempotency``).
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField()
    response_body = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "key"], name="idempotency_key_per_user"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key} ({self.response_status})"
