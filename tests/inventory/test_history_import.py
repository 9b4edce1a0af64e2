"""``import_sales`` and ``import_weather``: all or nothing, every problem by line."""

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Sum

from inventory.forecast.models import DailySales, SalesSource
from inventory.models import SaleUnit
from inventory.weather import StoreWeather
from tests.factories import ProductFactory, StoreFactory, StoreProductFactory

D = Decimal
pytestmark = pytest.mark.django_db


@pytest.fixture
def skus(store):
    apple = StoreProductFactory(store=store, product=ProductFactory(sku="APPLE"))
    grapes = StoreProductFactory(
        store=store, product=ProductFactory(sku="GRAPES", sale_unit=SaleUnit.KILOGRAM)
    )
    # Sold elsewhere only.
    StoreProductFactory(
        store=StoreFactory(code="BJ01"), product=ProductFactory(sku="DURIAN")
    )
    return {"APPLE": apple, "GRAPES": grapes}


def write(tmp_path, text: str, name: str = "sales.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def run(command: str, *args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(command, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def rows() -> dict:
    return {
        (r.store_product.product.sku, r.day): (
            r.quantity,
            r.revenue,
            r.average_price,
            r.sold_out,
            r.source,
        )
        for r in DailySales.objects.select_related("store_product__product")
    }


GOOD = """date,sku,units,average_price,sold_out
2026-03-01,APPLE,12,3.50,0
2026-03-01,GRAPES,2.345,18.00,
2026-03-02,APPLE,7,,1
"""


def test_a_good_file_is_imported_and_a_second_import_replaces(store, skus, tmp_path):
    DailySales.objects.create(  # the ledger had something for that day
        store_product=skus["APPLE"], day=dt.date(2026, 3, 2), quantity=D(1)
    )
    out, _ = run("import_sales", "--store", "SH01", write(tmp_path, GOOD))
    assert "3 sales rows imported from 2026-03-01 to 2026-03-02" in out
    expected = {
        ("APPLE", dt.date(2026, 3, 1)): (D(12), D("42.00"), D("3.50"), False, "import"),
        ("GRAPES", dt.date(2026, 3, 1)): (
            D("2.345"),
            D("42.21"),
            D("18.00"),
            False,
            "import",
        ),
        ("APPLE", dt.date(2026, 3, 2)): (D(7), D(0), None, True, "import"),
    }
    assert rows() == expected

    changed = GOOD.replace("2026-03-01,APPLE,12,3.50", "2026-03-01,APPLE,10,3.00")
    run("import_sales", "--store", "SH01", write(tmp_path, changed))
    assert DailySales.objects.count() == 3
    apple = expected[("APPLE", dt.date(2026, 3, 1))] = (
        D(10),
        D("30.00"),
        D("3.00"),
        False,
        SalesSource.IMPORT,
    )
    assert rows()[("APPLE", dt.date(2026, 3, 1))] == apple
    assert rows() == expected


def test_every_problem_is_reported_by_line_and_nothing_is_imported(
    store, skus, tmp_path
):
    DailySales.objects.create(
        store_product=skus["APPLE"], day=dt.date(2026, 3, 1), quantity=D(4)
    )
    bad = (
        "date,sku,units,average_price,sold_out\n"
        "2026-03-01,APPLE,12,3.50,0\n"  # 2: good
        "2026-02-30,APPLE,1,,\n"  # 3: no such date
        "2026-03-02,PEAR,1,,\n"  # 4: unknown SKU
        "2026-03-02,DURIAN,1,,\n"  # 5: not sold at SH01
        "2026-03-02,APPLE,-1,,\n"  # 6: negative
        "2026-03-03,APPLE,lots,,\n"  # 7: not a number
        "2026-03-04,APPLE,1.5,,\n"  # 8: half an apple
        "2026-03-05,GRAPES,1,cheap,\n"  # 9: bad price
        "2026-03-06,GRAPES,1,-2,\n"  # 10: negative price
        "2026-03-01,APPLE,3,,\n"  # 11: the same day and SKU as line 2
        "2099-01-01,APPLE,1,,\n"  # 12: the future
        "2026-03-07,APPLE,1,,maybe\n"  # 13: sold_out?
        "2026-03-08,APPLE\n"  # 14: too few fields
    )
    with pytest.raises(CommandError, match="12 problem"):
        run("import_sales", "--store", "SH01", write(tmp_path, bad))
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command(
            "import_sales", "--store", "SH01", write(tmp_path, bad), stderr=err
        )
    lines = [line.split(":", 2)[1] for line in err.getvalue().splitlines()]
    assert lines == [str(n) for n in range(3, 15)]
    report = err.getvalue()
    for needle in (
        "bad date '2026-02-30'",
        "unknown SKU 'PEAR'",
        "SKU 'DURIAN' is not sold at SH01",
        "units -1 is negative",
        "units 'lots' is not a number",
        "APPLE is sold by the piece",
        "average_price 'cheap' is not a number",
        "average_price -2 is out of range",
        "2026-03-01 APPLE again (first on line 2)",
        "date 2099-01-01 is in the future",
        "sold_out 'maybe'",
        "2 fields, expected 5",
    ):
        assert needle in report
    assert rows() == {
        ("APPLE", dt.date(2026, 3, 1)): (D(4), D(0), None, False, "ledger")
    }


def test_a_dry_run_checks_and_writes_nothing(store, skus, tmp_path):
    out, _ = run("import_sales", "--store", "SH01", write(tmp_path, GOOD), "--dry-run")
    assert "3 sales rows are good" in out
    assert DailySales.objects.count() == 0


def test_a_file_without_the_needed_columns_is_refused(store, skus, tmp_path):
    err = io.StringIO()
    path = write(tmp_path, "day,sku,qty\n2026-03-01,APPLE,1\n")
    with pytest.raises(CommandError, match="2 problem"):
        call_command("import_sales", "--store", "SH01", path, stderr=err)
    assert "missing column(s): date, units" in err.getvalue()
    assert "unknown column(s): day, qty" in err.getvalue()
    with pytest.raises(CommandError, match="no store 'XX99'"):
        call_command("import_sales", "--store", "XX99", path)


WEATHER = """date,temperature,precipitation
2026-03-01,8.44,1.00
2026-03-02,-1.0,2.4
2026-03-03,12,0
"""


def hours_of(store, day: dt.date):
    start = dt.datetime.combine(day, dt.time(0), tzinfo=store.tz)
    return StoreWeather.objects.filter(
        store=store, hour__gte=start, hour__lt=start + dt.timedelta(days=1)
    )


def test_weather_days_become_observed_hours_that_add_up(store, tmp_path):
    StoreWeather.objects.create(  # an old forecast for one of those hours
        store=store,
        hour=dt.datetime(2026, 3, 1, 2, tzinfo=dt.UTC),
        temperature=D(30),
        precipitation=D(0),
        condition="clear",
        is_forecast=True,
        fetched_at=dt.datetime(2026, 2, 28, tzinfo=dt.UTC),
    )
    out, _ = run("import_weather", "--store", "SH01", write(tmp_path, WEATHER))
    assert "3 weather rows imported" in out
    assert StoreWeather.objects.count() == 72
    first = hours_of(store, dt.date(2026, 3, 1))
    assert first.count() == 24
    assert first.aggregate(s=Sum("precipitation"))["s"] == D("1.00")
    assert set(first.values_list("temperature", flat=True)) == {D("8.4")}
    assert not first.filter(is_forecast=True).exists()
    # 1 mm over 24 hours: 0.05 mm in the first 4 hours, 0.04 mm after.
    assert list(first.order_by("hour").values_list("precipitation", flat=True))[
        3:5
    ] == [D("0.05"), D("0.04")]
    assert set(first.values_list("condition", flat=True)) == {"rain"}
    assert set(
        hours_of(store, dt.date(2026, 3, 2)).values_list("condition", flat=True)
    ) == {"snow"}
    assert set(
        hours_of(store, dt.date(2026, 3, 3)).values_list("condition", flat=True)
    ) == {"clear"}
    run("import_weather", "--store", "SH01", write(tmp_path, WEATHER))
    assert StoreWeather.objects.count() == 72


def test_a_daylight_saving_day_has_23_hours():
    store = StoreFactory(code="NY01", time_zone="America/New_York")
    from inventory.forecast.imports import local_hours

    assert len(local_hours(store, dt.date(2026, 3, 8))) == 23
    assert len(local_hours(store, dt.date(2026, 11, 1))) == 25


def test_bad_weather_lines_are_reported_and_nothing_is_written(store, tmp_path):
    bad = (
        "date,temperature,precipitation\n"
        "2026-03-01,8,1\n"
        "2026-03-01,9,0\n"  # 3: the same day again
        "01/03/2026,8,1\n"  # 4: bad date
        "2026-03-04,warm,1\n"  # 5: not a number
        "2026-03-05,8,-3\n"  # 6: negative precipitation
        "2026-03-06,150,0\n"  # 7: out of range
    )
    err = io.StringIO()
    with pytest.raises(CommandError, match="5 problem"):
        call_command(
            "import_weather", "--store", "SH01", write(tmp_path, bad), stderr=err
        )
    assert [line.split(":", 2)[1] for line in err.getvalue().splitlines()] == [
        "3",
        "4",
        "5",
        "6",
        "7",
    ]
    assert "2026-03-01 again (first on line 2)" in err.getvalue()
    assert not StoreWeather.objects.exists()


def test_a_longer_file_into_an_empty_history_adds_up(store, skus, tmp_path):
    lines = ["sold_out,units,sku,date,average_price"]  # any column order
    expected_units = D(0)
    for offset in range(60):
        day = dt.date(2026, 1, 1) + dt.timedelta(days=offset)
        lines.append(f"{'yes' if offset % 7 == 0 else ''},{offset % 5},APPLE,{day},3.5")
        lines.append(f"0,{offset % 3}.250,GRAPES,{day},")
        expected_units += offset % 5 + offset % 3 + D("0.25")
    run("import_sales", "--store", "SH01", write(tmp_path, "\n".join(lines) + "\n"))

    history = DailySales.objects.filter(source=SalesSource.IMPORT)
    assert history.count() == 120
    totals = history.aggregate(units=Sum("quantity"), revenue=Sum("revenue"))
    apple_units = sum(offset % 5 for offset in range(60))
    assert totals == {"units": expected_units, "revenue": D("3.50") * apple_units}
    assert history.filter(sold_out=True).count() == 9
    assert not history.filter(
        store_product=skus["GRAPES"], average_price__isnull=False
    ).exists()
