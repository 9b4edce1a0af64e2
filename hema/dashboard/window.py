"""Which moments "today so far" and "the same weekday last week" cover.

Days are the store's trading days (``inventory.forecast.days``), in its own
time zone: a manager in Shanghai reads Shanghai hours whatever the server's
zone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from inventory.forecast.days import TradingCalendar
from inventory.models import Store

WEEK = dt.timedelta(days=7)


@dataclass(frozen=True)
class DayWindow:
    """Today's trading day up to ``now`` and the same span a week earlier."""

    store: Store
    now: dt.datetime
    tz: ZoneInfo
    day: dt.date
    start: dt.datetime
    end: dt.datetime
    last_week_start: dt.datetime
    last_week_now: dt.datetime
    last_week_end: dt.datetime

    def local(self, moment: dt.datetime | None) -> dt.datetime | None:
        return None if moment is None else moment.astimezone(self.tz)


def day_window(*, store: Store, now: dt.datetime) -> DayWindow:
    """The window of the trading day ``now`` falls in, for ``store``."""
    calendar = TradingCalendar(store)
    day = calendar.day_of(now)
    start = calendar.start_of(day)
    end = calendar.start_of(day + dt.timedelta(days=1))
    last_start = calendar.start_of(day - WEEK)
    return DayWindow(
        store=store,
        now=now,
        tz=store.tz,
        day=day,
        start=start,
        end=end,
        last_week_start=last_start,
        last_week_now=last_start + (now - start),
        last_week_end=calendar.start_of(day - WEEK + dt.timedelta(days=1)),
    )
