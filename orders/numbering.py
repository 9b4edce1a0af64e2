"""Order numbers people can read out: store, local day, a counter (SH01-20261124-0042).

A number is taken in its own short transaction, before the checkout's, so that the
counter row is never locked for the length of a checkout. A checkout that fails
after taking a number leaves a gap, which is harmless.
"""

import datetime as dt

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from inventory.models import Store
from orders.models import OrderSequence


def order_number_next(*, store: Store, at: dt.datetime | None = None) -> str:
    day = timezone.localtime(at or timezone.now(), store.tz).date()
    for _ in range(3):
        with transaction.atomic():
            updated = OrderSequence.objects.filter(store=store, day=day).update(
                last=F("last") + 1
            )
            if updated:
                last = OrderSequence.objects.get(store=store, day=day).last
                return f"{store.code}-{day:%Y%m%d}-{last:04d}"
        try:
            with transaction.atomic():
                OrderSequence.objects.create(store=store, day=day, last=1)
        except IntegrityError:
            continue  # another checkout created today's row first: update it
        return f"{store.code}-{day:%Y%m%d}-0001"
    raise RuntimeError("could not allocate an order number")  # pragma: no cover
