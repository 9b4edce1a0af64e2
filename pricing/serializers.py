from rest_framework import serializers

from inventory.models import StoreProduct
from pricing.models import PriceChangeKind


class ShelfPriceSerializer(serializers.Serializer):
    """One label's price: what the shelf, the scan and the app show now."""

    sku = serializers.CharField(source="product.sku")
    name = serializers.CharField(source="product.name")
    sale_unit = serializers.CharField(source="product.sale_unit")
    price = serializers.DecimalField(
        source="shelf_price", max_digits=12, decimal_places=2
    )
    list_price = serializers.DecimalField(max_digits=12, decimal_places=2)
    is_markdown = serializers.SerializerMethodField()
    changed_at = serializers.DateTimeField(source="last_changed_at", allow_null=True)

    def get_is_markdown(self, obj: StoreProduct) -> bool:
        return obj.last_change_kind == PriceChangeKind.MARKDOWN


class PriceFeedSerializer(serializers.Serializer):
    store = serializers.CharField()
    currency = serializers.CharField()
    as_of = serializers.DateTimeField(
        help_text="Send this as `since` on the next poll."
    )
    since = serializers.DateTimeField(allow_null=True)
    count = serializers.IntegerField()
    next = serializers.CharField(allow_null=True)
    results = ShelfPriceSerializer(many=True)
