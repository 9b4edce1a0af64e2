"""The daily sales history, folded from the stock ledger.

What counts as a sale: the ledger's ``sale_in_store`` (till) and ``pick``
(online order picked) rows, both channels; reservations are not sales (a
reservation that is released never left the shelf). Units sold are
``-on_hand_delta``; revenue is units x ``unit_price`` (the price charged), and
the day's average price is revenue / units. A sale row without a price adds
units but no revenue.

Days are the store's trading days (``inventory.forecast.days``).

Censored days (``DailySales.sold_out``): the ledger replayed in order gives each
store product's running on hand. A day is flagged sold out when on hand was
zero at some moment of its opening hours (``TradingCalendar.open_days``): a
movement left it at zero (a sale took the last unit, a write-off or count
emptied the shelf), or it was still at zero from a day before (an empty shelf
with no movement gets a row of its own: quantity 0, sold out, so a model never
reads a stock-out as a day without demand). Units sold on such a day are a
floor of the demand, not the demand. A shelf empty only while the store is
closed hid no demand: daily fresh written off at closing and received before
the next opening censors neither day (were it flagged, every daily-fresh day
would be censored, and the cheap methods' floor for censored days would ratchet
their forecast up night after night).

Incremental: ``SalesWatermark.last_movement_id`` is the last ledger row
folded. A fold locks the store's watermark row (``SELECT ... FOR UPDATE``), so
two folds of a store run one after the other and the second finds nothing
left; rows and the watermark move in one transaction, so a fold that dies
leaves both as they were. Only rows older than ``HEMA_SALES_SETTLE_SECONDS``
are folded: ids are handed out at insert but become visible at commit, so a
row committed late could carry an id below one already folded; waiting for
rows to settle keeps the watermark below any transaction still open (stock
transactions last milliseconds). The running on hand at the watermark is the
store product's count minus the ledger rows after it (the counts equal the
ledger: the nightly reconcile checks it).

Sources: a row imported from a former till system or written by the demo
history is never changed by the ledger: sales the ledger holds for such a day
are not added to it (the import is the record of that day).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, Max, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from inventory.forecast.days import TradingCalendar
from inventory.forecast.models import DailySales, SalesSource, SalesWatermark
from inventory.models import MovementKind, StockMovement, Store, StoreProduct

logger = logging.getLogger(__name__)

SALE_KINDS = (MovementKind.SALE_IN_STORE, MovementKind.PICK)
ZERO = Decimal(0)
CENT = Decimal("0.01")
CHUNK = 20_000
WRITE_BATCH = 2_000
# Ledger rows after the watermark are read from at most this far before the
# watermark's own row (they were inserted after it, give or take a settle).
TAIL_MARGIN = dt.timedelta(days=1)


@dataclass(frozen=True)
class FoldResult:
    """What one fold or rebuild did."""

    store_code: str
    movements: int
    rows_written: int
    last_movement_id: int


@dataclass
class _Shelf:
    """One store product during the replay."""

    on_hand: Decimal = ZERO
    # When on hand last reached zero and stayed there; None while stocked.
    zero_since: dt.datetime | None = None
    active: bool = True


@dataclass
class _Day:
    quantity: Decimal = ZERO
    revenue: Decimal = ZERO
    sold_out: bool = False


@dataclass
class _Replay:
    """Replays ledger rows in id order into per-day totals, written in chunks."""

    calendar: TradingCalendar
    shelves: dict[int, _Shelf]
    days: dict[tuple[int, dt.date], _Day] = field(default_factory=dict)
    movements: int = 0
    rows_written: int = 0

    def _mark_empty(self, sp_id: int, since: dt.datetime, until: dt.datetime) -> None:
        """Flag the days whose opening hours the empty span [since, until) met."""
        for day in self.calendar.open_days(since, until):
            self.days.setdefault((sp_id, day), _Day()).sold_out = True

    def apply(
        self,
        sp_id: int,
        kind: str,
        on_hand_delta: Decimal,
        unit_price: Decimal | None,
        at: dt.datetime,
    ) -> None:
        shelf = self.shelves.setdefault(sp_id, _Shelf())
        day = self.calendar.day_of(at)
        if shelf.zero_since is not None:
            self._mark_empty(sp_id, shelf.zero_since, at)
        shelf.on_hand += on_hand_delta
        if kind in SALE_KINDS:
            sold = -on_hand_delta
            total = self.days.setdefault((sp_id, day), _Day())
            total.quantity += sold
            if unit_price is not None:
                total.revenue += sold * unit_price
        shelf.zero_since = at if shelf.on_hand <= 0 else None
        self.movements += 1

    def close(self, until: dt.datetime) -> None:
        """Shelves still empty at ``until`` are sold out every day they were
        empty while the store was open, up to it."""
        for sp_id, shelf in self.shelves.items():
            if shelf.zero_since is not None and shelf.active:
                self._mark_empty(sp_id, shelf.zero_since, until)

    def flush(self) -> None:
        """Add the totals so far to the history; ledger rows only."""
        if not self.days:
            return
        sp_ids = {sp_id for sp_id, _ in self.days}
        day_list = [day for _, day in self.days]
        existing = {
            (row.store_product_id, row.day): row
            for row in DailySales.objects.select_for_update()
            .filter(
                store_product_id__in=sp_ids,
                day__gte=min(day_list),
                day__lte=max(day_list),
            )
            .order_by("pk")
        }
        new, changed = [], []
        for (sp_id, day), total in self.days.items():
            row = existing.get((sp_id, day))
            if row is None:
                row = DailySales(
                    store_product_id=sp_id, day=day, source=SalesSource.LEDGER
                )
                new.append(row)
            elif row.source != SalesSource.LEDGER:
                continue
            else:
                changed.append(row)
            row.quantity += total.quantity
            row.revenue = (row.revenue + total.revenue).quantize(CENT, ROUND_HALF_UP)
            row.average_price = _average(row.quantity, row.revenue)
            row.sold_out = row.sold_out or total.sold_out
        # A row an import wrote meanwhile wins (its day is the import's).
        DailySales.objects.bulk_create(
            new, batch_size=WRITE_BATCH, ignore_conflicts=True
        )
        DailySales.objects.bulk_update(
            changed,
            ["quantity", "revenue", "average_price", "sold_out", "updated_at"],
            batch_size=WRITE_BATCH,
        )
        self.rows_written += len(new) + len(changed)
        self.days = {}


def _average(quantity: Decimal, revenue: Decimal) -> Decimal | None:
    if quantity <= 0 or revenue <= 0:
        return None
    return (revenue / quantity).quantize(CENT, ROUND_HALF_UP)


def _settle() -> dt.timedelta:
    return dt.timedelta(seconds=settings.HEMA_SALES_SETTLE_SECONDS)


def _lock_watermark(store: Store) -> SalesWatermark:
    SalesWatermark.objects.get_or_create(store=store)
    return SalesWatermark.objects.select_for_update().get(store=store)


def _settled_high(store: Store, after: int, cutoff: dt.datetime) -> int | None:
    return StockMovement.objects.filter(
        store_product__store=store, pk__gt=after, created_at__lte=cutoff
    ).aggregate(high=Max("pk"))["high"]


def _rows(store: Store, *, after: int, high: int, since: dt.datetime | None):
    """The store's ledger rows ``after < id <= high`` in id order, in chunks."""
    rows = StockMovement.objects.filter(store_product__store=store, pk__lte=high)
    if since is not None:
        rows = rows.filter(created_at__gte=since)
    while True:
        chunk = list(
            rows.filter(pk__gt=after)
            .order_by("pk")
            .values_list(
                "pk",
                "store_product_id",
                "kind",
                "on_hand_delta",
                "unit_price",
                "created_at",
            )[:CHUNK]
        )
        if not chunk:
            return
        yield chunk
        after = chunk[-1][0]


def _replay(replay: _Replay, chunks: Iterable[list[tuple]], until: dt.datetime) -> None:
    for chunk in chunks:
        for _pk, sp_id, kind, delta, price, at in chunk:
            replay.apply(sp_id, kind, delta, price, at)
        replay.flush()
    replay.close(until)
    replay.flush()


def _shelves_at_watermark(store: Store, watermark: int) -> dict[int, _Shelf]:
    """Each store product's on hand just after ledger row ``watermark``: its count
    minus the rows after it, read in one statement (one snapshot)."""
    if watermark == 0:
        return {
            sp_id: _Shelf(active=active)
            for sp_id, active in StoreProduct.objects.filter(store=store).values_list(
                "pk", "is_active"
            )
        }
    mark = StockMovement.objects.filter(pk=watermark).values("created_at").first()
    since = (mark["created_at"] if mark else timezone.now()) - TAIL_MARGIN
    after = StockMovement.objects.filter(
        store_product=OuterRef("pk"), created_at__gte=since, pk__gt=watermark
    )
    tail = after.values("store_product").annotate(s=Sum("on_hand_delta")).values("s")
    had_stock = StockMovement.objects.filter(
        store_product=OuterRef("pk"), pk__lte=watermark
    )
    shelves = {}
    for sp_id, on_hand, tail_sum, had, active in (
        StoreProduct.objects.filter(store=store)
        .annotate(
            tail=Coalesce(Subquery(tail), Value(ZERO)),
            had=Exists(had_stock),
        )
        .values_list("pk", "on_hand", "tail", "had", "is_active")
    ):
        level = on_hand - tail_sum
        zero_since = mark["created_at"] if had and level <= 0 and mark else None
        shelves[sp_id] = _Shelf(on_hand=level, zero_since=zero_since, active=active)
    return shelves


def _shelves_before(store: Store, since: dt.datetime) -> dict[int, _Shelf]:
    """Each store product's on hand at ``since``: the ledger's sum before it."""
    before = StockMovement.objects.filter(
        store_product=OuterRef("pk"), created_at__lt=since
    )
    level = before.values("store_product").annotate(s=Sum("on_hand_delta")).values("s")
    shelves = {}
    for sp_id, on_hand, had, active in (
        StoreProduct.objects.filter(store=store)
        .annotate(level=Coalesce(Subquery(level), Value(ZERO)), had=Exists(before))
        .values_list("pk", "level", "had", "is_active")
    ):
        zero_since = since if had and on_hand <= 0 else None
        shelves[sp_id] = _Shelf(on_hand=on_hand, zero_since=zero_since, active=active)
    return shelves


def _fold_locked(
    store: Store, mark: SalesWatermark, now: dt.datetime
) -> tuple[_Replay, int]:
    cutoff = now - _settle()
    start = mark.last_movement_id
    high = _settled_high(store, start, cutoff)
    replay = _Replay(TradingCalendar(store), _shelves_at_watermark(store, start))
    chunks = [] if high is None else _rows(store, after=start, high=high, since=None)
    _replay(replay, chunks, cutoff)
    if high is not None:
        SalesWatermark.objects.filter(pk=mark.pk).update(
            last_movement_id=high, updated_at=now
        )
        mark.last_movement_id = high
    return replay, mark.last_movement_id


def sales_history_fold(*, store: Store, now: dt.datetime | None = None) -> FoldResult:
    """Fold the store's ledger rows since its watermark into the daily history.

    Safe to run twice and at once: the watermark row is locked for the fold, so
    a second fold waits and then finds nothing new. Reads and writes only the
    history and the watermark (no stock row is locked).
    """
    now = now or timezone.now()
    with transaction.atomic():
        mark = _lock_watermark(store)
        replay, last = _fold_locked(store, mark, now)
    return FoldResult(store.code, replay.movements, replay.rows_written, last)


def sales_history_rebuild(
    *, store: Store, since: dt.date | None = None, now: dt.datetime | None = None
) -> FoldResult:
    """Recompute the store's ledger-sourced history from the ledger.

    From the trading day ``since`` on (everything without it): the ledger rows
    of those days are deleted and the ledger replayed, with on hand at the
    start of ``since`` summed from the ledger. Imported and demo rows are kept.
    Takes the watermark lock (an hourly fold waits) and first folds whatever is
    new, so the watermark ends where an incremental fold would have left it.
    """
    now = now or timezone.now()
    calendar = TradingCalendar(store)
    with transaction.atomic():
        mark = _lock_watermark(store)
        _fold_locked(store, mark, now)
        history = DailySales.objects.filter(
            store_product__store=store, source=SalesSource.LEDGER
        )
        if since is None:
            history.delete()
            shelves = {
                sp_id: _Shelf(active=active)
                for sp_id, active in StoreProduct.objects.filter(
                    store=store
                ).values_list("pk", "is_active")
            }
            starts = None
        else:
            history.filter(day__gte=since).delete()
            starts = calendar.start_of(since)
            shelves = _shelves_before(store, starts)
        replay = _Replay(calendar, shelves)
        high = mark.last_movement_id
        chunks = _rows(store, after=0, high=high, since=starts) if high else []
        _replay(replay, chunks, now - _settle())
    logger.info(
        "sales history of %s rebuilt from %s: %s ledger rows, %s days",
        store.code,
        since or "the start",
        replay.movements,
        replay.rows_written,
    )
    return FoldResult(store.code, replay.movements, replay.rows_written, high)
