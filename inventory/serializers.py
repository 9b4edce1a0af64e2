from decimal import Decimal, InvalidOperation

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from inventory.models import Store
from inventory.selectors import ScanRead


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


# What the schema shows of a coordinate (a string, as DRF writes a decimal): the
# range in a pattern, since ``minimum`` does not apply to strings.
LATITUDE_PATTERN = r"^-?(90(\.0*)?|[1-8]?[0-9](\.[0-9]*)?)$"
LONGITUDE_PATTERN = r"^-?(180(\.0*)?|(1[0-7][0-9]|[1-9]?[0-9])(\.[0-9]*)?)$"


@extend_schema_field(
    {
        "type": "string",
        "format": "decimal",
        "pattern": LATITUDE_PATTERN,
        "description": "Degrees, -90 to 90 (rounded to 6 places).",
    }
)
class LatitudeField(CoordinateField):
    def __init__(self, **kwargs) -> None:
        super().__init__(limit=90, **kwargs)


@extend_schema_field(
    {
        "type": "string",
        "format": "decimal",
        "pattern": LONGITUDE_PATTERN,
        "description": "Degrees, -180 to 180 (rounded to 6 places).",
    }
)
class LongitudeField(CoordinateField):
    def __init__(self, **kwargs) -> None:
        super().__init__(limit=180, **kwargs)


class LocationQuery(serializers.Serializer):
    lat = LatitudeField()
    lng = LongitudeField()


@extend_schema_field(
    {
        "type": "string",
        "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]$",
        "example": "07:00:00",
        "description": "A wall-clock time in the store's time zone (no offset).",
    }
)
class LocalTimeField(serializers.TimeField):
    """A store's opening hour: local, so it carries no UTC offset, and OpenAPI's
    ``format: time`` (RFC 3339, offset required) would be a lie."""


class StoreSerializer(serializers.ModelSerializer):
    opens_at = LocalTimeField(read_only=True)
    closes_at = LocalTimeField(read_only=True)
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
    """What a shopper sees after scanning a shelf label.

    It documents the answer (the API schema); ``scan_result`` builds it, as a
    plain dict, because the scan is the busiest read of the API. A test keeps
    the two the same, field by field.
    """

    store = serializers.CharField(source="store.code")
    sku = serializers.CharField(source="product.sku")
    name = serializers.CharField(source="product.name")
    name_local = serializers.CharField(
        source="product.name_local",
        help_text="The name in the store's language (Simplified Chinese in "
        "Shanghai); empty when the product has none.",
    )
    category = serializers.CharField(source="product.category.name")
    sale_unit = serializers.CharField(source="product.sale_unit")
    price = serializers.DecimalField(
        source="shelf_price", max_digits=12, decimal_places=2
    )
    list_price = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.CharField(source="store.currency")
    in_stock = serializers.BooleanField()
    available = serializers.DecimalField(max_digits=12, decimal_places=3)
    origin = serializers.CharField(source="product.origin")
    freshness = FreshnessSerializer()
    shelf_location = serializers.CharField()


def scan_result(read: ScanRead) -> dict:
    """The scan answer, as ``ScanResultSerializer`` documents it.

    Amounts are strings with the field's places, as DRF writes a DecimalField.
    """
    best_before = read.oldest_best_before
    return {
        "store": read.store_code,
        "sku": read.sku,
        "name": read.name,
        "name_local": read.name_local,
        "category": read.category,
        "sale_unit": read.sale_unit,
        "price": f"{read.shelf_price:.2f}",
        "list_price": f"{read.list_price:.2f}",
        "currency": read.currency,
        "in_stock": read.available > 0,
        "available": f"{read.available:.3f}",
        "origin": read.origin,
        "freshness": {
            "shelf_life_days": read.shelf_life_days,
            "is_daily_fresh": read.is_daily_fresh,
            "oldest_best_before": best_before.isoformat() if best_before else None,
        },
        "shelf_location": read.shelf_location,
    }
