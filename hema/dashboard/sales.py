"""Sales and orders by channel and by hour: today so far against the same
weekday last week.

A sale is an order paid in the window (``Order.paid_at``), whatever its state
now except cancelled; its amount is the order's total (tax included). One
query reads both days, grouped by which day, local hour and channel, through
the ``(store, paid_at)`` index: a day is a few hundred rows of a store's year.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db.models import Case, CharField, Count, Q, Sum, Value, When
from django.db.models.functions import ExtractHour

from hema.dashboard.window import DayWindow
from orders.models import Channel, Order, OrderState

ZERO = Decimal("0.00")
CHANNELS = [choice.value for choice in Channel]


def _hours(window: DayWindow) -> list[int]:
    """The local hours of the trading day, in order (24, a wrap past midnight
    for a day that ends in the morning)."""
    first = window.start.astimezone(window.tz).hour
    count = round((window.end - window.start) / dt.timedelta(hours=1))
    return [(first + i) % 24 for i in range(count)]


def _empty(hours: list[int]) -> dict:
    return {
        "orders": 0,
        "sales": ZERO,
        "by_channel": {c: {"orders": 0, "sales": ZERO} for c in CHANNELS},
        "by_hour": {
            h: {c: {"orders": 0, "sales": ZERO} for c in CHANNELS} for h in hours
        },
    }


def sales_today(*, window: DayWindow) -> dict:
    """Today's orders and sales so far, last week's up to the same time of day
    and over its whole day, by channel and by local hour; the online share
    (app orders' share of today's sales)."""
    hours = _hours(window)
    rows = (
        Order.objects.filter(store=window.store, paid_at__isnull=False)
        .filter(
            Q(paid_at__gte=window.start, paid_at__lte=window.now)
            | Q(paid_at__gte=window.last_week_start, paid_at__lt=window.last_week_end)
        )
        .exclude(state=OrderState.CANCELLED)
        .annotate(
            period=Case(
                When(paid_at__gte=window.start, then=Value("today")),
                default=Value("last_week"),
                output_field=CharField(),
            ),
            hour=ExtractHour("paid_at", tzinfo=window.tz),
        )
        .values("period", "hour", "channel")
        .annotate(
            orders=Count("pk"),
            sales=Sum("total"),
            orders_so_far=Count("pk", filter=Q(paid_at__lte=window.last_week_now)),
            sales_so_far=Sum("total", filter=Q(paid_at__lte=window.last_week_now)),
        )
        .order_by()
    )
    today, last_week, last_week_so_far = _empty(hours), _empty(hours), _empty(hours)
    for row in rows:
        channel, hour = row["channel"], row["hour"]
        if channel not in CHANNELS or hour not in today["by_hour"]:
            continue
        targets = [(today, row["orders"], row["sales"])]
        if row["period"] == "last_week":
            targets = [
                (last_week, row["orders"], row["sales"]),
                (last_week_so_far, row["orders_so_far"], row["sales_so_far"] or ZERO),
            ]
        for bucket, orders, sales in targets:
            bucket["orders"] += orders
            bucket["sales"] += sales
            bucket["by_channel"][channel]["orders"] += orders
            bucket["by_channel"][channel]["sales"] += sales
            bucket["by_hour"][hour][channel]["orders"] += orders
            bucket["by_hour"][hour][channel]["sales"] += sales
    online = today["by_channel"][Channel.APP]["sales"]
    return {
        "hours": hours,
        "today": today,
        "last_week": last_week,
        "last_week_so_far": last_week_so_far,
        "online_share": _share(online, today["sales"]),
        "last_week_online_share": _share(
            last_week_so_far["by_channel"][Channel.APP]["sales"],
            last_week_so_far["sales"],
        ),
        "change": _change(today["sales"], last_week_so_far["sales"]),
    }


def _share(part: Decimal, whole: Decimal) -> float | None:
    return None if not whole else round(float(part / whole) * 100, 1)


def _change(now: Decimal, before: Decimal) -> float | None:
    """Percent change against last week so far (None without last week)."""
    return None if not before else round(float((now - before) / before) * 100, 1)
