"""What moves prices: the weather now and the next hours, and the shelf
prices changed in the last hour with their reasons."""

from __future__ import annotations

import datetime as dt

from hema.dashboard.window import DayWindow
from inventory.weather import StoreWeather, WeatherCondition
from pricing.models import PriceChange, PriceChangeKind

NEXT_HOURS = 6
LAST_HOUR = dt.timedelta(hours=1)
LIST_LIMIT = 15


def weather(*, window: DayWindow) -> dict:
    """The hour now and the next ``NEXT_HOURS`` hours (observed where the row
    is an observation, else the forecast); ``now`` is None without a row."""
    hour = window.now.replace(minute=0, second=0, microsecond=0)
    rows = StoreWeather.objects.filter(
        store=window.store,
        hour__gte=hour,
        hour__lte=hour + dt.timedelta(hours=NEXT_HOURS),
    ).order_by("hour")
    hours = [
        {
            "hour": window.local(row.hour),
            "temperature": row.temperature,
            "precipitation": row.precipitation,
            "condition": WeatherCondition(row.condition).label,
            "observed": not row.is_forecast,
        }
        for row in rows
    ]
    now = hours[0] if hours and hours[0]["hour"] == window.local(hour) else None
    return {"now": now, "hours": hours}


def _reasons(value: list[str] | None) -> str:
    """``PriceChange.reasons`` is a list of strings, as the engine wrote them."""
    return "; ".join(str(item) for item in value or [])


def price_changes(*, window: DayWindow) -> dict:
    """Shelf prices changed in the last hour, newest first."""
    rows = list(
        PriceChange.objects.filter(
            store=window.store,
            changed_at__gt=window.now - LAST_HOUR,
            changed_at__lte=window.now,
        )
        .order_by("-changed_at", "-pk")
        .values(
            "store_product_id",
            "store_product__product__sku",
            "store_product__product__name",
            "kind",
            "old_price",
            "new_price",
            "reasons",
            "changed_at",
        )
    )
    items = [
        {
            "store_product_id": row["store_product_id"],
            "sku": row["store_product__product__sku"],
            "name": row["store_product__product__name"],
            "kind": PriceChangeKind(row["kind"]).label,
            "old_price": row["old_price"],
            "new_price": row["new_price"],
            "reasons": _reasons(row["reasons"]),
            "changed_at": window.local(row["changed_at"]),
        }
        for row in rows
    ]
    return {"count": len(items), "items": items[:LIST_LIMIT]}
