"""Stock today: products sold out, products whose stock will not cover their
forecast for the rest of the day, recounts asked for, write-offs (waste) and
the markdowns running.

"Available" is on hand less what online orders hold (``reserved``), as the
shop sells it. The rest of the day's demand is the day's forecast
(``DemandForecast``) less what the ledger says sold so far today (picks and
till sales), never below zero.
"""

from __future__ import annotations

from decimal import Decimal

from django.db.models import (
    Count,
    DecimalField,
    ExpressionWrapper,
    F,
    Max,
    OuterRef,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, Greatest

from delivery.models import RecountRequest
from hema.dashboard.window import DayWindow
from inventory.forecast.models import DemandForecast
from inventory.models import MovementKind, StockMovement, StoreProduct
from pricing.models import MarkdownStep

LIST_LIMIT = 10
QTY = DecimalField(max_digits=14, decimal_places=3)
MONEY = DecimalField(max_digits=14, decimal_places=2)
ZERO = Decimal("0.000")
SOLD = (MovementKind.PICK, MovementKind.SALE_IN_STORE)


def _available():
    return ExpressionWrapper(F("on_hand") - F("reserved"), output_field=QTY)


def sold_out(*, window: DayWindow) -> dict:
    """Active store products with nothing left to sell."""
    rows = list(
        StoreProduct.objects.filter(store=window.store, is_active=True)
        .annotate(available=_available())
        .filter(available__lte=0)
        .order_by("product__sku")
        .values("pk", "product__sku", "product__name")
    )
    return {"count": len(rows), "items": rows[:LIST_LIMIT]}


def below_forecast(*, window: DayWindow) -> dict:
    """Store products whose available stock is less than the demand the
    forecast still expects today, largest gap first."""
    sold_today = (
        StockMovement.objects.filter(
            store_product=OuterRef("store_product"),
            kind__in=SOLD,
            created_at__gte=window.start,
            created_at__lte=window.now,
        )
        .order_by()
        .values("store_product")
        .annotate(sold=-Sum("on_hand_delta"))
        .values("sold")
    )
    rows = list(
        DemandForecast.objects.filter(
            store_product__store=window.store,
            store_product__is_active=True,
            day=window.day,
        )
        .annotate(
            sold=Coalesce(Subquery(sold_today, output_field=QTY), Value(ZERO)),
            available=ExpressionWrapper(
                F("store_product__on_hand") - F("store_product__reserved"),
                output_field=QTY,
            ),
        )
        .annotate(
            still_expected=Greatest(
                ExpressionWrapper(F("quantity") - F("sold"), output_field=QTY),
                Value(ZERO),
            )
        )
        .annotate(
            gap=ExpressionWrapper(
                F("still_expected") - F("available"), output_field=QTY
            )
        )
        .filter(gap__gt=0)
        .order_by("-gap", "store_product_id")
        .values(
            "store_product_id",
            "store_product__product__sku",
            "store_product__product__name",
            "quantity",
            "sold",
            "still_expected",
            "available",
            "gap",
        )
    )
    items = [
        {
            "pk": row["store_product_id"],
            "sku": row["store_product__product__sku"],
            "name": row["store_product__product__name"],
            "forecast": row["quantity"],
            "sold": row["sold"],
            "still_expected": row["still_expected"],
            "available": row["available"],
            "gap": row["gap"],
        }
        for row in rows
    ]
    return {"count": len(items), "items": items[:LIST_LIMIT]}


def recounts(*, window: DayWindow) -> dict:
    """Shelves a picker found short, still to be counted."""
    rows = list(
        RecountRequest.objects.filter(store=window.store, resolved_at__isnull=True)
        .order_by("-created_at", "-pk")
        .values(
            "pk",
            "store_product_id",
            "store_product__product__sku",
            "store_product__product__name",
            "reason",
            "created_at",
        )
    )
    items = [
        {
            "pk": row["pk"],
            "store_product_id": row["store_product_id"],
            "sku": row["store_product__product__sku"],
            "name": row["store_product__product__name"],
            "reason": row["reason"],
            "asked_at": window.local(row["created_at"]),
        }
        for row in rows
    ]
    return {"count": len(items), "items": items[:LIST_LIMIT]}


def write_offs(*, window: DayWindow) -> dict:
    """Today's write-offs (waste): how many, the quantity and its cost."""
    totals = StockMovement.objects.filter(
        store_product__store=window.store,
        kind=MovementKind.WRITE_OFF,
        created_at__gte=window.start,
        created_at__lte=window.now,
    ).aggregate(
        count=Count("pk"),
        quantity=Coalesce(-Sum("on_hand_delta"), Value(ZERO)),
        cost=Coalesce(
            -Sum(
                ExpressionWrapper(
                    F("on_hand_delta") * F("store_product__unit_cost"),
                    output_field=MONEY,
                )
            ),
            Value(Decimal("0.00")),
            output_field=MONEY,
        ),
    )
    return {
        "count": totals["count"],
        "quantity": totals["quantity"],
        "cost": totals["cost"].quantize(Decimal("0.01")),
    }


def markdowns(*, window: DayWindow) -> dict:
    """Daily-fresh products marked down today, with the depth in force."""
    rows = list(
        MarkdownStep.objects.filter(
            store=window.store, trading_day=window.day, decided_at__lte=window.now
        )
        .values(
            "store_product_id",
            "store_product__product__sku",
            "store_product__product__name",
        )
        .annotate(percent=Max("percent"))
        .order_by("-percent", "store_product_id")
    )
    items = [
        {
            "pk": row["store_product_id"],
            "sku": row["store_product__product__sku"],
            "name": row["store_product__product__name"],
            "percent": row["percent"],
        }
        for row in rows
    ]
    return {"count": len(items), "items": items[:LIST_LIMIT]}
