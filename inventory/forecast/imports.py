"""Importing daily sales and weather history from a former till system.

Both imports are all or nothing: every line is checked, every problem is
reported with its line number, and nothing is written unless the whole file is
good (``ImportRejected`` carries the problems). ``dry_run`` checks only.

Sales (``sales_import``): one row per day and SKU, columns ``date``
(YYYY-MM-DD, the store's trading day, not in the future), ``sku`` (sold at the
store), ``units`` (0 or more; whole for products sold by the piece; up to
three decimals for weighed ones), optional ``average_price`` (the average
price charged that day, 0 or more, rounded to cents) and optional ``sold_out``
(1/0, true/false, yes/no; empty is no). A (date, sku) twice is an error. Rows
are written with ``source=import`` and replace whatever the history held for
that day (ledger, demo or an earlier import), so importing a file again
replaces, never adds. Revenue is units x average price.

On PostgreSQL the file is streamed once: each checked line goes into a
temporary table with ``COPY`` (psycopg 3), duplicates are found there with one
``GROUP BY``, and one ``INSERT ... ON CONFLICT (store_product_id, day) DO
UPDATE`` writes the history; errors roll the whole transaction back. Other
databases (SQLite: ``make run``) take a plain path: a set for duplicates and
batched upserts, fine for the files a demo uses.

Weather (``weather_import``): columns ``date`` (the store's local calendar
day), ``temperature`` (daily mean, °C) and ``precipitation`` (daily total, mm).
A day becomes one observed ``StoreWeather`` row per hour of that local day (24,
or 23/25 on a daylight-saving change): the mean temperature every hour, the
precipitation spread evenly (to the cent of a millimetre, the remainder on the
first hours, so the hours add up to the day). The condition follows the rule the
price engine reads (``WeatherSnapshot.is_rain``): no precipitation is clear,
precipitation at or below 0 °C is snow, other precipitation is rain. The hours
replace what was stored for them (an old forecast included). Hourly rows keep
one table for weather; the forecast reads a day back as the hours' mean
temperature and summed precipitation, which gives the imported figures back.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import IO, Any, NamedTuple

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from hema.errors import ApplicationError
from inventory.forecast.days import TradingCalendar
from inventory.forecast.models import DailySales, SalesSource
from inventory.models import Product, SaleUnit, Store, StoreProduct
from inventory.weather import StoreWeather, WeatherCondition

CENT = Decimal("0.01")
ZERO_MONEY = Decimal("0.00")
MILLI = Decimal("0.001")
MAX_UNITS = Decimal("999999999.999")
MAX_PRICE = Decimal("9999999999.99")
MAX_REVENUE = Decimal("999999999999.99")
REVENUE_DIGITS = 12  # units x price below 10^12 always fits the revenue column
TRUE = {"1", "true", "yes", "y", "t"}
FALSE = {"", "0", "false", "no", "n", "f"}
COPY_LINES = 20_000
NULL = "\\N"  # COPY's text format
WRITE_BATCH = 2_000


class ImportRejected(ApplicationError):
    """The file has problems; ``errors`` lists them as (line, message)."""

    code = "import_rejected"

    def __init__(self, errors: list[tuple[int, str]]) -> None:
        self.errors = sorted(errors)
        super().__init__(
            f"{len(self.errors)} problem(s) found; nothing was imported.",
            {"errors": [f"line {n}: {m}" for n, m in self.errors]},
        )


@dataclass
class ImportResult:
    rows: int
    written: int
    dry_run: bool
    first_day: dt.date | None = None
    last_day: dt.date | None = None


@dataclass
class _Problems:
    items: list[tuple[int, str]] = field(default_factory=list)

    def add(self, line: int, message: str) -> None:
        self.items.append((line, message))


def _decimal(text: str) -> Decimal | None:
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _header(
    reader: Iterator[list[str]],
    required: tuple[str, ...],
    optional: tuple[str, ...],
    problems: _Problems,
) -> dict[str, int] | None:
    try:
        names = [name.strip().lower() for name in next(reader)]
    except StopIteration:
        problems.add(1, "the file is empty (a header line is needed)")
        return None
    columns = {name: index for index, name in enumerate(names)}
    missing = [name for name in required if name not in columns]
    unknown = [name for name in names if name not in (*required, *optional)]
    if missing:
        problems.add(1, f"missing column(s): {', '.join(missing)}")
    if unknown:
        problems.add(
            1,
            f"unknown column(s): {', '.join(unknown)} "
            f"(expected {', '.join((*required, *optional))})",
        )
    if len(columns) != len(names):
        problems.add(1, "a column is named twice")
    return None if problems.items else columns


def _day(text: str, latest: dt.date) -> tuple[dt.date | None, str]:
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        return None, f"bad date {text!r} (expected YYYY-MM-DD)"
    if len(text) != 10:
        return None, f"bad date {text!r} (expected YYYY-MM-DD)"
    if day > latest:
        return None, f"date {text} is in the future"
    return day, ""


# --- Sales ---------------------------------------------------------------------


class _Line(NamedTuple):
    line: int
    store_product_id: int
    day: dt.date
    day_text: str
    units_text: str
    quantity: Decimal
    average_price: Decimal | None
    sold_out: bool

    @property
    def revenue(self) -> Decimal:
        if self.average_price is None:
            return ZERO_MONEY
        return (self.quantity * self.average_price).quantize(CENT, ROUND_HALF_UP)


SALES_REQUIRED = ("date", "sku", "units")
SALES_OPTIONAL = ("average_price", "sold_out")
# Parsed values are remembered by their text (a file repeats its dates, small
# unit counts and each product's price), up to this many texts per column.
CACHE_LIMIT = 200_000


def _magnitude(value: Decimal) -> int:
    """Digits before the point (0 for zero), to bound a product cheaply."""
    return value.adjusted() + 1 if value else 0


def _units(text: str) -> tuple[Decimal | None, bool, str, int]:
    """(units, whole, COPY text or the problem, magnitude) of a ``units`` cell."""
    units = _decimal(text)
    if units is None:
        return None, False, f"units {text!r} is not a number", 0
    if units < 0:
        return None, False, f"units {text} is negative", 0
    if units > MAX_UNITS or units != units.quantize(MILLI):
        return None, False, f"units {text}: at most 3 decimals, below 10^9", 0
    return units, units == units.to_integral(), format(units, "f"), _magnitude(units)


def _price(text: str) -> tuple[Decimal | None, str, int]:
    """(price, COPY text or the problem, magnitude) of an ``average_price``."""
    price = _decimal(text)
    if price is None:
        return None, f"average_price {text!r} is not a number", 0
    if price < 0 or price > MAX_PRICE:
        return None, f"average_price {text} is out of range", 0
    price = price.quantize(CENT, ROUND_HALF_UP)
    return price, format(price, "f"), _magnitude(price)


# No price on a line: nothing to multiply (the COPY text is NULL).
NO_PRICE: tuple[Decimal | None, str, int] = (ZERO_MONEY, NULL, 0)


class _SalesChecker:
    """Checks one line of a sales file against the store's products."""

    def __init__(self, store: Store, columns: dict[str, int], today: dt.date) -> None:
        self.store = store
        self.today = today
        self.sold_here = _skus(store)
        # The chain's SKUs, to say "not sold here" rather than "unknown".
        self.catalogue = set(Product.objects.values_list("sku", flat=True))
        self.i_date = columns["date"]
        self.i_sku = columns["sku"]
        self.i_units = columns["units"]
        self.i_price = columns.get("average_price")
        self.i_sold_out = columns.get("sold_out")
        self.width = len(columns)
        self.days: dict[str, tuple[dt.date | None, str]] = {}
        self.units: dict[str, tuple[Decimal | None, bool, str, int]] = {}
        self.prices: dict[str, tuple[Decimal | None, str, int]] = {}

    def copy_lines(self, reader: Any, problems: _Problems) -> Iterator[str]:
        """COPY text of each good line, in one tight loop (millions of rows).

        Every value is looked up in the caches of texts already judged good;
        a line that is not plainly good goes through ``check``, which names
        its problems. Runs inside the COPY: no query here.
        """
        days, sold_here, units_seen, prices = (
            self.days,
            self.sold_here,
            self.units,
            self.prices,
        )
        i_date, i_sku, i_units = self.i_date, self.i_sku, self.i_units
        i_price, i_sold_out, width = self.i_price, self.i_sold_out, self.width
        for cells in reader:
            number = reader.line_num
            if len(cells) == width:
                found = sold_here.get(cells[i_sku].strip())
                day_text = cells[i_date].strip()
                day = days.get(day_text)
                units = units_seen.get(cells[i_units].strip())
                price_text = cells[i_price].strip() if i_price is not None else ""
                price = prices.get(price_text) if price_text else NO_PRICE
                flag = (
                    cells[i_sold_out].strip().lower() if i_sold_out is not None else ""
                )
                if (
                    found is not None
                    and day is not None
                    and day[0] is not None
                    and units is not None
                    and units[0] is not None
                    and (units[1] or found[1])
                    and price is not None
                    and price[0] is not None
                    and (price[2] + units[3] < REVENUE_DIGITS)
                    and (flag in FALSE or flag in TRUE)
                ):
                    yield (
                        f"{number}\t{found[0]}\t{day_text}\t{units[2]}\t"
                        f"{price[1]}\t{'t' if flag in TRUE else 'f'}\n"
                    )
                    continue
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue
            line = self.check(number, cells, problems)
            if line is not None:
                yield (
                    f"{line.line}\t{line.store_product_id}\t{line.day_text}\t"
                    f"{format(line.quantity, 'f')}\t"
                    f"{NULL if line.average_price is None else line.average_price}\t"
                    f"{'t' if line.sold_out else 'f'}\n"
                )

    def _unknown(self, sku: str) -> str:
        if sku in self.catalogue:
            return f"SKU {sku!r} is not sold at {self.store.code}"
        return f"unknown SKU {sku!r}"

    def check(self, number: int, cells: list[str], problems: _Problems) -> _Line | None:
        if len(cells) != self.width:
            problems.add(number, f"{len(cells)} fields, expected {self.width}")
            return None
        ok = True
        day_text = cells[self.i_date].strip()
        day, why = self.days.get(day_text) or self.days.setdefault(
            day_text, _day(day_text, self.today)
        )
        if day is None:
            problems.add(number, why)
            ok = False
        sku = cells[self.i_sku].strip()
        found = self.sold_here.get(sku)
        if found is None:
            problems.add(number, self._unknown(sku))
            ok = False
        units_text = cells[self.i_units].strip()
        parsed = self.units.get(units_text)
        if parsed is None:
            parsed = _units(units_text)
            if len(self.units) < CACHE_LIMIT:
                self.units[units_text] = parsed
        units, whole, why, _ = parsed
        if units is None:
            problems.add(number, why)
            ok = False
        elif not whole and found is not None and not found[1]:
            problems.add(number, f"units {units_text}: {sku} is sold by the piece")
            ok = False
        price = None
        if self.i_price is not None and (text := cells[self.i_price].strip()):
            priced = self.prices.get(text)
            if priced is None:
                priced = _price(text)
                if len(self.prices) < CACHE_LIMIT:
                    self.prices[text] = priced
            price, why, _ = priced
            if price is None:
                problems.add(number, why)
                ok = False
        sold_out = False
        if self.i_sold_out is not None:
            text = cells[self.i_sold_out].strip().lower()
            if text in TRUE:
                sold_out = True
            elif text not in FALSE:
                problems.add(number, f"sold_out {text!r}: use 1/0, true/false, yes/no")
                ok = False
        if not ok:
            return None
        line = _Line(
            number, found[0], day, day_text, units_text, units, price, sold_out
        )
        if (
            price
            and units
            and _magnitude(price) + _magnitude(units) >= REVENUE_DIGITS
            and line.revenue > MAX_REVENUE
        ):
            problems.add(number, "units x average_price is too large")
            return None
        return line


def _checked(
    reader: Any, checker: _SalesChecker, problems: _Problems
) -> Iterator[_Line]:
    """The good lines; the checker reads nothing from the database here (this
    runs inside the COPY, when the connection takes no other query)."""
    for cells in reader:
        if not cells or (len(cells) == 1 and not cells[0].strip()):
            continue
        parsed = checker.check(reader.line_num, cells, problems)
        if parsed is not None:
            yield parsed


def _duplicate_message(
    day: dt.date, sku: str, lines: list[int]
) -> list[tuple[int, str]]:
    first, *others = lines
    return [(n, f"{day} {sku} again (first on line {first})") for n in others]


class _Copy:
    """PostgreSQL: the checked lines into a temporary table with COPY."""

    TABLE = "hema_sales_import"

    def __init__(self) -> None:
        self.cursor = connection.cursor()
        # Sort and group millions of rows in memory, not in temporary files
        # (for this transaction only).
        self.cursor.execute("SET LOCAL work_mem = '256MB'")
        # Dropped at commit; dropped first too, for an import inside an outer
        # transaction that has not committed since the last one.
        self.cursor.execute(f"DROP TABLE IF EXISTS {self.TABLE}")
        self.cursor.execute(
            f"CREATE TEMPORARY TABLE {self.TABLE} ("
            "line integer, store_product_id bigint, day date, quantity numeric,"
            " average_price numeric, sold_out boolean"
            ") ON COMMIT DROP"
        )

    def write(self, texts: Iterable[str]) -> int:
        count = 0
        raw = self.cursor.cursor  # psycopg 3
        with raw.copy(f"COPY {self.TABLE} FROM STDIN") as copy:
            chunk: list[str] = []
            for count, text in enumerate(texts, 1):  # noqa: B007
                chunk.append(text)
                if len(chunk) == COPY_LINES:
                    copy.write("".join(chunk))
                    chunk = []
            copy.write("".join(chunk))
        return count

    def duplicates(self) -> list[tuple[int, dt.date, list[int]]]:
        self.cursor.execute(
            f"SELECT store_product_id, day, array_agg(line ORDER BY line)"  # noqa: S608
            f" FROM {self.TABLE} GROUP BY store_product_id, day"
            " HAVING count(*) > 1"
        )
        return self.cursor.fetchall()

    def days(self) -> tuple[dt.date | None, dt.date | None]:
        self.cursor.execute(f"SELECT min(day), max(day) FROM {self.TABLE}")  # noqa: S608
        return self.cursor.fetchone()

    def upsert(self, store_product_ids: Iterable[int]) -> int:
        """Write the history: a plain INSERT when none of those days is there
        yet (the usual first import: no speculative insertion per row), else
        one INSERT ... ON CONFLICT DO UPDATE. A row a fold writes meanwhile
        sends the plain INSERT back to its savepoint and the upsert runs."""
        first, last = self.days()
        there = DailySales.objects.filter(
            store_product_id__in=list(store_product_ids),
            day__gte=first,
            day__lte=last,
        ).exists()
        if not there:
            try:
                with transaction.atomic():
                    self.cursor.execute(self._insert(), [SalesSource.IMPORT.value])
                    return self.cursor.rowcount
            except IntegrityError:
                pass
        self.cursor.execute(
            self._insert() + " ON CONFLICT (store_product_id, day) DO UPDATE SET"
            " quantity = EXCLUDED.quantity, revenue = EXCLUDED.revenue,"
            " average_price = EXCLUDED.average_price, sold_out = EXCLUDED.sold_out,"
            " source = EXCLUDED.source, updated_at = EXCLUDED.updated_at",
            [SalesSource.IMPORT.value],
        )
        return self.cursor.rowcount

    def _insert(self) -> str:
        return (
            f"INSERT INTO {DailySales._meta.db_table} AS d"  # noqa: S608
            " (store_product_id, day, quantity, revenue,"
            " average_price, sold_out, source, updated_at)"
            " SELECT store_product_id, day, quantity,"
            " coalesce(round(quantity * average_price, 2), 0), average_price,"
            f" sold_out, %s, now() FROM {self.TABLE}"
            " ORDER BY store_product_id, day"
        )


class _Plain:
    """Any other database: duplicates in a set, batched upserts."""

    def __init__(self) -> None:
        self.seen: dict[tuple[int, dt.date], list[int]] = {}
        self.rows: list[_Line] = []
        self.first: dt.date | None = None
        self.last: dt.date | None = None

    def write(self, lines: Iterable[_Line]) -> int:
        count = 0
        for line in lines:
            key = (line.store_product_id, line.day)
            if key in self.seen:
                self.seen[key].append(line.line)
                continue
            self.seen[key] = [line.line]
            self.rows.append(line)
            self.first = min(self.first or line.day, line.day)
            self.last = max(self.last or line.day, line.day)
            count += 1
        return count + sum(len(v) - 1 for v in self.seen.values())

    def duplicates(self) -> list[tuple[int, dt.date, list[int]]]:
        return [
            (sp, day, lines) for (sp, day), lines in self.seen.items() if len(lines) > 1
        ]

    def days(self) -> tuple[dt.date | None, dt.date | None]:
        return self.first, self.last

    def upsert(self, store_product_ids: Iterable[int]) -> int:
        now = timezone.now()
        rows = [
            DailySales(
                store_product_id=line.store_product_id,
                day=line.day,
                quantity=line.quantity,
                revenue=line.revenue,
                average_price=line.average_price,
                sold_out=line.sold_out,
                source=SalesSource.IMPORT,
                updated_at=now,
            )
            for line in self.rows
        ]
        DailySales.objects.bulk_create(
            rows,
            batch_size=WRITE_BATCH,
            update_conflicts=True,
            unique_fields=["store_product", "day"],
            update_fields=[
                "quantity",
                "revenue",
                "average_price",
                "sold_out",
                "source",
                "updated_at",
            ],
        )
        return len(rows)


class _Rollback(Exception):
    pass


def sales_import(
    *, store: Store, stream: IO[str], dry_run: bool = False
) -> ImportResult:
    """Import a store's daily sales from a CSV stream (module docstring).

    Raises ``ImportRejected`` listing every problem; then nothing is written.
    One transaction; the history rows it replaces are locked by the upsert.
    """
    problems = _Problems()
    today = TradingCalendar(store).day_of(timezone.now())
    result = ImportResult(rows=0, written=0, dry_run=dry_run)
    try:
        with transaction.atomic():
            reader = csv.reader(stream)
            columns = _header(reader, SALES_REQUIRED, SALES_OPTIONAL, problems)
            if columns is None:
                raise _Rollback
            checker = _SalesChecker(store, columns, today)
            if connection.vendor == "postgresql":
                sink: _Copy | _Plain = _Copy()
                result.rows = sink.write(checker.copy_lines(reader, problems))
            else:
                sink = _Plain()
                result.rows = sink.write(_checked(reader, checker, problems))
            skus = {pk: sku for sku, (pk, _) in checker.sold_here.items()}
            for sp_id, day, lines in sink.duplicates():
                problems.items.extend(_duplicate_message(day, skus[sp_id], lines))
            if problems.items or dry_run:
                raise _Rollback
            result.first_day, result.last_day = sink.days()
            result.written = sink.upsert(skus)
    except _Rollback:
        pass
    if problems.items:
        raise ImportRejected(problems.items)
    return result


def _skus(store: Store) -> dict[str, tuple[int, bool]]:
    return {
        sku: (pk, unit == SaleUnit.KILOGRAM)
        for sku, pk, unit in StoreProduct.objects.filter(store=store).values_list(
            "product__sku", "pk", "product__sale_unit"
        )
    }


# --- Weather -------------------------------------------------------------------

MAX_TEMPERATURE = Decimal("99.9")
MAX_DAILY_PRECIPITATION = Decimal("2000")
TENTH = Decimal("0.1")


def condition_for(temperature: Decimal, precipitation: Decimal) -> str:
    """The condition of an hour known only by temperature and precipitation."""
    if precipitation <= 0:
        return WeatherCondition.CLEAR
    if temperature <= 0:
        return WeatherCondition.SNOW
    return WeatherCondition.RAIN


def spread(total: Decimal, hours: int) -> list[Decimal]:
    """``total`` mm over ``hours`` hours, to the 0.01 mm, adding up to ``total``."""
    cents = int((total / CENT).to_integral_value(ROUND_HALF_UP))
    each, rest = divmod(cents, hours)
    return [CENT * (each + (1 if i < rest else 0)) for i in range(hours)]


def local_hours(store: Store, day: dt.date) -> list[dt.datetime]:
    """The UTC starts of the hours of the store's local calendar day."""
    tz = store.tz
    start = dt.datetime.combine(day, dt.time(0), tzinfo=tz).astimezone(dt.UTC)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=tz)
    end = end.astimezone(dt.UTC)
    hours, at = [], start
    while at < end:
        hours.append(at)
        at += dt.timedelta(hours=1)
    return hours


def weather_import(
    *, store: Store, stream: IO[str], dry_run: bool = False
) -> ImportResult:
    """Import a store's daily weather history as observed hours (module docstring).

    Raises ``ImportRejected`` listing every problem; then nothing is written.
    """
    problems = _Problems()
    today = timezone.localtime(timezone.now(), store.tz).date()
    reader = csv.reader(stream)
    columns = _header(reader, ("date", "temperature", "precipitation"), (), problems)
    days: dict[dt.date, tuple[int, Decimal, Decimal]] = {}
    for cells in reader if columns else ():
        number = reader.line_num
        if not cells or (len(cells) == 1 and not cells[0].strip()):
            continue
        if len(cells) != len(columns):
            problems.add(number, f"{len(cells)} fields, expected {len(columns)}")
            continue
        before = len(problems.items)
        day, why = _day(cells[columns["date"]].strip(), today)
        if day is None:
            problems.add(number, why)
        text = cells[columns["temperature"]].strip()
        temperature = _decimal(text)
        if temperature is None:
            problems.add(number, f"temperature {text!r} is not a number")
        elif abs(temperature) > MAX_TEMPERATURE:
            problems.add(number, f"temperature {text} °C is out of range")
        text = cells[columns["precipitation"]].strip()
        rain = _decimal(text)
        if rain is None:
            problems.add(number, f"precipitation {text!r} is not a number")
        elif rain < 0 or rain > MAX_DAILY_PRECIPITATION:
            problems.add(number, f"precipitation {text} mm is out of range")
        if len(problems.items) != before:
            continue
        if day in days:
            problems.add(number, f"{day} again (first on line {days[day][0]})")
            continue
        days[day] = (number, temperature.quantize(TENTH, ROUND_HALF_UP), rain)
    if problems.items:
        raise ImportRejected(problems.items)
    fetched_at = timezone.now()
    rows = []
    for day, (_n, temperature, rain) in sorted(days.items()):
        hours = local_hours(store, day)
        for hour, amount in zip(hours, spread(rain, len(hours)), strict=True):
            rows.append(
                StoreWeather(
                    store=store,
                    hour=hour,
                    temperature=temperature,
                    precipitation=amount,
                    condition=condition_for(temperature, amount),
                    is_forecast=False,
                    fetched_at=fetched_at,
                )
            )
    result = ImportResult(rows=len(days), written=0, dry_run=dry_run)
    if days:
        result.first_day, result.last_day = min(days), max(days)
    if dry_run:
        return result
    with transaction.atomic():
        StoreWeather.objects.bulk_create(
            rows,
            batch_size=WRITE_BATCH,
            update_conflicts=True,
            unique_fields=["store", "hour"],
            update_fields=[
                "temperature",
                "precipitation",
                "condition",
                "is_forecast",
                "fetched_at",
                "updated_at",
            ],
        )
    result.written = len(rows)
    return result
