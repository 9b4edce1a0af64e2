"""What the report counts as a stock-out: a shopper finding the shelf empty
while the product is on sale at full price. A daily-fresh shelf emptied once
the evening markdown has begun is the markdown doing its job (DOMAIN.md)."""

import datetime as dt
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from simulation.figures import _stock
from simulation.shoppers import Shelf
from simulation.store_run import DayTally, _stockout

SHANGHAI = ZoneInfo("Asia/Shanghai")


def shelf(pk: int, sku: str) -> Shelf:
    return Shelf(pk, sku, "bakery", False, True)


def run_at(hour: int, tally: DayTally) -> SimpleNamespace:
    now = dt.datetime(2026, 3, 2, hour, 10, tzinfo=SHANGHAI).astimezone(dt.UTC)
    return SimpleNamespace(
        d=SimpleNamespace(clock=SimpleNamespace(now=now)),
        now=now,
        store=SimpleNamespace(tz=SHANGHAI),
        tally=tally,
        daily_fresh={1},
    )


def test_a_daily_fresh_shelf_empty_after_the_markdown_began_is_no_stock_out():
    tally = DayTally(products=4)
    bread, rice = shelf(1, "BREAD"), shelf(3, "RICE")
    _stockout(run_at(18, tally), "in_store", rice)  # full price: counts
    tally.markdown_started = True
    _stockout(run_at(21, tally), "app", bread)  # daily fresh, marked down: not
    _stockout(run_at(21, tally), "in_store", bread)  # the same product again
    _stockout(run_at(21, tally), "in_store", rice)  # not daily fresh: counts once

    figures = _stock([tally])

    assert tally.short_at_full_price == {"RICE"}
    assert figures["product_days_short"] == 1
    assert figures["product_days_short_daily_fresh"] == 0
    assert figures["stockout_rate"] == 0.25
    assert figures["product_days_short_any_time"] == 2
    assert figures["shopper_stockouts"] == {"in_store": 3, "app": 1}


def test_a_daily_fresh_shelf_empty_before_the_markdown_is_a_stock_out():
    tally = DayTally(products=2)
    _stockout(run_at(12, tally), "in_store", shelf(1, "BREAD"))
    figures = _stock([tally])
    assert figures["product_days_short"] == 1
    assert figures["product_days_short_daily_fresh"] == 1
