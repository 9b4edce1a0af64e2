"""Small input and output serializers of the orders API."""

from decimal import Decimal

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from delivery.selectors import delivery_tracking
from hema.serializers import StrictInputSerializer
from inventory.serializers import LatitudeField, LongitudeField
from orders.models import (
    Address,
    Cart,
    CartLine,
    Channel,
    FulfilmentMode,
    Order,
    OrderEvent,
    OrderLine,
    Payment,
    Refund,
    SubstitutionPreference,
    WalletEntry,
)

MONEY = {"max_digits": 12, "decimal_places": 2}

# What an amount in a request may look like, said in the schema: a string (DRF's
# DecimalField also reads a JSON number) of at least 0.01 with at most two
# decimals; refunds up to ten integer digits, top-ups up to 100000.
AMOUNT_PATTERN = r"^0*([1-9][0-9]{0,9}(\.[0-9]{0,2})?|\.(0[1-9]|[1-9][0-9]?))$"
TOP_UP_PATTERN = (
    r"^0*([1-9][0-9]{0,4}(\.[0-9]{0,2})?|100000(\.0{0,2})?|\.(0[1-9]|[1-9][0-9]?))$"
)
# A positive quantity with at most three decimals (kilograms to the gram).
QUANTITY_PATTERN = (
    r"^0*([1-9][0-9]{0,3}(\.[0-9]{0,3})?|\.(00[1-9]|0[1-9][0-9]?|[1-9][0-9]{0,2}))$"
)


def _amount_field(pattern: str, description: str) -> type[serializers.DecimalField]:
    """A DecimalField whose schema shows its bounds (a string has no minimum)."""

    @extend_schema_field(
        {
            "type": "string",
            "format": "decimal",
            "pattern": pattern,
            "description": description,
        }
    )
    class AmountField(serializers.DecimalField):
        pass

    return AmountField


RefundAmountField = _amount_field(AMOUNT_PATTERN, "At least 0.01, two decimals.")
TopUpAmountField = _amount_field(TOP_UP_PATTERN, "From 0.01 to 100000, two decimals.")


@extend_schema_field(
    {
        "type": "string",
        "pattern": QUANTITY_PATTERN,
        "maxLength": 32,
        "description": "More than zero and less than 10000, at most three "
        "decimals: pieces (whole numbers) or kilograms for weighed products.",
    }
)
class QuantityField(serializers.CharField):
    """A quantity as text; ``inventory.services.parse_quantity`` reads it."""


# --- Members ---------------------------------------------------------------------


@extend_schema_field(
    {
        "type": "string",
        "writeOnly": True,
        "minLength": 8,
        "maxLength": 128,
        "description": "At least 8 characters, not only digits, not a common "
        "password (else 400 `signup_refused` naming `password`).",
    }
)
class NewPasswordField(serializers.CharField):
    """Django's password validators judge it (``signup_refused``); the schema
    shows what it can of them."""


class SignUpInput(serializers.Serializer):
    email = serializers.EmailField(required=False, allow_blank=True)
    phone = serializers.CharField(required=False, allow_blank=True, max_length=20)
    password = NewPasswordField(write_only=True, max_length=128)
    full_name = serializers.CharField(required=False, allow_blank=True, max_length=150)


class LogInInput(serializers.Serializer):
    login = serializers.CharField(help_text="E-mail or phone number.", max_length=254)
    password = serializers.CharField(write_only=True, max_length=128)


class TokenOutput(serializers.Serializer):
    token = serializers.CharField()


class ProfileOutput(serializers.Serializer):
    email = serializers.EmailField(source="user.email", allow_null=True)
    phone = serializers.CharField(source="user.phone", allow_null=True)
    full_name = serializers.CharField(source="user.full_name")


class AddressSerializer(serializers.ModelSerializer):
    latitude = LatitudeField()
    longitude = LongitudeField()

    class Meta:
        model = Address
        fields = ("id", "label", "latitude", "longitude", "note")
        read_only_fields = ("id",)


# --- Wallet ----------------------------------------------------------------------


class WalletEntryOutput(serializers.ModelSerializer):
    class Meta:
        model = WalletEntry
        fields = ("kind", "amount", "reference", "created_at")


class WalletOutput(serializers.Serializer):
    balance = serializers.DecimalField(**MONEY)
    currency = serializers.CharField()
    entries = WalletEntryOutput(many=True)


class TopUpInput(serializers.Serializer):
    amount = TopUpAmountField(
        **MONEY, min_value=Decimal("0.01"), max_value=Decimal("100000")
    )
    payment_method = serializers.CharField(max_length=32)
    currency = serializers.CharField(
        min_length=3,
        max_length=3,
        required=False,
        help_text="The wallet's currency (the default); any other is refused.",
    )
    reference = serializers.CharField(
        max_length=64,
        required=False,
        help_text="Names this top-up once per member: the same reference again "
        "returns the first top-up. Default: derived from the Idempotency-Key.",
    )


class PaymentOutput(serializers.ModelSerializer):
    reference = serializers.CharField(source="client_reference")

    class Meta:
        model = Payment
        fields = (
            "uuid",
            "purpose",
            "method",
            "amount",
            "currency",
            "state",
            "provider_reference",
            "reference",
            "succeeded_at",
        )


# --- Carts ------------------------------------------------------------------------


class CartOpenInput(StrictInputSerializer):
    store = serializers.CharField(
        max_length=512,
        help_text="Store code, or the payload of the store's door QR code.",
    )
    channel = serializers.ChoiceField(choices=Channel.choices)


class CartLineInput(serializers.Serializer):
    code = serializers.CharField(
        required=False, allow_blank=True, max_length=512, help_text="In store: scanned"
    )
    sku = serializers.CharField(required=False, allow_blank=True, max_length=64)
    quantity = QuantityField(
        max_length=32, help_text="Pieces, or kilograms for weighed products."
    )
    substitution = serializers.ChoiceField(
        choices=SubstitutionPreference.choices, required=False
    )


class CartLineUpdateInput(serializers.Serializer):
    quantity = QuantityField(max_length=32, required=False)
    substitution = serializers.ChoiceField(
        choices=SubstitutionPreference.choices, required=False
    )


class CartLineOutput(serializers.ModelSerializer):
    sku = serializers.CharField(source="store_product.product.sku")
    name = serializers.CharField(source="store_product.product.name")
    sale_unit = serializers.CharField(source="store_product.product.sale_unit")
    price_now = serializers.DecimalField(source="store_product.shelf_price", **MONEY)
    price_hold_active = serializers.SerializerMethodField()
    price = serializers.SerializerMethodField()

    class Meta:
        model = CartLine
        fields = (
            "id",
            "sku",
            "name",
            "sale_unit",
            "quantity",
            "held_price",
            "price_held_until",
            "price_hold_active",
            "price_now",
            "price",
            "substitution",
        )

    def get_price_hold_active(self, line: CartLine) -> bool:
        return bool(line.price_held_until and timezone.now() <= line.price_held_until)

    @extend_schema_field(serializers.DecimalField(**MONEY))
    def get_price(self, line: CartLine) -> str:
        """What this line would be charged per unit if paid now."""
        if self.get_price_hold_active(line):
            return str(line.held_price)
        return str(line.store_product.shelf_price)


class CartOutput(serializers.ModelSerializer):
    store = serializers.CharField(source="store.code")
    lines = CartLineOutput(many=True)

    class Meta:
        model = Cart
        fields = ("uuid", "store", "channel", "state", "expires_at", "lines")


class CheckoutInput(serializers.Serializer):
    fulfilment_mode = serializers.ChoiceField(choices=FulfilmentMode.choices)
    address_id = serializers.IntegerField(required=False, allow_null=True)
    payment_method = serializers.CharField(max_length=32, default="wallet")
    delivery_quote = serializers.CharField(
        max_length=2048,
        required=False,
        allow_blank=True,
        help_text="A token from GET /stores/<code>/delivery-quote/ (express or a "
        "window offered there). Without it a delivery books the best the store "
        "can promise now.",
    )


# --- Orders -----------------------------------------------------------------------


class OrderLineOutput(serializers.ModelSerializer):
    substitute_for = serializers.PrimaryKeyRelatedField(
        read_only=True,
        allow_null=True,
        help_text="The line this one replaced after a shortage, else null.",
    )

    class Meta:
        model = OrderLine
        fields = (
            "id",
            "sku",
            "name",
            "sale_unit",
            "quantity",
            "unit_price",
            "line_total",
            "tax_rate",
            "tax_amount",
            "substitution",
            "substitute_for",
            "state",
            "repriced_from",
        )


class OrderEventOutput(serializers.ModelSerializer):
    class Meta:
        model = OrderEvent
        fields = ("from_state", "to_state", "note", "created_at")


class RefundOutput(serializers.ModelSerializer):
    class Meta:
        model = Refund
        fields = (
            "uuid",
            "amount",
            "reason",
            "state",
            "request_id",
            "created_at",
            "succeeded_at",
        )


class OrderSummaryOutput(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid")
    store = serializers.CharField(source="store.code")

    class Meta:
        model = Order
        fields = (
            "id",
            "number",
            "store",
            "channel",
            "fulfilment_mode",
            "state",
            "refund_status",
            "currency",
            "total",
            "refunded_total",
            "promised_by",
            "created_at",
        )


class RiderPositionOutput(serializers.Serializer):
    lat = serializers.CharField()
    lng = serializers.CharField()
    at = serializers.DateTimeField()


class DeliveryTrackingOutput(serializers.Serializer):
    state = serializers.CharField(help_text="The delivery's state at the store.")
    promised_by = serializers.DateTimeField()
    estimated_arrival = serializers.DateTimeField(
        help_text="The plan, later if the rider's position says so; once "
        "delivered, the actual time."
    )
    delivered_at = serializers.DateTimeField(allow_null=True)
    rider = RiderPositionOutput(
        allow_null=True, help_text="The rider's last position while out."
    )
    failure_reason = serializers.CharField(required=False)


class OrderOutput(OrderSummaryOutput):
    lines = OrderLineOutput(many=True)
    timeline = OrderEventOutput(source="events", many=True)
    refunds = RefundOutput(many=True)
    delivery = serializers.SerializerMethodField(
        help_text="Delivery tracking (null unless delivered by the store)."
    )

    @extend_schema_field(DeliveryTrackingOutput(allow_null=True))
    def get_delivery(self, order: Order) -> dict | None:
        if order.fulfilment_mode != "delivery" or order.paid_at is None:
            return None
        data = delivery_tracking(order_id=order.pk)
        return None if data is None else DeliveryTrackingOutput(data).data

    class Meta(OrderSummaryOutput.Meta):
        fields = (
            *OrderSummaryOutput.Meta.fields,
            "subtotal",
            "tax_total",
            "delivery_label",
            "delivery_distance_km",
            "payment_due_at",
            "paid_at",
            "lines",
            "timeline",
            "refunds",
            "delivery",
        )


class RepricedLineOutput(serializers.Serializer):
    sku = serializers.CharField()
    scanned_price = serializers.DecimalField(**MONEY)
    price = serializers.DecimalField(**MONEY)


class CheckoutOutput(serializers.Serializer):
    order = OrderOutput()
    payment = PaymentOutput()
    repriced = RepricedLineOutput(many=True)


class OrderPayInput(serializers.Serializer):
    payment_method = serializers.CharField(max_length=32, default="wallet")


REQUEST_ID_HELP = (
    "Names this request once per order: the same id again returns the first "
    "refund and changes nothing. Default: derived from the Idempotency-Key."
)


class OrderCancelInput(serializers.Serializer):
    reason = serializers.CharField(max_length=255, required=False, allow_blank=True)
    request_id = serializers.CharField(
        max_length=64, required=False, help_text=REQUEST_ID_HELP
    )


class OrderRefundInput(serializers.Serializer):
    amount = RefundAmountField(**MONEY, min_value=Decimal("0.01"))
    reason = serializers.CharField(max_length=255)
    request_id = serializers.CharField(
        max_length=64, required=False, help_text=REQUEST_ID_HELP
    )


class WebhookEventInput(serializers.Serializer):
    """A provider's event, as the schema documents it (the view reads the raw
    body, whose bytes the signature covers)."""

    id = serializers.CharField(help_text="The provider's event id (deduplicated).")
    type = serializers.CharField(
        help_text="`payment.succeeded`, `payment.failed`, `refund.succeeded` or "
        "`refund.failed`; other types are ignored."
    )
    data = serializers.DictField(
        help_text="`reference`: the payment's provider reference or the refund's "
        "uuid; `refund_id` on `refund.failed`."
    )


class WebhookOutput(serializers.Serializer):
    result = serializers.CharField()
