"""Reads that several callers need: stores, store products, the scan read."""

from decimal import Decimal

from django.db.models import QuerySet, Sum

from inventory.errors import InvalidScanCode, ProductNotFound, StoreNotFound
from inventory.models import StockLot, Store, StoreProduct
from inventory.qr import parse_scan_code


def store_get(*, code: str) -> Store:
    try:
        return Store.objects.get(code=code.upper(), is_active=True)
    except Store.DoesNotExist:
        raise StoreNotFound(
            f"No store with code {code!r}.", {"field": "store_code", "value": code}
        ) from None


def store_product_get(*, store: Store, sku: str) -> StoreProduct:
    try:
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


def stock_totals_from_ledger(store_product: StoreProduct) -> tuple[Decimal, Decimal]:
    """On hand and reserved as the ledger sums them (drift checks, tests)."""
    sums = store_product.movements.aggregate(
        on_hand=Sum("on_hand_delta"), reserved=Sum("reserved_delta")
    )
    return sums["on_hand"] or Decimal(0), sums["reserved"] or Decimal(0)
