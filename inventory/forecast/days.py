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
"""

from __future__ import annotations

import datetime as dt

from inventory.models import Store

MIDNIGHT = dt.time(0)
NOON = dt.time(12)


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


def trading_day(store: Store, at: dt.datetime) -> dt.date:
    """The trading day of the aware moment ``at`` at ``store``."""
    return TradingCalendar(store).day_of(at)
