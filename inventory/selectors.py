"""Reads that several callers need: stores, store products, the scan read."""

import datetime as dt
import functools
import math
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection
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
from django.db.models.functions import Coalesce, Round

from inventory.errors import InvalidScanCode, ProductNotFound, StoreNotFound
from inventory.geo import distance_km_decimal
from inventory.models import (
    QUANTITY,
    Category,
    Product,
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
    label_store, sku = parse_scan_code(code)
    _check_label_store(label_store=label_store, store_code=store.code)
    return store_product_get(store=store, sku=sku)


@dataclass(frozen=True)
class ScanRead:
    """One scanned store product as the shopper sees it (``scan_read``)."""

    store_code: str
    currency: str
    sku: str
    name: str
    name_local: str
    category: str
    sale_unit: str
    origin: str
    shelf_life_days: int | None
    is_daily_fresh: bool
    shelf_price: Decimal
    list_price: Decimal
    on_hand: Decimal
    reserved: Decimal
    shelf_location: str
    oldest_best_before: dt.date | None  # the oldest lot still on the shelf

    @property
    def available(self) -> Decimal:
        """As ``StoreProduct.available_in_store``: what is not held online."""
        return self.on_hand - self.reserved


@functools.cache
def _scan_statement() -> str:
    tables = {
        "sp": StoreProduct._meta.db_table,
        "store": Store._meta.db_table,
        "product": Product._meta.db_table,
        "category": Category._meta.db_table,
        "lot": StockLot._meta.db_table,
    }
    quoted = {key: connection.ops.quote_name(name) for key, name in tables.items()}
    # Only table names from the models are formatted in; the values are bound.
    return """
        SELECT s.code, s.currency, p.sku, p.name, p.name_local, c.name, p.sale_unit,
               p.origin, p.shelf_life_days, p.is_daily_fresh, sp.shelf_price,
               sp.list_price, sp.on_hand, sp.reserved, sp.shelf_location,
               (SELECT l.best_before FROM {lot} l
                 WHERE l.store_product_id = sp.id AND l.quantity_left > 0
                 ORDER BY l.best_before, l.id LIMIT 1)
          FROM {sp} sp
          JOIN {store} s ON s.id = sp.store_id
          JOIN {product} p ON p.id = sp.product_id
          JOIN {category} c ON c.id = p.category_id
         WHERE s.code = %s AND s.is_active AND p.sku = %s AND sp.is_active
    """.format(**quoted)  # noqa: S608


_CENT = Decimal("0.01")
_GRAM = Decimal("0.001")


def _decimal(value: Decimal | float, places: Decimal) -> Decimal:
    # PostgreSQL answers Decimal; SQLite (the bare-machine default) a float.
    return Decimal(str(value)).quantize(places)


def _scan_read_from_row(row: tuple) -> ScanRead:
    *text, life, fresh, shelf, listed, on_hand, reserved, location, oldest = row
    if isinstance(oldest, str):  # SQLite answers dates as text
        oldest = dt.date.fromisoformat(oldest)
    return ScanRead(
        *text,
        shelf_life_days=life,
        is_daily_fresh=bool(fresh),
        shelf_price=_decimal(shelf, _CENT),
        list_price=_decimal(listed, _CENT),
        on_hand=_decimal(on_hand, _GRAM),
        reserved=_decimal(reserved, _GRAM),
        shelf_location=location,
        oldest_best_before=oldest,
    )


def _check_label_store(*, label_store: str | None, store_code: str) -> None:
    if label_store is not None and label_store != store_code:
        raise InvalidScanCode(
            f"This label belongs to store {label_store}, not {store_code}.",
            {"field": "code", "label_store": label_store},
        )


def scan_read(*, store_code: str, code: str) -> ScanRead:
    """What a shopper scanned, in one query: the store product with its store,
    product and category, and the best-before date of the oldest lot on the shelf.

    The scan is the busiest read of the API, and building its queries with the
    ORM cost more than running them (6.3 ms of CPU per scan for three queries,
    1.7 ms now): the statement is written once, in SQL. Price and stock
    are read from the store product's row every time, never cached. The refusals
    are those of ``store_get`` and ``store_product_for_scan``, in their order: an
    unknown or closed store first, then a malformed code or a label of another
    store, then a product the store does not sell. A refusal costs a second
    query; an answer never does.
    """
    try:
        label_store, sku = parse_scan_code(code)
    except InvalidScanCode:
        store_get(code=store_code)  # an unknown store is named first
        raise
    row = None
    if "\x00" not in store_code:  # PostgreSQL refuses a NUL in a parameter
        with connection.cursor() as cursor:
            cursor.execute(_scan_statement(), [store_code.upper(), sku])
            row = cursor.fetchone()
    if row is None:
        store = store_get(code=store_code)
        _check_label_store(label_store=label_store, store_code=store.code)
        raise ProductNotFound(
            f"{store.code} does not sell {sku!r}.", {"field": "sku", "value": sku}
        )
    read = _scan_read_from_row(row)
    _check_label_store(label_store=label_store, store_code=read.store_code)
    return read


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
    # Rounded to the quantities' three places: SQLite sums decimals as binary
    # floats (0.3 - 0.1 - 0.2 is -2.8e-17 there), which would read as drift.
    # PostgreSQL's numeric sum is exact and the rounding changes nothing.
    return Round(
        Coalesce(Subquery(total), Value(Decimal(0)), output_field=QUANTITY_FIELD),
        3,
        output_field=QUANTITY_FIELD,
    )


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
