"""Reads that several callers need: stores, store products, the scan read."""

import math
from decimal import Decimal

from django.db.models import (
    DecimalField,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce

from inventory.errors import InvalidScanCode, ProductNotFound, StoreNotFound
from inventory.geo import distance_km_decimal
from inventory.models import (
    QUANTITY,
    Reservation,
    ReservationState,
    StaffRole,
    StockLot,
    StockMovement,
    Store,
    StoreProduct,
    StoreStaff,
)
from inventory.qr import parse_scan_code

QUANTITY_FIELD = DecimalField(**QUANTITY)


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


def _per_store_product_sum(queryset: QuerySet, field: str) -> Coalesce:
    """``SUM(field)`` of ``queryset``'s rows of the outer store product, 0 if none."""
    total = (
        queryset.filter(store_product=OuterRef("pk"))
        .order_by()
        .values("store_product")
        .annotate(total=Sum(field))
        .values("total")
    )
    return Coalesce(Subquery(total), Value(Decimal(0)), output_field=QUANTITY_FIELD)


def store_products_with_stock_totals(
    queryset: QuerySet[StoreProduct] | None = None,
) -> QuerySet[StoreProduct]:
    """Store products annotated with what their counts should be, in one query.

    ``ledger_on_hand`` and ``ledger_reserved`` sum the stock ledger's deltas;
    ``held_reserved`` sums the quantities of the reservations still held. Each is
    a correlated subquery over the ledger's (store product, created at) index and
    the reservations' (store product, state) index, so a store's products are
    checked in one statement, which also reads the counts and the sums from one
    snapshot: a sale committing meanwhile never shows as drift.
    """
    queryset = StoreProduct.objects.all() if queryset is None else queryset
    return queryset.annotate(
        ledger_on_hand=_per_store_product_sum(
            StockMovement.objects.all(), "on_hand_delta"
        ),
        ledger_reserved=_per_store_product_sum(
            StockMovement.objects.all(), "reserved_delta"
        ),
        held_reserved=_per_store_product_sum(
            Reservation.objects.filter(state=ReservationState.HELD), "quantity"
        ),
    )


def stock_totals_from_ledger(store_product: StoreProduct) -> tuple[Decimal, Decimal]:
    """On hand and reserved as the ledger sums them (drift checks, tests)."""
    return (
        store_products_with_stock_totals()
        .filter(pk=store_product.pk)
        .values_list("ledger_on_hand", "ledger_reserved")
        .get()
    )


def store_products_drifting(*, store: Store) -> QuerySet[StoreProduct]:
    """The store's products whose counts disagree with the ledger or the holds.

    On hand must equal the ledger's on hand; reserved must equal both the
    ledger's reserved and the sum of the held reservations. One query.
    """
    return (
        store_products_with_stock_totals(StoreProduct.objects.filter(store=store))
        .filter(
            ~Q(on_hand=F("ledger_on_hand"))
            | ~Q(reserved=F("ledger_reserved"))
            | ~Q(reserved=F("held_reserved"))
        )
        .select_related("product")
        .order_by("pk")
    )


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
