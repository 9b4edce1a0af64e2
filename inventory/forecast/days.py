"""The store's trading day: which day a sale counts towards.

A sale counts towards the store's local day (``Store.time_zone``), except
around a day that does not end at midnight:

* a 24-hour store ends its trading day at ``trading_day_ends_at``;
* another store ends it at closing time when it closes after midnight
  (``closes_at`` earlier than ``opens_at``); one closing in the evening keeps
  the calendar day (a late pick after closing still counts to that day).

A day ending at or before noon is named by the date it starts on (a store
closing at 01:00 counts a 00:30 sale to the day before); a day ending in the
afternoon or evening is named by the date it ends on (a 24-hour store whose
trading day ends at 22:00 counts a 22:30 sale to the next day). Markdowns
(``pricing.markdowns``) use the same day end.

``open_days`` says on which trading days a span of time fell inside opening
hours: the sales history censors a day only when the shelf was empty while
shoppers could have bought (an empty shelf overnight, refilled before opening,
hid no demand).
"""

from __future__ import annotations

import datetime as dt

from inventory.models import Store

MIDNIGHT = dt.time(0)
NOON = dt.time(12)
ONE_DAY = dt.timedelta(days=1)
EPSILON = dt.timedelta(microseconds=1)


def _as_time(value: dt.time | str) -> dt.time:
    return dt.time.fromisoformat(value) if isinstance(value, str) else value


def day_end(store: Store) -> dt.time | None:
    """The local time the store's trading day ends, None for midnight."""
    if store.is_24h:
        end = _as_time(store.trading_day_ends_at)
    else:
        closes, opens = _as_time(store.closes_at), _as_time(store.opens_at)
        end = closes if closes < opens else MIDNIGHT
    return None if end == MIDNIGHT else end


def _offset(end: dt.time) -> dt.timedelta:
    return dt.timedelta(hours=end.hour, minutes=end.minute, seconds=end.second)


class TradingCalendar:
    """One store's trading days (the time zone and day end read once)."""

    def __init__(self, store: Store) -> None:
        self.tz = store.tz
        self.end = day_end(store)
        self.is_24h = store.is_24h
        self.opens = _as_time(store.opens_at)
        self.closes = _as_time(store.closes_at)

    def day_of(self, at: dt.datetime) -> dt.date:
        """The trading day of the aware moment ``at``."""
        local = at.astimezone(self.tz)
        end = self.end
        if end is None:
            return local.date()
        if end <= NOON:
            return (local.replace(tzinfo=None) - _offset(end)).date()
        if local.time() >= end:
            return local.date() + dt.timedelta(days=1)
        return local.date()

    def start_of(self, day: dt.date) -> dt.datetime:
        """The aware moment (UTC) the trading day ``day`` starts."""
        end = self.end
        if end is None:
            start = dt.datetime.combine(day, MIDNIGHT, tzinfo=self.tz)
        elif end <= NOON:
            start = dt.datetime.combine(day, end, tzinfo=self.tz)
        else:
            start = dt.datetime.combine(day - dt.timedelta(days=1), end, tzinfo=self.tz)
        return start.astimezone(dt.UTC)

    def open_days(self, start: dt.datetime, end: dt.datetime) -> list[dt.date]:
        """The trading days on which the store was open for part of [start, end).

        A 24-hour store is open all of every trading day. Another is open from
        ``opens_at`` to ``closes_at`` (the next day's, when it closes after
        midnight); a span touching those hours only at an end is not inside.
        """
        if end <= start:
            return []
        if self.is_24h:
            first, last = self.day_of(start), self.day_of(end - EPSILON)
            return [
                first + dt.timedelta(days=i) for i in range((last - first).days + 1)
            ]
        days: set[dt.date] = set()
        local = start.astimezone(self.tz).date() - ONE_DAY
        while local <= end.astimezone(self.tz).date():
            opens = dt.datetime.combine(local, self.opens, tzinfo=self.tz)
            closing_date = local if self.closes > self.opens else local + ONE_DAY
            closes = dt.datetime.combine(closing_date, self.closes, tzinfo=self.tz)
            overlap_from = max(start, opens)
            if overlap_from < min(end, closes):
                days.add(self.day_of(overlap_from))
            local += ONE_DAY
        return sorted(days)


def trading_day(store: Store, at: dt.datetime) -> dt.date:
    """The trading day of the aware moment ``at`` at ``store``."""
    return TradingCalendar(store).day_of(at)
