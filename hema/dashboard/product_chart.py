"""A store product's four weeks on one chart: server-side SVG, small multiples.

Three panels share one axis of trading days (so a sold-out day lines up with
the stock that ran out and the price that moved), each with its own scale:

1. sales: a bar per day sold (``sold-out`` bars: demand was at least that),
   the forecast as a dashed line with a dot per day inside its 80% band;
2. stock on hand at each day's end: a line with a dot per day;
3. shelf price: steps at the moments it changed (a price holds until the next
   change), a dot at each change.

No JavaScript and no inline style (the Content-Security-Policy forbids both):
shapes carry classes that ``hema/dashboard/charts.css`` colours, and
``data-day`` / ``data-value`` attributes with the exact figures.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from hema.dashboard.chart import _nice_max
from hema.dashboard.product_history import ProductHistory

WIDTH = 900
LEFT, RIGHT = 70, 16
PANELS = (("sales", 170), ("stock", 110), ("price", 110))
GAP, TOP, BOTTOM = 26, 22, 26


def _axis_label(value: Decimal) -> str:
    return f"{value.normalize():f}"


class _Panel:
    """One panel's vertical scale between ``low`` and ``high``."""

    def __init__(self, top: float, height: float, low: Decimal, high: Decimal):
        self.top, self.height = top, height
        self.low = low
        self.span = float(high - low) or 1.0
        self.high = high

    def y(self, value: Decimal) -> float:
        return self.top + self.height * (1 - float(value - self.low) / self.span)

    def frame(self, title: str, label: Callable[[Decimal], str]) -> str:
        bottom = self.top + self.height
        return (
            f'<text class="panel-title" x="{LEFT}" y="{self.top - 6:.1f}">'
            f"{escape(title)}</text>"
            f'<rect class="frame" x="{LEFT}" y="{self.top:.1f}" '
            f'width="{WIDTH - LEFT - RIGHT}" height="{self.height:.1f}"/>'
            f'<text class="axis" x="{LEFT - 6}" y="{self.top + 10:.1f}" '
            f'text-anchor="end">{escape(label(self.high))}</text>'
            f'<text class="axis" x="{LEFT - 6}" y="{bottom:.1f}" '
            f'text-anchor="end">{escape(label(self.low))}</text>'
        )


def product_chart_svg(
    history: ProductHistory, *, unit: str, currency: str, title: str
) -> SafeString:
    """The chart of ``history``; ``unit`` labels quantities (``pieces`` or
    ``kg``), ``currency`` the prices."""
    days = history.days
    slot = (WIDTH - LEFT - RIGHT) / max(len(days), 1)
    index = {figures.day: n for n, figures in enumerate(days)}

    def centre(day: dt.date) -> float:
        return LEFT + (index[day] + 0.5) * slot

    def at(moment: dt.datetime) -> float:
        """A moment's x: its day's slot, split by the time into the day."""
        calendar = history.calendar
        day = calendar.day_of(moment)
        begin = calendar.start_of(day)
        length = (calendar.start_of(day + dt.timedelta(days=1)) - begin).total_seconds()
        return LEFT + (index[day] + (moment - begin).total_seconds() / length) * slot

    tops, y = {}, TOP
    for name, height in PANELS:
        tops[name] = (y, height)
        y += height + GAP
    height = y - GAP + BOTTOM

    quantities = [
        v for f in days for v in (f.sold, f.forecast, f.upper) if v is not None
    ]
    sales = _Panel(
        *tops["sales"], Decimal(0), _nice_max(max(quantities, default=Decimal(0)))
    )
    stock_values = [f.on_hand for f in days if f.on_hand is not None]
    stock = _Panel(
        *tops["stock"],
        min([Decimal(0), *stock_values]),
        _nice_max(max(stock_values, default=Decimal(0))),
    )
    prices = [p for _, p in history.prices]
    low, high = min(prices), max(prices)
    if low == high:
        low, high = max(low - 1, Decimal(0)), high + 1
    price = _Panel(*tops["price"], low, high)

    def amount(value: Decimal) -> str:
        return f"{value:.2f}"

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="product-chart" '
        f'viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(title)}">',
        sales.frame(f"Sold per day ({unit}) and forecast", _axis_label),
        stock.frame(f"Stock on hand at the day's end ({unit})", _axis_label),
        price.frame(f"Shelf price ({currency})", amount),
    ]
    # Week lines and today, across the three panels, with the day below.
    for figures in days:
        day = figures.day
        if day.weekday() != 0 and day != history.today:
            continue
        x = LEFT + index[day] * slot
        css = "today" if day == history.today else "grid"
        parts.append(
            f'<line class="{css}" x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" '
            f'y2="{height - BOTTOM:.1f}"/>'
        )
        # A Monday label next to today's would overlap it: today's wins.
        if day == history.today or abs((day - history.today).days) > 3:
            parts.append(
                f'<text class="axis" x="{x + 2:.1f}" y="{height - 8}">'
                f"{day:%a %d %b}</text>"
            )

    # 1. Sales bars, then the forecast's band, line and dots.
    zero = sales.y(Decimal(0))
    for f in days:
        if f.sold is None:
            continue
        top = sales.y(f.sold)
        css = "sold sold-out" if f.sold_out else "sold"
        note = " (sold out)" if f.sold_out else ""
        parts.append(
            f'<rect class="{css}" x="{centre(f.day) - slot * 0.35:.1f}" '
            f'y="{top:.1f}" width="{slot * 0.7:.1f}" height="{zero - top:.1f}" '
            f'data-day="{f.day}" data-value="{f.sold}"><title>{f.day:%a %d %b} '
            f"sold {f.sold} {escape(unit)}{note}</title></rect>"
        )
    forecast = [f for f in days if f.forecast is not None]
    if forecast:
        upper = [f"{centre(f.day):.1f},{sales.y(f.upper):.1f}" for f in forecast]
        lower = [
            f"{centre(f.day):.1f},{sales.y(f.lower):.1f}" for f in reversed(forecast)
        ]
        parts.append(f'<polygon class="band" points="{" ".join(upper + lower)}"/>')
    if len(forecast) > 1:
        coords = " ".join(
            f"{centre(f.day):.1f},{sales.y(f.forecast):.1f}" for f in forecast
        )
        parts.append(f'<polyline class="forecast" points="{coords}"/>')
    parts.extend(
        f'<circle class="forecast" cx="{centre(f.day):.1f}" '
        f'cy="{sales.y(f.forecast):.1f}" r="2.5" data-day="{f.day}" '
        f'data-value="{f.forecast}"><title>{f.day:%a %d %b} forecast {f.forecast} '
        f"{escape(unit)} (80%: {f.lower}-{f.upper})</title></circle>"
        for f in forecast
    )

    # 2. Stock on hand at each day's end.
    held = [f for f in days if f.on_hand is not None]
    if len(held) > 1:
        coords = " ".join(f"{centre(f.day):.1f},{stock.y(f.on_hand):.1f}" for f in held)
        parts.append(f'<polyline class="stock" points="{coords}"/>')
    parts.extend(
        f'<circle class="stock{" empty" if f.on_hand <= 0 else ""}" '
        f'cx="{centre(f.day):.1f}" cy="{stock.y(f.on_hand):.1f}" r="2.5" '
        f'data-day="{f.day}" data-value="{f.on_hand}"><title>{f.day:%a %d %b} '
        f"on hand at the day's end {f.on_hand} {escape(unit)}</title></circle>"
        for f in held
    )

    # 3. Shelf price: steps up to now, a dot at each change.
    path, previous = [], None
    for moment, value in history.prices:
        x, py = at(moment), price.y(value)
        path.append(
            f"M{x:.1f},{py:.1f}"
            if previous is None
            else f"L{x:.1f},{previous:.1f} L{x:.1f},{py:.1f}"
        )
        previous = py
    path.append(f"L{at(history.now):.1f},{previous:.1f}")
    parts.append(f'<path class="price" d="{" ".join(path)}"/>')
    tz = history.calendar.tz
    parts.extend(
        f'<circle class="price-change" cx="{at(moment):.1f}" '
        f'cy="{price.y(value):.1f}" r="2.5" data-at="{moment.isoformat()}" '
        f'data-value="{value}"><title>{moment.astimezone(tz):%a %d %b %H:%M} '
        f"{value} {escape(currency)}</title></circle>"
        for moment, value in history.prices[1:]
    )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 (numbers and escaped text only)
