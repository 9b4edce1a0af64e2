"""Approvals and to-dos: each a count and the rows to open, each linking to
the screen that deals with it."""

from __future__ import annotations

from hema.dashboard.window import DayWindow
from inventory.forecast.models import ReplenishmentOrder, ReplenishmentState
from inventory.models import ReconcileDrift, ReconcileRun, ReconcileState
from orders.models import Refund, RefundState

LIST_LIMIT = 10


def replenishment_drafts(*, window: DayWindow) -> dict:
    """Draft supplier orders waiting for the manager's approval."""
    rows = list(
        ReplenishmentOrder.objects.filter(
            store=window.store, state=ReplenishmentState.DRAFT
        )
        .order_by("delivery_day", "pk")
        .values("pk", "supplier__name", "delivery_day")
    )
    return {"count": len(rows), "items": rows[:LIST_LIMIT]}


def refunds_needing_attention(*, window: DayWindow) -> dict:
    """Refunds that used up their retries: only a manager retries them."""
    rows = list(
        Refund.objects.filter(
            order__store=window.store, state=RefundState.NEEDS_ATTENTION
        )
        .order_by("created_at", "pk")
        .values("pk", "order_id", "order__number", "amount", "last_error")
    )
    return {"count": len(rows), "items": rows[:LIST_LIMIT]}


def reconcile_drift(*, window: DayWindow) -> dict:
    """The drifts the store's latest finished reconcile run found."""
    run = (
        ReconcileRun.objects.filter(store=window.store, state=ReconcileState.DONE)
        .order_by("-started_at", "-pk")
        .values("pk", "started_at")
        .first()
    )
    if run is None:
        return {"run_id": None, "count": 0, "items": []}
    rows = list(
        ReconcileDrift.objects.filter(run_id=run["pk"])
        .order_by("store_product_id")
        .values(
            "store_product_id",
            "store_product__product__sku",
            "on_hand_expected",
            "on_hand_actual",
        )
    )
    return {
        "run_id": run["pk"],
        "run_at": window.local(run["started_at"]),
        "count": len(rows),
        "items": rows[:LIST_LIMIT],
    }
