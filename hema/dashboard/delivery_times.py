"""Promised against actual delivery times of one store's trading day: the
rows, the summary and the SVG chart.

Each delivered order (``Fulfilment`` in delivery mode with ``delivered_at``
in the day) is a dot at the moment it arrived, as high as it was late
(``delivered_at - deadline`` in minutes; below the on-time line is early).
On time means delivered at or before the deadline, as the dashboard counts it
(``hema.dashboard.operations.on_time``).

No JavaScript and no inline style (the Content-Security-Policy forbids both):
classes coloured by ``hema/dashboard/charts.css``, exact figures in
``data-*`` attributes and a ``<title>`` per dot.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from delivery.models import Fulfilment, FulfilmentMode
from inventory.forecast.days import TradingCalendar
from inventory.models import Store

# Orders are paid at most this long before they are delivered: lets the
# (store, paid_at) index narrow the scan.
SLACK = dt.timedelta(days=1)
WIDTH, HEIGHT = 900, 300
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 30


@dataclass(frozen=True)
class Delivery:
    pk: int
    reference: str
    order_id: int
    deadline: dt.datetime
    delivered_at: dt.datetime
    minutes_late: float

    @property
    def on_time(self) -> bool:
        return self.delivered_at <= self.deadline


@dataclass(frozen=True)
class DeliveryDay:
    store: Store
    day: dt.date
    start: dt.datetime
    end: dt.datetime
    deliveries: list[Delivery]

    @property
    def on_time(self) -> int:
        return sum(d.on_time for d in self.deliveries)

    @property
    def rate(self) -> float | None:
        count = len(self.deliveries)
        return round(self.on_time / count * 100, 1) if count else None

    @property
    def median_late(self) -> float | None:
        late = [d.minutes_late for d in self.deliveries]
        return round(statistics.median(late), 1) if late else None

    @property
    def worst_late(self) -> float | None:
        return max((d.minutes_late for d in self.deliveries), default=None)


def delivery_day(*, store: Store, day: dt.date) -> DeliveryDay:
    """The deliveries made on the trading day ``day``, in delivery order."""
    calendar = TradingCalendar(store)
    start = calendar.start_of(day)
    end = calendar.start_of(day + dt.timedelta(days=1))
    rows = Fulfilment.objects.filter(
        store=store,
        mode=FulfilmentMode.DELIVERY,
        paid_at__gte=start - SLACK,
        delivered_at__gte=start,
        delivered_at__lt=end,
    ).order_by("delivered_at", "pk")
    tz = store.tz
    deliveries = [
        Delivery(
            pk=f.pk,
            reference=f.reference,
            order_id=f.order_id,
            deadline=f.deadline.astimezone(tz),
            delivered_at=f.delivered_at.astimezone(tz),
            minutes_late=round((f.delivered_at - f.deadline).total_seconds() / 60, 1),
        )
        for f in rows.only("pk", "reference", "order_id", "deadline", "delivered_at")
    ]
    return DeliveryDay(
        store=store, day=day, start=start, end=end, deliveries=deliveries
    )


def _step_up(value: float, step: int = 10) -> int:
    return int(math.ceil(value / step) * step)


def delivery_chart_svg(day: DeliveryDay) -> SafeString:
    """Lateness (minutes) against the time delivered, with the on-time line."""
    tz = day.store.tz
    title = f"{day.store.code} {day.day:%a %d %b %Y}: minutes late per delivery"
    if not day.deliveries:
        return mark_safe(  # noqa: S308 (escaped text only)
            f'<svg xmlns="http://www.w3.org/2000/svg" class="delivery-chart" '
            f'viewBox="0 0 {WIDTH} 40" role="img" aria-label="{escape(title)}">'
            f'<text class="axis" x="8" y="24">No deliveries made this day.</text>'
            "</svg>"
        )
    moments = [m for d in day.deliveries for m in (d.deadline, d.delivered_at)]
    first = max(min(moments), day.start.astimezone(tz)).replace(
        minute=0, second=0, microsecond=0
    )
    last = min(max(moments), day.end.astimezone(tz))
    last = last.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    span = (last - first).total_seconds()
    high = _step_up(max(0.0, *(d.minutes_late for d in day.deliveries)) or 10)
    low = -_step_up(max(0.0, *(-d.minutes_late for d in day.deliveries)))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(moment: dt.datetime) -> float:
        return LEFT + plot_w * (moment - first).total_seconds() / span

    def y(minutes: float) -> float:
        return TOP + plot_h * (high - minutes) / (high - low)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="delivery-chart" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">'
        f'<rect class="frame" x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}"/>'
    ]
    hour = first
    while hour <= last:
        hx = x(hour)
        parts.append(
            f'<line class="grid" x1="{hx:.1f}" x2="{hx:.1f}" y1="{TOP}" '
            f'y2="{TOP + plot_h}"/><text class="axis" x="{hx:.1f}" '
            f'y="{HEIGHT - 10}" text-anchor="middle">{hour:%H}:00</text>'
        )
        hour += dt.timedelta(hours=1)
    parts.extend(
        f'<text class="axis" x="{LEFT - 6}" y="{y(value) + 4:.1f}" '
        f'text-anchor="end">{f"{value:+d} min" if value else "on time"}</text>'
        for value in sorted({high, low, 0})
    )
    parts.append(
        f'<line class="on-time" x1="{LEFT}" x2="{LEFT + plot_w}" '
        f'y1="{y(0):.1f}" y2="{y(0):.1f}"/>'
    )
    for d in day.deliveries:
        css = "delivery on-time" if d.on_time else "delivery late"
        dx, dy = x(d.delivered_at), y(d.minutes_late)
        parts.append(
            f'<line class="lateness" x1="{dx:.1f}" x2="{dx:.1f}" y1="{y(0):.1f}" '
            f'y2="{dy:.1f}"/><circle class="{css}" cx="{dx:.1f}" cy="{dy:.1f}" '
            f'r="3.5" data-reference="{escape(d.reference)}" '
            f'data-minutes="{d.minutes_late}"><title>{escape(d.reference)}: '
            f"promised {d.deadline:%H:%M}, delivered {d.delivered_at:%H:%M} "
            f"({d.minutes_late:+} min)</title></circle>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 (numbers and escaped text only)
