"""The app's catalogue of one store: what can be ordered online, at the price now.

Online availability is ``on_hand - reserved - online_buffer`` (never below zero),
computed in the query so that the filter and the ordering can use it.
"""

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import DecimalField, ExpressionWrapper, F, Q, QuerySet, Value
from django.db.models.functions import Greatest
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, serializers
from rest_framework.permissions import AllowAny

from hema.schema import error_response
from inventory.models import StoreProduct
from inventory.selectors import store_get

QUANTITY = DecimalField(max_digits=12, decimal_places=3)


def catalogue_for(*, store_code: str) -> QuerySet[StoreProduct]:
    store = store_get(code=store_code)
    available = ExpressionWrapper(
        Greatest(F("on_hand") - F("reserved") - F("online_buffer"), Value(0)),
        output_field=QUANTITY,
    )
    return (
        StoreProduct.objects.filter(store=store, is_active=True)
        .select_related("product__category", "store")
        .annotate(online_available=available)
        .order_by("product__category__name", "product__name", "pk")
    )


class StrictBooleanField(forms.NullBooleanField):
    """``true``/``false`` (or ``1``/``0``); empty means "either". Anything else is
    refused: django-filter's own boolean quietly ignores ``?in_stock=maybe``, so
    the app would list what is out of stock as if it had asked for nothing."""

    TRUE = frozenset({"true", "1"})
    FALSE = frozenset({"false", "0"})

    def to_python(self, value) -> bool | None:
        if value is None or value == "":
            return None
        text = str(value).strip().lower()
        if text in self.TRUE:
            return True
        if text in self.FALSE:
            return False
        raise ValidationError("Use true or false.", code="invalid")


class StrictBooleanFilter(filters.BooleanFilter):
    field_class = StrictBooleanField

    def __init__(self, *args, **kwargs) -> None:
        # The raw text reaches the field (django-filter's BooleanWidget would
        # turn every unknown value into "either" before the field sees it).
        kwargs.setdefault("widget", forms.TextInput)
        super().__init__(*args, **kwargs)


class CatalogueFilter(filters.FilterSet):
    search = filters.CharFilter(method="filter_search", max_length=100)
    category = filters.CharFilter(field_name="product__category__slug")
    in_stock = StrictBooleanFilter(method="filter_in_stock")
    daily_fresh = StrictBooleanFilter(field_name="product__is_daily_fresh")

    class Meta:
        model = StoreProduct
        fields = ("search", "category", "in_stock", "daily_fresh")

    def filter_search(self, queryset, name, value):
        return queryset.filter(
            Q(product__name__icontains=value)
            | Q(product__name_local__icontains=value)
            | Q(product__sku__iexact=value)
        )

    def filter_in_stock(self, queryset, name, value):
        if value:
            return queryset.filter(online_available__gt=0)
        return queryset.filter(online_available__lte=0)


class CatalogueItemSerializer(serializers.ModelSerializer):
    sku = serializers.CharField(source="product.sku")
    name = serializers.CharField(source="product.name")
    name_local = serializers.CharField(
        source="product.name_local",
        help_text="The name in the store's language; empty when it has none.",
    )
    category = serializers.CharField(source="product.category.slug")
    sale_unit = serializers.CharField(source="product.sale_unit")
    origin = serializers.CharField(source="product.origin")
    is_daily_fresh = serializers.BooleanField(source="product.is_daily_fresh")
    price = serializers.DecimalField(
        source="shelf_price", max_digits=12, decimal_places=2
    )
    currency = serializers.CharField(source="store.currency")
    available_online = serializers.DecimalField(
        source="online_available", max_digits=12, decimal_places=3
    )

    class Meta:
        model = StoreProduct
        fields = (
            "sku",
            "name",
            "name_local",
            "category",
            "sale_unit",
            "origin",
            "is_daily_fresh",
            "price",
            "list_price",
            "currency",
            "available_online",
        )


@extend_schema_view(
    get=extend_schema(
        summary="Browse a store's catalogue with online availability",
        description="The store's products for the app, with online availability.",
        responses={
            200: CatalogueItemSerializer(many=True),
            400: error_response(
                "A filter or page parameter that cannot be read "
                "(`invalid_input`, `extra.field` names it)."
            ),
            404: error_response("Unknown or closed store (`store_not_found`)."),
        },
    )
)
class CatalogueApi(generics.ListAPIView):
    permission_classes = (AllowAny,)
    serializer_class = CatalogueItemSerializer
    filterset_class = CatalogueFilter

    def get_queryset(self) -> QuerySet[StoreProduct]:
        if getattr(self, "swagger_fake_view", False):
            return StoreProduct.objects.none()
        return catalogue_for(store_code=self.kwargs["store_code"])
