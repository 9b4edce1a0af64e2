"""Rows of the forecast's tables and of the ledger's past, made directly.

The forecast's own jobs (the sales fold, the models, the runs) are built
elsewhere; the buffer and the admin pages only read their tables, so these
tests write the rows those jobs would write. Past sales go into the stock
ledger with a balancing receipt first, so that the ledger still sums to the
counts (nothing on hand from them).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

from inventory.forecast.models import DemandForecast, ForecastRun
from inventory.models import MovementKind, StockMovement, StoreProduct

D = Decimal


def forecast_run(store, *, kind: str = "predict", origin: dt.date, **fields):
    started = fields.pop(
        "started_at", dt.datetime.combine(origin, dt.time(1), tzinfo=dt.UTC)
    )
    return ForecastRun.objects.create(
        store=store,
        kind=kind,
        origin=origin,
        state=fields.pop("state", "done"),
        started_at=started,
        finished_at=fields.pop("finished_at", started + dt.timedelta(seconds=30)),
        **fields,
    )


def demand_forecast(
    store_product: StoreProduct,
    day: dt.date,
    quantity: str | Decimal,
    *,
    run: ForecastRun,
    lower: str | Decimal | None = None,
    upper: str | Decimal | None = None,
    method: str = "prophet",
    made_on: dt.date | None = None,
) -> DemandForecast:
    quantity = D(quantity)
    return DemandForecast.objects.create(
        store_product=store_product,
        day=day,
        quantity=quantity,
        lower=D(lower) if lower is not None else quantity,
        upper=D(upper) if upper is not None else quantity,
        method=method,
        run=run,
        made_on=made_on or run.origin,
    )


def past_sales(
    store_product: StoreProduct, sales: Iterable[tuple[dt.datetime, str, str]]
) -> int:
    """Ledger rows for ``(when, kind, quantity)`` sales (``sale_in_store`` or
    ``pick``) at the given aware times, after one receipt of their total.
    Returns how many sale rows were written."""
    sales = list(sales)
    total = sum((D(quantity) for _, _, quantity in sales), D(0))
    first = min(when for when, _, _ in sales)
    rows = [
        StockMovement(
            store_product=store_product,
            kind=MovementKind.RECEIVE,
            on_hand_delta=total,
            reference="history",
        ),
        *(
            StockMovement(
                store_product=store_product,
                kind=kind,
                on_hand_delta=-D(quantity),
                unit_price=store_product.list_price,
                reference="history",
            )
            for _, kind, quantity in sales
        ),
    ]
    created = StockMovement.objects.bulk_create(rows)
    times = [first - dt.timedelta(hours=1), *(when for when, _, _ in sales)]
    for row, when in zip(created, times, strict=True):
        row.created_at = when
    StockMovement.objects.bulk_update(created, ["created_at"], batch_size=1000)
    return len(sales)


def at_local(store, day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=store.tz)
