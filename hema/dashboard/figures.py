"""Every figure of one store's dashboard at one moment, gathered once for the
page and for its JSON (the same dict feeds both)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hema.dashboard import jobs, operations, prices, sales, stock, todos
from hema.dashboard.chart import hourly_sales_svg
from hema.dashboard.window import day_window
from inventory.models import Store

PANELS = ("sales", "orders", "floor", "stock", "prices", "jobs", "todos")


def dashboard_figures(*, store: Store, now: dt.datetime) -> dict[str, Any]:
    """The dashboard of ``store`` at ``now``: times are in the store's zone."""
    window = day_window(store=store, now=now)
    sold = sales.sales_today(window=window)
    recounts = stock.recounts(window=window)
    return {
        "store": {"id": store.pk, "code": store.code, "name": store.name},
        "currency": store.currency,
        "time_zone": store.time_zone,
        "day": window.day,
        "now": window.local(now),
        "sales": sold,
        "chart": hourly_sales_svg(
            hours=sold["hours"],
            today=sold["today"],
            last_week=sold["last_week"],
            currency=store.currency,
        ),
        "orders_by_state": operations.orders_by_state(window=window),
        "at_risk": operations.orders_at_risk(window=window),
        "late_bags": operations.late_bags(window=window),
        "timers": operations.timers(window=window),
        "on_time": operations.on_time(window=window),
        "riders_on_shift": operations.riders_on_shift(window=window),
        "sold_out": stock.sold_out(window=window),
        "below_forecast": stock.below_forecast(window=window),
        "recounts": recounts,
        "write_offs": stock.write_offs(window=window),
        "markdowns": stock.markdowns(window=window),
        "weather": prices.weather(window=window),
        "price_changes": prices.price_changes(window=window),
        "jobs": jobs.last_runs(window=window),
        "todos": {
            "replenishment": todos.replenishment_drafts(window=window),
            "refunds": todos.refunds_needing_attention(window=window),
            "recounts": recounts["count"],
            "drift": todos.reconcile_drift(window=window),
        },
    }
