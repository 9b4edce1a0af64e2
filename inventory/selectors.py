"""Reads that several callers need: stores, store products, the scan read."""

import math
from decimal import Decimal

from django.db.models import QuerySet, Sum

from inventory.errors import InvalidScanCode, ProductNotFound, StoreNotFound
from inventory.geo import distance_km_decimal
from inventory.models import StaffRole, StockLot, Store, StoreProduct, StoreStaff
from inventory.qr import parse_scan_code


def store_get(*, code: str) -> Store:
    try:
        # No code holds a NUL, and PostgreSQL refuses one in a parameter.
        if "\x00" in code:
            raise Store.DoesNotExist
        return Store.objects.get(code=code.upper(), is_active=True)
    except Store.DoesNotExist:
        raise StoreNotFound(
            f"No store with code {code!r}.", {"field": "store_code", "value": code}
        ) from None


def store_product_get(*, store: Store, sku: str) -> StoreProduct:
    try:
        if "\x00" in sku:
            raise StoreProduct.DoesNotExist
        return StoreProduct.objects.select_related("product__category", "store").get(
            store=store, product__sku=sku, is_active=True
        )
    except StoreProduct.DoesNotExist:
        raise ProductNotFound(
            f"{store.code} does not sell {sku!r}.", {"field": "sku", "value": sku}
        ) from None


def store_product_for_scan(*, store: Store, code: str) -> StoreProduct:
    """The store product a shopper scanned; a code of another store is refused."""
    code_store, sku = parse_scan_code(code)
    if code_store is not None and code_store != store.code:
        raise InvalidScanCode(
            f"This label belongs to store {code_store}, not {store.code}.",
            {"field": "code", "label_store": code_store},
        )
    return store_product_get(store=store, sku=sku)


def oldest_lot(store_product: StoreProduct) -> StockLot | None:
    return (
        StockLot.objects.filter(store_product=store_product, quantity_left__gt=0)
        .order_by("best_before", "pk")
        .first()
    )


def stores_active() -> QuerySet[Store]:
    return Store.objects.filter(is_active=True)


def store_ids_managed_by(*, user) -> set[int]:
    """The stores where ``user`` holds an active manager role (empty for others).

    Superusers are not special here: callers decide what "everything" means.
    """
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return set()
    return set(
        StoreStaff.objects.filter(
            user=user, role=StaffRole.MANAGER, is_active=True
        ).values_list("store_id", flat=True)
    )


def stock_totals_from_ledger(store_product: StoreProduct) -> tuple[Decimal, Decimal]:
    """On hand and reserved as the ledger sums them (drift checks, tests)."""
    sums = store_product.movements.aggregate(
        on_hand=Sum("on_hand_delta"), reserved=Sum("reserved_delta")
    )
    return sums["on_hand"] or Decimal(0), sums["reserved"] or Decimal(0)


def stores_covering(*, latitude: Decimal, longitude: Decimal) -> list[Store]:
    """Open stores whose delivery radius covers the point, nearest first.

    Each store carries ``distance_km``. A chain has hundreds of stores, not
    millions: a bounding-box prefilter in SQL and the exact distance in Python.
    """
    lat, lng = float(latitude), float(longitude)
    # 1 degree of latitude is ~111 km; the widest radius bounds the box.
    widest = max(
        (
            float(r)
            for r in stores_active().values_list("delivery_radius_km", flat=True)
        ),
        default=0.0,
    )
    lat_pad = widest / 111.0 + 0.01
    lng_pad = widest / max(111.0 * math.cos(math.radians(lat)), 1.0) + 0.01
    nearby = stores_active().filter(
        latitude__gte=lat - lat_pad,
        latitude__lte=lat + lat_pad,
        longitude__gte=lng - lng_pad,
        longitude__lte=lng + lng_pad,
    )
    covering = []
    for store in nearby:
        store.distance_km = distance_km_decimal(
            store.latitude, store.longitude, lat, lng
        )
        if store.distance_km <= store.delivery_radius_km:
            covering.append(store)
    return sorted(covering, key=lambda store: (store.distance_km, store.code))
