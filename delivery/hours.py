"""When a store delivers: its opening hours, in its own time zone.

A window (or the express promise) is offered only if it lies wholly within one
day's opening hours; a store open 24 hours always delivers. Riders and pickers
work the store's hours, so a promise that ends after closing is one nobody
would keep.
"""

from __future__ import annotations

import datetime as dt

from inventory.models import Store

_TICK = dt.timedelta(microseconds=1)


def _opening_on(store: Store, day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    tz = store.tz
    opens = dt.datetime.combine(day, store.opens_at, tzinfo=tz)
    closes = dt.datetime.combine(day, store.closes_at, tzinfo=tz)
    return opens, closes


def open_through(*, store: Store, starts: dt.datetime, ends: dt.datetime) -> bool:
    """Whether the store is open from ``starts`` until ``ends`` (one day)."""
    if store.is_24h:
        return True
    first = starts.astimezone(store.tz)
    opens, closes = _opening_on(store, first.date())
    return opens <= starts and ends <= closes


def next_opening(*, store: Store, at: dt.datetime) -> dt.datetime:
    """``at`` when the store is open then, else when it next opens (UTC)."""
    if store.is_24h:
        return at
    local = at.astimezone(store.tz)
    opens, closes = _opening_on(store, local.date())
    if at < opens:
        return opens.astimezone(dt.UTC)
    if at < closes - _TICK:
        return at
    tomorrow, _ = _opening_on(store, local.date() + dt.timedelta(days=1))
    return tomorrow.astimezone(dt.UTC)
