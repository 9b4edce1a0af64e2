"""The forecast-against-actual chart of one store product: server-side SVG.

No JavaScript, no CDN and no inline style (the Content-Security-Policy allows
neither): the shapes carry classes that ``inventory/admin/forecast.css`` colours.

What it draws, one column per store-local day:

* ``actual``: the units (or kg) sold, a line with a dot per day that has a
  sales row (``sold-out`` dots: the shelf emptied, so demand was at least that);
* ``forecast``: the days ahead, a dashed line with a dot per day, inside its 80%
  interval (``band``, a shaded polygon);
* ``past``: the one-day-ahead forecasts kept for past days (the nightly run
  replaces a day's row until the day has passed), dots with their own band, to
  compare with what sold.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe


@dataclass(frozen=True)
class ActualPoint:
    day: dt.date
    quantity: Decimal
    sold_out: bool = False


@dataclass(frozen=True)
class ForecastPoint:
    day: dt.date
    quantity: Decimal
    lower: Decimal
    upper: Decimal


def _band(points: Sequence[ForecastPoint], x, y, css: str) -> str:
    if not points:
        return ""
    upper = [f"{x(p.day):.1f},{y(p.upper):.1f}" for p in points]
    lower = [f"{x(p.day):.1f},{y(p.lower):.1f}" for p in reversed(points)]
    return f'<polygon class="{css}" points="{" ".join(upper + lower)}"/>'


def _line(points: Sequence, x, y, css: str) -> str:
    if len(points) < 2:
        return ""
    coords = " ".join(f"{x(p.day):.1f},{y(p.quantity):.1f}" for p in points)
    return f'<polyline class="{css}" points="{coords}"/>'


def _dots(points: Sequence, x, y, css: str, label) -> str:
    return "".join(
        f'<circle class="{css}{" sold-out" if getattr(p, "sold_out", False) else ""}"'
        f' cx="{x(p.day):.1f}" cy="{y(p.quantity):.1f}" r="3">'
        f"<title>{escape(label(p))}</title></circle>"
        for p in points
    )


def forecast_chart_svg(
    *,
    actual: Sequence[ActualPoint],
    ahead: Sequence[ForecastPoint],
    past: Sequence[ForecastPoint],
    first: dt.date,
    last: dt.date,
    today: dt.date,
    unit: str,
    title: str,
    width: int = 860,
    height: int = 280,
) -> SafeString:
    """The chart from ``first`` to ``last`` (inclusive); ``today`` is marked.
    ``unit`` labels the quantities (``pieces`` or ``kg``)."""
    values = [p.quantity for p in actual] + [
        v for p in (*ahead, *past) for v in (p.quantity, p.upper)
    ]
    top = max(values, default=Decimal(0))
    top = top if top > 0 else Decimal(1)
    pad_left, pad_right, pad_top, pad_bottom = 56, 16, 16, 30
    inner_w, inner_h = width - pad_left - pad_right, height - pad_top - pad_bottom
    days = max((last - first).days, 1)

    def x(day: dt.date) -> float:
        return pad_left + inner_w * (day - first).days / days

    def y(value: Decimal) -> float:
        return pad_top + inner_h * (1 - float(value) / float(top))

    grid = []
    day = first
    while day <= last:
        if day.weekday() == 0 or day == today:
            gx = x(day)
            css = "today" if day == today else "grid"
            grid.append(
                f'<line class="{css}" x1="{gx:.1f}" y1="{pad_top}" x2="{gx:.1f}" '
                f'y2="{pad_top + inner_h}"/><text class="axis" x="{gx + 2:.1f}" '
                f'y="{height - 10}">{day:%d %b}</text>'
            )
        day += dt.timedelta(days=1)

    def label(kind: str):
        def text(p) -> str:
            extra = ""
            if isinstance(p, ForecastPoint):
                extra = f" (80%: {p.lower}-{p.upper})"
            elif p.sold_out:
                extra = " (sold out)"
            return f"{p.day:%a %d %b} {kind} {p.quantity} {unit}{extra}"

        return text

    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="forecast-chart" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}">'
        f'<rect class="frame" x="{pad_left}" y="{pad_top}" width="{inner_w}" '
        f'height="{inner_h}"/>{"".join(grid)}'
        f'<text class="axis" x="4" y="{pad_top + 10}">{top.normalize():f}</text>'
        f'<text class="axis" x="4" y="{pad_top + inner_h}">0 {escape(unit)}</text>'
        f"{_band(ahead, x, y, 'band')}{_band(past, x, y, 'band past')}"
        f"{_line(actual, x, y, 'actual')}{_line(ahead, x, y, 'forecast')}"
        f"{_dots(past, x, y, 'past', label('forecast'))}"
        f"{_dots(actual, x, y, 'actual', label('sold'))}"
        f"{_dots(ahead, x, y, 'forecast', label('forecast'))}"
        "</svg>"
    )
    return mark_safe(svg)  # noqa: S308 (numbers and escaped text only)
