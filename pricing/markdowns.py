"""Daily-fresh markdowns: the window, the expected demand, the step.

Policy (the README repeats it):

* The window runs from the store's ``markdown_starts_at`` (default 17:00 local)
  until closing (``closes_at``; a 24-hour store uses ``trading_day_ends_at``).
  Only daily-fresh products with stock left (on hand minus what online orders
  hold) are marked down.
* Expected remaining demand = the sales rate now x the hours left. The rate
  now is the units wanted in the last hour (sold in store plus ordered online,
  minus online reservations given back), per hour; after a quiet hour it is
  the rate since opening instead, so one lull does not dump the price. This is
  the intraday estimate; a forecast of the rest of the day can replace it in
  ``expected_remaining_demand`` without changing the rest of the policy.
* If the stock left is no more than the expected demand, nothing changes. If it
  is more, sales must rise by ``stock / expected - 1``; the rate now was
  measured at the current markdown, so with the store's elasticity ``e`` (2:
  ten per cent off sells twenty per cent more) the markdown deepens by that
  rise / ``e``. The result is rounded up to the store's step (10%), capped by
  the floor (the category's own floor, else the store's, e.g. 40% of list, so
  at most 60% off), and a product nobody wanted all day goes straight to the
  floor.
* Within one trading day a markdown only deepens (a label never goes back up
  the same evening); the next trading day starts at the rules' price again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from inventory.models import Store

ZERO = Decimal(0)
HUNDRED = Decimal(100)
MIN_HOURS = Decimal("0.5")
PACE_WINDOW = dt.timedelta(hours=1)


def _hours(delta: dt.timedelta) -> Decimal:
    return max(Decimal(int(delta.total_seconds())) / Decimal(3600), MIN_HOURS)


@dataclass(frozen=True)
class MarkdownWindow:
    """The markdown window of one trading day (aware datetimes)."""

    trading_day: dt.date
    day_opens: dt.datetime
    starts: dt.datetime
    ends: dt.datetime

    def hours_open(self, at: dt.datetime) -> Decimal:
        """Hours of trading so far (at least half an hour, to damp the morning)."""
        return _hours(at - self.day_opens)

    def pace_from(self, at: dt.datetime) -> dt.datetime:
        """Where the "rate now" is measured from: an hour ago, or opening."""
        return max(self.day_opens, at - PACE_WINDOW)

    def pace_hours(self, at: dt.datetime) -> Decimal:
        return _hours(at - self.pace_from(at))

    def hours_left(self, at: dt.datetime) -> Decimal:
        seconds = Decimal(int((self.ends - at).total_seconds()))
        return max(seconds / Decimal(3600), ZERO)


def as_time(value: dt.time | str) -> dt.time:
    """A time field's value (an unsaved instance may still hold its "HH:MM" default)."""
    return dt.time.fromisoformat(value) if isinstance(value, str) else value


def closing_time(store: Store) -> dt.time:
    return as_time(store.trading_day_ends_at if store.is_24h else store.closes_at)


def markdown_window(
    *, store: Store, starts_at: dt.time, at: dt.datetime
) -> MarkdownWindow | None:
    """The window containing ``at`` in the store's local time, or None.

    A closing time at or before the start is taken as after midnight.
    """
    tz = store.tz
    starts_at = as_time(starts_at)
    local = at.astimezone(tz)
    close = closing_time(store)
    for day in (local.date(), local.date() - dt.timedelta(days=1)):
        starts = dt.datetime.combine(day, starts_at, tzinfo=tz)
        end_day = day if close > starts_at else day + dt.timedelta(days=1)
        ends = dt.datetime.combine(end_day, close, tzinfo=tz)
        if starts <= local < ends:
            if store.is_24h:
                day_opens = ends - dt.timedelta(days=1)
            else:
                day_opens = dt.datetime.combine(day, as_time(store.opens_at), tzinfo=tz)
                if day_opens >= starts:
                    day_opens = starts - dt.timedelta(hours=1)
            return MarkdownWindow(
                trading_day=day,
                day_opens=day_opens.astimezone(dt.UTC),
                starts=starts.astimezone(dt.UTC),
                ends=ends.astimezone(dt.UTC),
            )
    return None


def expected_remaining_demand(
    *,
    recent: Decimal,
    recent_hours: Decimal,
    today: Decimal,
    hours_open: Decimal,
    hours_left: Decimal,
) -> Decimal:
    """Units expected to sell before closing: the rate now x hours left.

    The rate now is the last hour's; after an hour without a sale it is the
    day's rate since opening.
    """
    if recent > 0 and recent_hours > 0:
        rate = recent / recent_hours
    elif today > 0 and hours_open > 0:
        rate = today / hours_open
    else:
        return ZERO
    return (rate * hours_left).quantize(Decimal("0.001"))


def markdown_percent_needed(
    *,
    stock_left: Decimal,
    expected_demand: Decimal,
    current_percent: Decimal,
    elasticity: Decimal,
    step_percent: Decimal,
    floor: Decimal,
) -> Decimal:
    """The % off list that should sell ``stock_left`` by closing (module doc).

    Never less than ``current_percent`` (a markdown only deepens within a day)
    and never deeper than the floor allows.
    """
    max_percent = (1 - floor) * HUNDRED
    if stock_left <= 0 or expected_demand >= stock_left:
        return current_percent
    if expected_demand <= 0:
        return max_percent
    rise = stock_left / expected_demand - 1
    needed = current_percent + rise / elasticity * HUNDRED
    steps = (needed / step_percent).to_integral_value(rounding=ROUND_CEILING)
    return max(current_percent, min(steps * step_percent, max_percent))
