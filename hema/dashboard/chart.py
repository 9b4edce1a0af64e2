"""The hourly sales chart of the dashboard: server-side SVG.

No JavaScript and no inline style (the Content-Security-Policy allows
neither): the shapes carry classes that ``hema/dashboard/dashboard.css``
colours. Today's sales are stacked bars per local hour (app on top of in
store); last week's same weekday is a line with a dot per hour, so the manager
sees at a glance whether today runs ahead.
"""

from __future__ import annotations

from decimal import Decimal

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from orders.models import Channel

WIDTH, HEIGHT = 760, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 14, 30


def _nice_max(value: Decimal) -> Decimal:
    """The axis top: 1, 2 or 5 times a power of ten, at least ``value``."""
    if value <= 0:
        return Decimal(1)
    magnitude = Decimal(10) ** (len(str(int(value))) - 1)
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def hourly_sales_svg(
    *, hours: list[int], today: dict, last_week: dict, currency: str
) -> SafeString:
    """``today`` and ``last_week`` are ``sales_today``'s buckets: ``by_hour``
    maps an hour to each channel's ``sales``."""

    def total(bucket: dict, hour: int) -> Decimal:
        return sum((c["sales"] for c in bucket["by_hour"][hour].values()), Decimal(0))

    top = _nice_max(
        max(
            [total(today, h) for h in hours] + [total(last_week, h) for h in hours],
            default=Decimal(0),
        )
    )
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(hours), 1)

    def y(value: Decimal) -> float:
        return TOP + plot_h - float(value / top) * plot_h

    parts = [
        f'<svg class="dash-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="Sales by hour, today against the same weekday last week" '
        f'xmlns="http://www.w3.org/2000/svg">'
    ]
    for fraction in (0, 0.5, 1):
        value = top * Decimal(str(fraction))
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" '
            f'y1="{y(value):.1f}" y2="{y(value):.1f}"/>'
            f'<text class="axis" x="{LEFT - 6}" y="{y(value) + 4:.1f}" '
            f'text-anchor="end">{value.normalize():f}</text>'
        )
    line_points = []
    for index, hour in enumerate(hours):
        x = LEFT + index * slot
        base = Decimal(0)
        for channel in (Channel.IN_STORE, Channel.APP):
            sales = today["by_hour"][hour][channel]["sales"]
            if sales > 0:
                y0, y1 = y(base), y(base + sales)
                parts.append(
                    f'<rect class="bar {channel.value}" x="{x + slot * 0.15:.1f}" '
                    f'y="{y1:.1f}" width="{slot * 0.7:.1f}" height="{y0 - y1:.1f}" '
                    f'data-hour="{hour}" data-value="{sales}">'
                    f"<title>{hour:02d}:00 {escape(channel.label)}: {sales} "
                    f"{escape(currency)}</title></rect>"
                )
            base += sales
        line_points.append((x + slot / 2, y(total(last_week, hour)), hour))
        if index % 3 == 0:
            parts.append(
                f'<text class="axis" x="{x + slot / 2:.1f}" y="{HEIGHT - 10}" '
                f'text-anchor="middle">{hour:02d}</text>'
            )
    coords = " ".join(f"{px:.1f},{py:.1f}" for px, py, _ in line_points)
    parts.append(f'<polyline class="last-week" points="{coords}"/>')
    for px, py, hour in line_points:
        value = total(last_week, hour)
        parts.append(
            f'<circle class="dot last-week" cx="{px:.1f}" cy="{py:.1f}" r="2.5" '
            f'data-hour="{hour}" data-value="{value}">'
            f"<title>{hour:02d}:00 last week: {value} {escape(currency)}</title>"
            f"</circle>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 (numbers and escaped text only)
