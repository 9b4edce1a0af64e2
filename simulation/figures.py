"""The figures of a simulated store day, read from the rows the run wrote.

Each figure is the one issue 16 names, per day (the store's local day, midnight
to midnight) and for the whole run:

* revenue and orders by channel and local hour; online share = app revenue
  over all revenue (orders paid in the window, cancelled ones left out);
* deliveries (app orders and in-store purchases sent home), express promises
  kept (delivered by the deadline, over orders promised express), on-time
  rate over delivered orders, lateness percentiles in minutes (an early
  delivery counts 0), riders used (riders with a trip);
* paid to on-the-rail (the order's last bag hung) and paid to packed, median
  and 90th percentile in minutes;
* paid app orders shorted by till sales (a reservation of the order flagged
  short), count and share of paid app orders;
* waste = daily-fresh units written off at closing over the daily-fresh units
  on the shelf that day (on hand at opening plus received);
* stock-outs = product-days on which a shopper wanted the product and found
  none while it was on sale at full price, over product-days. A daily-fresh
  shelf emptied after the day's evening markdown began is not one: the
  markdown is there to sell it out (DOMAIN.md), and the rule that orders
  daily fresh no higher than the day's forecast makes that the usual ending.
  Also counted: the same at any hour, product-days with nothing left (on hand
  less held) at closing (``sold_out_at_close_rate``), and the shoppers'
  stock-outs (a wanted line not on the shelf or not available online), by
  channel;
* markdown revenue recovered = revenue of daily-fresh units sold while a
  markdown was the price in force (the product's latest price change that
  day was a markdown);
* price changes by kind and by reason;
* forecast accuracy: WAPE (sum |forecast - sold| / sum sold) of the day's
  forecasts over the products that did not sell out, None without forecasts.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter, defaultdict
from decimal import Decimal
from typing import Any

from simulation.draws import percentile


def _minutes(deltas: list[dt.timedelta]) -> dict[str, float]:
    values = [d.total_seconds() / 60 for d in deltas]
    return {
        "count": len(values),
        "median": round(percentile(values, 50), 2),
        "p90": round(percentile(values, 90), 2),
    }


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 4) if b else None


def _reason_label(reason: str) -> str:
    return re.split(r" x[0-9.]|\(|:", reason, maxsplit=1)[0].strip() or reason


def _sales(run: Any, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    from orders.models import Order

    tz = run.store.tz
    revenue: dict[str, Decimal] = defaultdict(Decimal)
    orders: Counter = Counter()
    by_hour: dict[str, dict[int, list]] = {"in_store": {}, "app": {}}
    for channel, total, paid_at in Order.objects.filter(
        store=run.store, paid_at__gte=start, paid_at__lt=end
    ).values_list("channel", "total", "paid_at"):
        revenue[channel] += total
        orders[channel] += 1
        cell = by_hour.setdefault(channel, {}).setdefault(
            paid_at.astimezone(tz).hour, [0, Decimal(0)]
        )
        cell[0] += 1
        cell[1] += total
    total = sum(revenue.values(), Decimal(0))
    return {
        "revenue": {k: str(revenue.get(k, Decimal(0))) for k in ("in_store", "app")}
        | {"total": str(total)},
        "orders": {k: orders.get(k, 0) for k in ("in_store", "app")},
        "online_share": _ratio(float(revenue.get("app", 0)), float(total)),
        "by_hour": {
            channel: {
                str(h): {"orders": n, "revenue": str(r)}
                for h, (n, r) in sorted(hours.items())
            }
            for channel, hours in by_hour.items()
        },
    }


def _delivery(run: Any, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    from delivery.models import Fulfilment, Trip

    fulfilments = list(
        Fulfilment.objects.filter(
            pk__in=list(run.d.outcomes), paid_at__gte=start, paid_at__lt=end
        ).values_list(
            "pk", "paid_at", "deadline", "delivered_at", "last_hung_at", "packed_at"
        )
    )
    express = [f for f in fulfilments if run.d.outcomes[f[0]] == "express"]
    kept = sum(1 for f in express if f[3] is not None and f[3] <= f[2])
    delivered = [f for f in fulfilments if f[3] is not None]
    lateness = [max(dt.timedelta(0), f[3] - f[2]) for f in delivered]
    late = _minutes(lateness)
    riders = (
        Trip.objects.filter(
            store=run.store, stops__fulfilment_id__in=[f[0] for f in fulfilments]
        )
        .values("rider")
        .distinct()
        .count()
    )
    return {
        "deliveries": len(fulfilments),
        "express": len(express),
        "express_kept": kept,
        "express_kept_rate": _ratio(kept, len(express)),
        "delivered": len(delivered),
        "on_time_rate": _ratio(
            sum(1 for f in delivered if f[3] <= f[2]), len(delivered)
        ),
        "lateness_minutes": {
            "p50": late["median"],
            "p90": late["p90"],
            "p95": round(percentile([d.total_seconds() / 60 for d in lateness], 95), 2),
        },
        "riders_used": riders,
        "paid_to_rail_minutes": _minutes([f[4] - f[1] for f in fulfilments if f[4]]),
        "paid_to_packed_minutes": _minutes([f[5] - f[1] for f in fulfilments if f[5]]),
    }


def _shorted(run: Any, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    from inventory.models import Reservation
    from orders.models import Order

    numbers = list(
        Order.objects.filter(
            store=run.store, channel="app", paid_at__gte=start, paid_at__lt=end
        ).values_list("number", flat=True)
    )
    shorted = (
        Reservation.objects.filter(reference__in=numbers, state="short")
        .values("reference")
        .distinct()
        .count()
    )
    return {
        "paid_app_orders": len(numbers),
        "shorted": shorted,
        "shorted_rate": _ratio(shorted, len(numbers)),
    }


def _markdown_revenue(run: Any, start: dt.datetime, end: dt.datetime) -> str:
    """Revenue of daily-fresh units sold while the product's price in force
    was a markdown (its latest price change before the sale was of kind
    markdown, on the same day)."""
    import bisect

    from inventory.models import MovementKind, StockMovement
    from pricing.models import PriceChange, PriceChangeKind

    changes: dict[int, list[tuple[dt.datetime, str]]] = defaultdict(list)
    for pk, at, kind in (
        PriceChange.objects.filter(
            store_product_id__in=list(run.daily_fresh),
            changed_at__gte=start,
            changed_at__lt=end,
        )
        .order_by("changed_at", "pk")
        .values_list("store_product_id", "changed_at", "kind")
    ):
        changes[pk].append((at, kind))
    total = Decimal(0)
    for pk, delta, price, at in StockMovement.objects.filter(
        store_product_id__in=list(changes),
        kind__in=[MovementKind.SALE_IN_STORE, MovementKind.PICK],
        created_at__gte=start,
        created_at__lt=end,
    ).values_list("store_product_id", "on_hand_delta", "unit_price", "created_at"):
        history = changes[pk]
        i = bisect.bisect_right([c[0] for c in history], at) - 1
        if i >= 0 and history[i][1] == PriceChangeKind.MARKDOWN and price:
            total += -delta * price
    return str(total.quantize(Decimal("0.01")))


def _price_changes(run: Any, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    from pricing.models import PriceChange

    kinds: Counter = Counter()
    reasons: Counter = Counter()
    for kind, why in PriceChange.objects.filter(
        store=run.store, changed_at__gte=start, changed_at__lt=end
    ).values_list("kind", "reasons"):
        kinds[kind] += 1
        for reason in why or ["(none)"]:
            reasons[_reason_label(str(reason))] += 1
    return {
        "by_kind": dict(sorted(kinds.items())),
        "by_reason": dict(sorted(reasons.items())),
    }


def _accuracy(run: Any, day: dt.date) -> dict[str, Any]:
    from inventory.forecast.models import DailySales, DemandForecast

    pks = [s.pk for s in run.shelves]
    latest: dict[int, tuple[dt.date, Decimal]] = {}
    for pk, made_on, quantity in DemandForecast.objects.filter(
        store_product_id__in=pks, day=day
    ).values_list("store_product_id", "made_on", "quantity"):
        if pk not in latest or made_on > latest[pk][0]:
            latest[pk] = (made_on, quantity)
    if not latest:
        return {"series": 0, "wape": None, "bias": None}
    sales = {
        pk: (q, out)
        for pk, q, out in DailySales.objects.filter(
            store_product_id__in=list(latest), day=day
        ).values_list("store_product_id", "quantity", "sold_out")
    }
    sold = error = bias = Decimal(0)
    series = 0
    for pk, (_, forecast) in latest.items():
        actual, out = sales.get(pk, (Decimal(0), False))
        if out:
            continue
        series += 1
        sold += actual
        error += abs(forecast - actual)
        bias += forecast - actual
    return {
        "series": series,
        "wape": _ratio(float(error), float(sold)),
        "bias": _ratio(float(bias), float(sold)),
    }


def _stock(tallies: list[Any]) -> dict[str, Any]:
    fresh = sum((t.fresh_opening + t.fresh_received for t in tallies), Decimal(0))
    wasted = sum((t.fresh_written_off for t in tallies), Decimal(0))
    product_days = sum(t.products for t in tallies)
    sold_out = sum(len(t.sold_out_at_close) for t in tallies)
    short = sum(len(t.short_at_full_price) for t in tallies)
    events = Counter(channel for t in tallies for channel, _, _ in t.stockouts)
    step = Decimal("0.001")
    return {
        "daily_fresh_units": str(fresh.quantize(step)),
        "daily_fresh_written_off": str(wasted.quantize(step)),
        "waste_rate": _ratio(float(wasted), float(fresh)),
        "product_days": product_days,
        # Stock-outs: product-days on which a shopper found the shelf empty
        # while the product was on sale at full price (module docstring).
        "product_days_short": short,
        "stockout_rate": _ratio(short, product_days),
        # Of those, daily fresh (ordered no higher than the forecast) and the
        # rest (ordered to cover the days until the next delivery).
        "product_days_short_daily_fresh": sum(
            len(t.short_daily_fresh) for t in tallies
        ),
        "product_days_short_any_time": sum(
            len({sku for _, sku, _ in t.stockouts}) for t in tallies
        ),
        "product_days_sold_out": sold_out,
        "sold_out_at_close_rate": _ratio(sold_out, product_days),
        "shopper_stockouts": {k: events.get(k, 0) for k in ("in_store", "app")},
        "price_walks": {
            k: sum(t.price_walks.get(k, 0) for t in tallies)
            for k in ("in_store", "app")
        },
        "app_refused_no_promise": sum(t.app_refused for t in tallies),
        "app_checkout_refused": sum(t.app_failed for t in tallies),
        "in_store_delivered_home": sum(t.delivered_home for t in tallies),
        "in_store_shoppers": sum(t.in_store_baskets for t in tallies),
        "in_store_left_empty": sum(t.empty_baskets for t in tallies),
    }


def span_figures(
    run: Any, start: dt.datetime, end: dt.datetime, tallies: list[Any]
) -> dict[str, Any]:
    """Every figure over ``[start, end)`` with the days' own counts."""
    return {
        "sales": _sales(run, start, end),
        "delivery": _delivery(run, start, end),
        "shorted_by_till": _shorted(run, start, end),
        "stock": _stock(tallies),
        "markdown_revenue": _markdown_revenue(run, start, end),
        "price_changes": _price_changes(run, start, end),
    }


def run_figures(run: Any, windows: list[tuple[dt.datetime, dt.datetime]]) -> dict:
    """The figures per day (with the night's forecast and replenishment) and
    for the whole run."""
    days = []
    for index, (start, end) in enumerate(windows):
        tally = run.tallies[index]
        figures = span_figures(run, start, end, [tally])
        figures["day"] = run.days[index].isoformat()
        figures["forecast_accuracy"] = _accuracy(run, run.days[index])
        figures["forecast"] = tally.forecast
        figures["replenishment"] = tally.replenishment
        figures["stock"]["sold_out_at_close"] = sorted(tally.sold_out_at_close)
        figures["stock"]["short_at_full_price"] = sorted(tally.short_at_full_price)
        days.append(figures)
    whole = span_figures(
        run, windows[0][0], windows[-1][1], [run.tallies[i] for i in run.tallies]
    )
    whole["markdown_revenue"] = str(
        sum((Decimal(day["markdown_revenue"]) for day in days), Decimal(0))
    )
    return {"days": days, "total": whole}
