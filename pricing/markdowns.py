"""Daily-fresh markdowns: the window, the expected demand, the step.

Policy (the README repeats it):

* The window runs from the store's ``markdown_starts_at`` (default 17:00 local)
  until closing (``closes_at``; a 24-hour store uses ``trading_day_ends_at``).
  Only daily-fresh products with stock left (on hand minus what online orders
  hold) are marked down.
* Expected remaining demand = the sales rate now x the hours left. The rate
  now is the units wanted in the last hour (sold in store plus ordered online,
  minus online reservations given back), per hour; after a quiet hour it is
  the rate since opening instead, so one lull does not dump the price.
  The hours are weighed by the store's day profile (``DayProfile``: its
  share of a day's demand in each local hour over the last four weeks, read
  from the products never marked down) when it has one: the evening thins
  out after the 18:00 peak, so the flat rate at 18:30 would expect about twice
  the units the last hours bring, and the markdown would stay too shallow
  until the shelf is written off. A store without a day of ledger history yet
  counts plain hours.
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
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from inventory.models import Store

ZERO = Decimal(0)
HUNDRED = Decimal(100)
MIN_HOURS = Decimal("0.5")
PACE_WINDOW = dt.timedelta(hours=1)


@dataclass(frozen=True)
class DayProfile:
    """How a store's demand spreads over its local hours (``day_profile``).

    ``shares[h]`` is the share of a day's units wanted in local hour ``h``
    (they sum to 1). ``hours`` turns a span of time into hour-equivalents:
    24 x the share of a day's demand inside it, so a flat profile gives plain
    hours and the markdown's arithmetic keeps its units.
    """

    shares: Sequence[float]
    tz: zoneinfo.ZoneInfo | dt.tzinfo

    def hours(self, start: dt.datetime, end: dt.datetime) -> Decimal:
        total = 0.0
        at = start.astimezone(self.tz)
        end = end.astimezone(self.tz)
        while at < end:
            hour_ends = at.replace(minute=0, second=0, microsecond=0) + dt.timedelta(
                hours=1
            )
            step_end = min(hour_ends, end)
            fraction = (step_end - at).total_seconds() / 3600
            total += 24 * self.shares[at.hour] * fraction
            at = step_end
        return Decimal(f"{total:.4f}")


def _span(start: dt.datetime, end: dt.datetime, profile: DayProfile | None) -> Decimal:
    if end <= start:
        return ZERO
    if profile is not None:
        return profile.hours(start, end)
    return Decimal(int((end - start).total_seconds())) / Decimal(3600)


@dataclass(frozen=True)
class MarkdownWindow:
    """The markdown window of one trading day (aware datetimes).

    The ``hours_*`` methods count plain hours, or hour-equivalents of the
    store's ``DayProfile`` when one is given (module docstring)."""

    trading_day: dt.date
    day_opens: dt.datetime
    starts: dt.datetime
    ends: dt.datetime

    def hours_open(self, at: dt.datetime, profile: DayProfile | None = None) -> Decimal:
        """Hours of trading so far (at least half an hour, to damp the morning)."""
        return max(_span(self.day_opens, at, profile), MIN_HOURS)

    def pace_from(self, at: dt.datetime) -> dt.datetime:
        """Where the "rate now" is measured from: an hour ago, or opening."""
        return max(self.day_opens, at - PACE_WINDOW)

    def pace_hours(self, at: dt.datetime, profile: DayProfile | None = None) -> Decimal:
        return max(_span(self.pace_from(at), at, profile), MIN_HOURS)

    def hours_left(self, at: dt.datetime, profile: DayProfile | None = None) -> Decimal:
        return _span(at, self.ends, profile)


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
