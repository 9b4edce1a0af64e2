"""Order numbers people can read out: store, local day, a counter (SH01-20261124-0042).

A number is taken inside the checkout's transaction by one statement (an insert
of the day's counter row that, if the row exists, adds one to it and returns
the new value). The counter row stays locked until the checkout commits or
rolls back, so a store's numbers follow the order of its checkouts' commits and
a checkout that rolls back gives its number back: no gaps. The lock is the last
one a checkout takes before the stock rows (cart, wallet, counter, stock) and no
other transaction takes it, so it cannot deadlock.
"""

import datetime as dt

from django.db import connection
from django.utils import timezone

from inventory.models import Store
from orders.models import OrderSequence


def _next_sql() -> str:
    quote = connection.ops.quote_name
    table = quote(OrderSequence._meta.db_table)
    store = quote(OrderSequence._meta.get_field("store").column)
    day = quote(OrderSequence._meta.get_field("day").column)
    last = quote(OrderSequence._meta.get_field("last").column)
    # PostgreSQL and SQLite (3.35+) both speak this upsert. Only quoted names from
    # the model are formatted in; the values are parameters.
    return (
        f"INSERT INTO {table} ({store}, {day}, {last}) VALUES (%s, %s, 1) "  # noqa: S608
        f"ON CONFLICT ({store}, {day}) DO UPDATE SET {last} = {table}.{last} + 1 "
        f"RETURNING {last}"
    )


def order_number_next(*, store: Store, at: dt.datetime | None = None) -> str:
    """The next number of ``store`` for the local day of ``at`` (now by default).

    Locks the day's counter row until the caller's transaction ends."""
    day = timezone.localtime(at or timezone.now(), store.tz).date()
    with connection.cursor() as cursor:
        cursor.execute(
            _next_sql(), [store.pk, connection.ops.adapt_datefield_value(day)]
        )
        (last,) = cursor.fetchone()
    return f"{store.code}-{day:%Y%m%d}-{last:04d}"
