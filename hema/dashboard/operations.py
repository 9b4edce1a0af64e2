"""The floor now: orders by state, orders at risk of missing their promise,
late bags on the rail, pick and pack timers, on-time deliveries, riders.

Every read goes through an index of the table it reads: today's orders by
``created_at``, open fulfilments by ``(store, state, deadline)``, bags on the
rail by the partial ``pick_task_on_rail_idx``, today's timers by
``(store, paid_at)`` with a day's slack before the window (an order paid
before midnight and packed after still counts).
"""

from __future__ import annotations

import datetime as dt
import statistics

from django.db.models import Count, F, Q

from delivery.models import (
    Fulfilment,
    FulfilmentMode,
    FulfilmentState,
    PickTask,
    PickTaskState,
    RiderShift,
)
from delivery.selectors import PACK_TARGET, percentile
from hema.dashboard.window import DayWindow
from orders.models import Order, OrderState

# An order whose promise falls within this long and is not yet on its way (or
# ready for collection) is at risk; one past its promise is late.
AT_RISK_WITHIN = dt.timedelta(minutes=15)
NOT_YET_OUT = (FulfilmentState.OPEN, FulfilmentState.PICKING, FulfilmentState.PACKED)
LIST_LIMIT = 10
SLACK = dt.timedelta(days=1)


def orders_by_state(*, window: DayWindow) -> list[dict]:
    """Today's orders (created in the trading day) by state now, every state
    listed in the workflow's order (zero where none)."""
    counts = dict(
        Order.objects.filter(
            store=window.store, created_at__gte=window.start, created_at__lte=window.now
        )
        .values_list("state")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return [
        {"state": state.value, "label": state.label, "count": counts.get(state, 0)}
        for state in OrderState
    ]


def orders_at_risk(*, window: DayWindow) -> dict:
    """Fulfilments not yet out (open, picking, packed) whose promise is within
    ``AT_RISK_WITHIN`` or already past, soonest first."""
    rows = list(
        Fulfilment.objects.filter(
            store=window.store,
            state__in=NOT_YET_OUT,
            deadline__lte=window.now + AT_RISK_WITHIN,
        )
        .order_by("deadline", "pk")
        .values("order_id", "reference", "state", "mode", "deadline")
    )
    items = [
        {
            "order_id": row["order_id"],
            "reference": row["reference"],
            "state": FulfilmentState(row["state"]).label,
            "mode": FulfilmentMode(row["mode"]).label,
            "deadline": window.local(row["deadline"]),
            "late": row["deadline"] < window.now,
            "minutes_left": max(
                round((row["deadline"] - window.now).total_seconds() / 60), 0
            ),
            "minutes_late": max(
                round((window.now - row["deadline"]).total_seconds() / 60), 0
            ),
        }
        for row in rows
    ]
    return {
        "count": len(items),
        "late": sum(item["late"] for item in items),
        "items": items[:LIST_LIMIT],
    }


def late_bags(*, window: DayWindow) -> dict:
    """Bags hung on the rail that should have reached packing by now."""
    rows = list(
        PickTask.objects.filter(
            store=window.store,
            state=PickTaskState.BAGGED,
            arrived_at__isnull=True,
            expected_at__lt=window.now,
        )
        .order_by("expected_at", "pk")
        .values(
            "fulfilment__order_id",
            "fulfilment__reference",
            "bag__code",
            "location__name",
            "expected_at",
        )
    )
    items = [
        {
            "order_id": row["fulfilment__order_id"],
            "reference": row["fulfilment__reference"],
            "bag": row["bag__code"] or "",
            "location": row["location__name"] or "",
            "expected_at": window.local(row["expected_at"]),
            "minutes_late": round(
                (window.now - row["expected_at"]).total_seconds() / 60
            ),
        }
        for row in rows
    ]
    return {"count": len(items), "items": items[:LIST_LIMIT]}


def _spread(minutes: list[float]) -> dict:
    if not minutes:
        return {"count": 0, "median": None, "p90": None}
    return {
        "count": len(minutes),
        "median": round(statistics.median(minutes), 1),
        "p90": round(percentile(minutes, 0.9), 1),
    }


def timers(*, window: DayWindow) -> dict:
    """Today's pick timer (a task claimed to its bag closed) and pack timer
    (an order paid to packed: the 10-minute target), median and 90th
    percentile in minutes, and how many packs beat the target."""
    picks = [
        (bagged - claimed).total_seconds() / 60
        for claimed, bagged in PickTask.objects.filter(
            store=window.store,
            created_at__gte=window.start - SLACK,
            bagged_at__gte=window.start,
            bagged_at__lte=window.now,
            claimed_at__isnull=False,
        ).values_list("claimed_at", "bagged_at")
    ]
    packs = [
        (packed - paid).total_seconds() / 60
        for paid, packed in Fulfilment.objects.filter(
            store=window.store,
            skips_picking=False,
            paid_at__gte=window.start - SLACK,
            packed_at__gte=window.start,
            packed_at__lte=window.now,
        ).values_list("paid_at", "packed_at")
    ]
    target = PACK_TARGET.total_seconds() / 60
    return {
        "pick": _spread(picks),
        "pack": {**_spread(packs), "on_target": sum(m <= target for m in packs)},
        "target_minutes": round(target),
    }


def on_time(*, window: DayWindow) -> dict:
    """Deliveries made today, and how many arrived by their promise."""
    counts = Fulfilment.objects.filter(
        store=window.store,
        mode=FulfilmentMode.DELIVERY,
        paid_at__gte=window.start - SLACK,
        delivered_at__gte=window.start,
        delivered_at__lte=window.now,
    ).aggregate(
        delivered=Count("pk"),
        on_time=Count("pk", filter=Q(delivered_at__lte=F("deadline"))),
    )
    delivered, punctual = counts["delivered"], counts["on_time"]
    return {
        "delivered": delivered,
        "on_time": punctual,
        "rate": round(punctual / delivered * 100, 1) if delivered else None,
    }


def riders_on_shift(*, window: DayWindow) -> int:
    """Riders whose shift has started and not ended."""
    return RiderShift.objects.filter(
        store=window.store, started_at__lte=window.now, ended_at__isnull=True
    ).count()
