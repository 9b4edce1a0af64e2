"""Small server-side SVG charts for the admin: no JavaScript, no CDN.

A price is a step function of time (it holds until the next change), so both
the history and the preview draw steps, not slopes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from decimal import Decimal

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe


def step_chart_svg(
    points: Sequence[tuple[dt.datetime, Decimal]],
    *,
    start: dt.datetime,
    end: dt.datetime,
    tz: dt.tzinfo,
    width: int = 760,
    height: int = 220,
    title: str = "",
    value_label: Callable[[Decimal], str] = str,
) -> SafeString:
    """An SVG step chart of ``points`` (time, price) between ``start`` and ``end``.

    ``points`` must be in time order; the first should be at or before
    ``start`` (the price in force then). Day boundaries are marked in ``tz``.
    ``value_label`` writes the axis' prices (``CNY 12.80 / kg``); the left
    margin widens to fit them.
    """
    if not points:
        return mark_safe(  # noqa: S308 (only numbers and escaped text)
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="40">'
            f'<text x="8" y="24">{escape(title)}: no prices</text></svg>'
        )
    prices = [p for _, p in points]
    low, high = min(prices), max(prices)
    if low == high:
        low, high = low - 1, high + 1
    high_label, low_label = value_label(high), value_label(low)
    label_width = 8 + 6 * max(len(high_label), len(low_label))
    pad_left, pad_right, pad_top, pad_bottom = max(56, label_width), 12, 16, 28
    inner_w, inner_h = width - pad_left - pad_right, height - pad_top - pad_bottom
    span = float(high - low)
    total = (end - start).total_seconds() or 1.0

    def x(moment: dt.datetime) -> float:
        seconds = min(max((moment - start).total_seconds(), 0.0), total)
        return pad_left + inner_w * seconds / total

    def y(price: Decimal) -> float:
        return pad_top + inner_h * (1 - float(price - low) / span)

    path: list[str] = []
    previous_y = None
    for moment, price in points:
        px, py = x(moment), y(price)
        if previous_y is None:
            path.append(f"M{px:.1f},{py:.1f}")
        else:
            path.append(f"L{px:.1f},{previous_y:.1f} L{px:.1f},{py:.1f}")
        previous_y = py
    path.append(f"L{x(end):.1f},{previous_y:.1f}")

    grid = []
    local_day = start.astimezone(tz).date() + dt.timedelta(days=1)
    while True:
        midnight = dt.datetime.combine(local_day, dt.time(0), tzinfo=tz)
        if midnight >= end:
            break
        gx = x(midnight)
        grid.append(
            f'<line x1="{gx:.1f}" y1="{pad_top}" x2="{gx:.1f}" '
            f'y2="{pad_top + inner_h}" stroke="#ddd"/>'
            f'<text x="{gx + 2:.1f}" y="{height - 8}" font-size="10" '
            f'fill="#666">{local_day:%a %d}</text>'
        )
        local_day += dt.timedelta(days=1)
    labels = (
        f'<text x="4" y="{pad_top + 10}" font-size="11">{escape(high_label)}</text>'
        f'<text x="4" y="{pad_top + inner_h}" font-size="11">'
        f"{escape(low_label)}</text>"
    )
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}">'
        f'<rect x="{pad_left}" y="{pad_top}" width="{inner_w}" height="{inner_h}" '
        f'fill="#fafafa" stroke="#ccc"/>{"".join(grid)}{labels}'
        f'<path d="{" ".join(path)}" fill="none" stroke="#417690" '
        f'stroke-width="2"/></svg>'
    )
    return mark_safe(svg)  # noqa: S308 (only numbers and escaped text)
