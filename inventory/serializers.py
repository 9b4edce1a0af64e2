from decimal import Decimal, InvalidOperation

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from inventory.models import Store, StoreProduct


class CoordinateField(serializers.DecimalField):
    """Latitude or longitude in degrees, rounded to 6 places (about 10 cm).

    Phones send more digits than that; rounding beats refusing them. A number
    too large to round (``1e400``) is refused like any other bad number.
    """

    def __init__(self, *, limit: int, **kwargs) -> None:
        super().__init__(
            max_digits=9,
            decimal_places=6,
            min_value=Decimal(-limit),
            max_value=Decimal(limit),
            **kwargs,
        )

    def validate_precision(self, value: Decimal) -> Decimal:
        try:
            rounded = value.quantize(Decimal("0.000001"))
        except InvalidOperation:
            self.fail("max_digits", max_digits=self.max_digits)
        return super().validate_precision(rounded)


class LocationQuery(serializers.Serializer):
    lat = CoordinateField(limit=90)
    lng = CoordinateField(limit=180)


class StoreSerializer(serializers.ModelSerializer):
    distance_km = serializers.DecimalField(
        max_digits=8,
        decimal_places=3,
        read_only=True,
        allow_null=True,
        default=None,
        help_text="Only when the list was asked for a location.",
    )

    class Meta:
        model = Store
        fields = (
            "code",
            "name",
            "address",
            "latitude",
            "longitude",
            "delivery_radius_km",
            "delivery_promise_minutes",
            "time_zone",
            "currency",
            "opens_at",
            "closes_at",
            "is_24h",
            "distance_km",
        )


class FreshnessSerializer(serializers.Serializer):
    shelf_life_days = serializers.IntegerField(allow_null=True)
    is_daily_fresh = serializers.BooleanField()
    oldest_best_before = serializers.DateField(allow_null=True)


class ScanResultSerializer(serializers.Serializer):
    """What a shopper sees after scanning a shelf label."""

    store = serializers.CharField(source="store.code")
    sku = serializers.CharField(source="product.sku")
    name = serializers.CharField(source="product.name")
    category = serializers.CharField(source="product.category.name")
    sale_unit = serializers.CharField(source="product.sale_unit")
    price = serializers.DecimalField(
        source="shelf_price", max_digits=12, decimal_places=2
    )
    list_price = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.CharField(source="store.currency")
    in_stock = serializers.SerializerMethodField()
    available = serializers.SerializerMethodField()
    origin = serializers.CharField(source="product.origin")
    freshness = serializers.SerializerMethodField()
    shelf_location = serializers.CharField()

    def get_in_stock(self, obj: StoreProduct) -> bool:
        return obj.available_in_store > 0

    def get_available(self, obj: StoreProduct) -> str:
        return str(obj.available_in_store)

    @extend_schema_field(FreshnessSerializer)
    def get_freshness(self, obj: StoreProduct) -> dict:
        lot = self.context.get("oldest_lot")
        return {
            "shelf_life_days": obj.product.shelf_life_days,
            "is_daily_fresh": obj.product.is_daily_fresh,
            "oldest_best_before": lot.best_before if lot else None,
        }


class ErrorSerializer(serializers.Serializer):
    """The one error shape of the API."""

    error = serializers.CharField()
    message = serializers.CharField()
    extra = serializers.DictField()
