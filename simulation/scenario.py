"""A store day's scenario: a TOML file, parsed with ``tomllib`` and checked.

The format is documented in ``simulation/scenarios/README.md``. A file that
does not parse is refused with the line ``tomllib`` names; a file that parses
but says something impossible (an hour 25, a negative rate, an unknown event)
is refused with the line of the key at fault, found by ``KeyLines`` (a small
scanner of the file's table headers and keys), so that whoever edits the file
is sent to the line to fix.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulation.shoppers import HISTORY_MIX

CONDITIONS = ("clear", "cloudy", "fog", "rain", "snow", "storm")
EVENT_KINDS = ("picker_absent", "rain_shower", "supplier_late", "holiday")
APPROVE_RULES = ("as_suggested", "cap_to_forecast")
FIRST_DELIVERY = ("none", "forecast")


class ScenarioError(ValueError):
    """A scenario the simulation refuses; ``line`` is 1-based (0: unknown)."""

    def __init__(self, message: str, *, path: str, line: int) -> None:
        self.message, self.path, self.line = message, path, line
        where = f"{path} line {line}" if line else path
        super().__init__(f"{where}: {message}")


_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(
    r"""^\s*((?:"[^"]*"|'[^']*'|[A-Za-z0-9_-]+)(?:\s*\.\s*(?:"[^"]*"|'[^']*'|[A-Za-z0-9_-]+))*)\s*="""
)


def _parts(dotted: str) -> tuple[str, ...]:
    return tuple(p.strip().strip("\"'") for p in re.split(r"\s*\.\s*", dotted))


class KeyLines:
    """Where each key of a TOML text is: path (tables, array items as indexes,
    keys) -> 1-based line. Keys inside an inline table are found on their own
    line when written one a line; otherwise the inline table's key answers."""

    def __init__(self, text: str) -> None:
        self.lines: dict[tuple[Any, ...], int] = {}
        prefix: tuple[Any, ...] = ()
        counters: dict[tuple[str, ...], int] = {}
        inline: list[tuple[Any, ...]] = []
        for number, raw in enumerate(text.splitlines(), start=1):
            header = _HEADER.match(raw)
            if header and not inline:
                name = _parts(header.group(2))
                if header.group(1) == "[[":
                    counters[name] = counters.get(name, -1) + 1
                    prefix = (*name, counters[name])
                else:
                    prefix = name
                self.lines.setdefault(prefix, number)
                continue
            body = raw
            base = inline[-1] if inline else prefix
            while True:
                key = _KEY.match(body)
                if not key:
                    break
                path = (*base, *_parts(key.group(1)))
                self.lines.setdefault(path, number)
                rest = body[key.end() :].lstrip()
                if rest.startswith("{"):
                    inline.append(path)
                    base = path
                    body = rest[1:]
                    continue
                more = re.search(r",\s*(?=[A-Za-z0-9_\"'-]+\s*=)", rest)
                if not more:
                    break
                body = rest[more.end() :]
            inline = inline[: max(0, len(inline) - raw.count("}"))]

    def line_of(self, path: tuple[Any, ...]) -> int:
        """The line of ``path``, else of its nearest parent that has one."""
        for cut in range(len(path), 0, -1):
            if path[:cut] in self.lines:
                return self.lines[path[:cut]]
        return 0


@dataclass(frozen=True)
class WeatherSpan:
    start_hour: int
    end_hour: int
    temperature: float
    precipitation: float
    condition: str


@dataclass(frozen=True)
class Event:
    kind: str
    day: int  # 1-based day of the run
    start_hour: int = 0
    end_hour: int = 24
    count: int = 1  # pickers absent
    precipitation: float = 4.0  # rain shower, mm an hour
    hours: int = 0  # supplier late by
    supplier: str = ""  # supplier late: its name (empty: every supplier)
    demand: float = 1.0  # holiday: arrivals multiplied by


@dataclass(frozen=True)
class Scenario:
    path: str
    name: str
    store: str
    start: dt.date | None  # None: the store's next free day (next_free_day)
    days: int
    opens: int
    closes: int
    products: int | None
    opening_units: int | None
    opening_units_fresh: int | None
    first_delivery: str
    weather: str | tuple[WeatherSpan, ...]  # "recorded" or the spans
    in_store_per_hour: dict[int, float]
    # Arrivals multiplied by the day's factor, Monday first; or "history".
    weekday: tuple[float, ...] | str
    app_per_hour: dict[int, float]
    in_store_lines: tuple[int, int]
    app_lines: tuple[int, int]
    units: tuple[int, int]
    category_mix: dict[str, float] | str  # weights, or "history"
    elasticity: float
    substitution_share: float
    delivery_home_share: float
    pickers: int
    riders: int
    packers: int
    delivery_hour: int
    approve: str
    cap_factor: float
    fresh_cap: str | None  # the store's ForecastSettings.fresh_cap; None: as it is
    max_iterations: int
    events: tuple[Event, ...] = field(default=())

    def events_of(self, kind: str, day: int) -> list[Event]:
        return [e for e in self.events if e.kind == kind and e.day == day]


def _category_mix(r: _Reader) -> dict[str, float] | str:
    """The ``[category_mix]`` weights, or ``"history"``: each category as
    often as the store's sales history sold it (``store_run``)."""
    if r.data.get("category_mix") == HISTORY_MIX:
        return HISTORY_MIX
    if isinstance(r.data.get("category_mix"), str):
        raise r.fail(
            ("category_mix",),
            f"category_mix must be a table of weights or {HISTORY_MIX!r}",
        )
    mix = {}
    for slug in r.table(("category_mix",)):
        mix[slug] = float(r.number(("category_mix", slug), low=0))
    if mix and not sum(mix.values()) > 0:
        raise r.fail(("category_mix",), "category_mix weights are all zero")
    return mix


FRESH_CAPS = ("forecast", "upper")


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _weekday(r: _Reader) -> tuple[float, ...] | str:
    """``[arrivals.weekday]`` factors by day (1 for a day not named), or
    ``weekday = "history"`` under ``[arrivals]``: the store's own weekly
    pattern (``store_run``)."""
    value = r.table(("arrivals",)).get("weekday")
    if value == HISTORY_MIX:
        return HISTORY_MIX
    if value is not None and not isinstance(value, dict):
        raise r.fail(
            ("arrivals", "weekday"),
            f"arrivals.weekday must be a table of factors by day or {HISTORY_MIX!r}",
        )
    for key in value or {}:
        if key not in WEEKDAYS:
            raise r.fail(
                ("arrivals", "weekday", key),
                f"arrivals.weekday: {key!r} is not a day ({', '.join(WEEKDAYS)})",
            )
    return tuple(
        float(r.number(("arrivals", "weekday", day), 1.0, low=0)) for day in WEEKDAYS
    )


def _fresh_cap(r: _Reader) -> str | None:
    if "fresh_cap" not in r.table(("replenishment",)):
        return None
    return r.text(("replenishment", "fresh_cap"), choices=FRESH_CAPS)


class _Reader:
    """Typed reads of the parsed tables, each failure naming its line."""

    def __init__(self, path: str, data: dict[str, Any], lines: KeyLines) -> None:
        self.path, self.data, self.lines = path, data, lines

    def fail(self, where: tuple[Any, ...], message: str) -> ScenarioError:
        return ScenarioError(message, path=self.path, line=self.lines.line_of(where))

    def table(self, where: tuple[Any, ...], *, required: bool = False) -> dict:
        node: Any = self.data
        for part in where:
            if isinstance(node, dict):
                node = node.get(part)
            elif isinstance(node, list) and isinstance(part, int):
                node = node[part] if part < len(node) else None
            else:
                node = None
            if node is None:
                break
        if node is None:
            if required:
                raise self.fail(where, f"[{'.'.join(map(str, where))}] is missing")
            return {}
        if not isinstance(node, dict):
            raise self.fail(where, f"{'.'.join(map(str, where))} must be a table")
        return node

    def number(
        self,
        where: tuple[Any, ...],
        default: Any = None,
        *,
        low: float | None = None,
        high: float | None = None,
        integer: bool = False,
    ) -> Any:
        table = self.table(where[:-1])
        name = ".".join(map(str, where))
        if where[-1] not in table:
            if default is None:
                raise self.fail(where, f"{name} is missing")
            return default
        value = table[where[-1]]
        kinds = (int,) if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds):
            kind = "a whole number" if integer else "a number"
            raise self.fail(where, f"{name} must be {kind}, not {value!r}")
        if low is not None and value < low:
            raise self.fail(where, f"{name} must be at least {low}, not {value}")
        if high is not None and value > high:
            raise self.fail(where, f"{name} must be at most {high}, not {value}")
        return value

    def text(
        self, where: tuple[Any, ...], default: str | None = None, *, choices=()
    ) -> str:
        table = self.table(where[:-1])
        name = ".".join(map(str, where))
        if where[-1] not in table:
            if default is None:
                raise self.fail(where, f"{name} is missing")
            return default
        value = table[where[-1]]
        if not isinstance(value, str) or not value.strip():
            raise self.fail(where, f"{name} must be a non-empty string")
        if choices and value not in choices:
            raise self.fail(
                where, f"{name} must be one of {', '.join(choices)}, not {value!r}"
            )
        return value

    def range_(self, where: tuple[Any, ...], default: tuple[int, int]) -> tuple:
        low = self.number((*where, "min"), default[0], low=0, integer=True)
        high = self.number((*where, "max"), default[1], low=1, integer=True)
        if high < low:
            raise self.fail((*where, "max"), f"{'.'.join(where)}: max is below min")
        return (low, high)

    def hourly(self, where: tuple[Any, ...]) -> dict[int, float]:
        table = self.table(where)
        out = {}
        for key in table:
            if not str(key).isdigit() or not 0 <= int(key) <= 23:
                raise self.fail((*where, key), f"{key!r} is not an hour (0 to 23)")
            out[int(key)] = float(self.number((*where, key), low=0))
        return out


def _weather(r: _Reader, opens: int, closes: int) -> str | tuple[WeatherSpan, ...]:
    raw = r.data.get("weather")
    if raw is None:
        raise r.fail(("weather",), 'weather is missing (spans, or "recorded")')
    if raw == "recorded":
        return "recorded"
    if not isinstance(raw, list) or not raw:
        raise r.fail(("weather",), 'weather must be "recorded" or [[weather]] spans')
    spans = []
    for i, _ in enumerate(raw):
        w = ("weather", i)
        start = r.number((*w, "from"), low=0, high=23, integer=True)
        end = r.number((*w, "to"), low=1, high=24, integer=True)
        if end <= start:
            raise r.fail((*w, "to"), f"weather span {i + 1}: 'to' is not after 'from'")
        spans.append(
            WeatherSpan(
                start_hour=start,
                end_hour=end,
                temperature=float(r.number((*w, "temperature"), low=-50, high=60)),
                precipitation=float(r.number((*w, "precipitation"), 0.0, low=0)),
                condition=r.text((*w, "condition"), choices=CONDITIONS),
            )
        )
    covered = {h for s in spans for h in range(s.start_hour, s.end_hour)}
    missing = [h for h in range(opens, closes) if h not in covered]
    if missing:
        raise r.fail(("weather",), f"weather does not cover the hours {missing}")
    return tuple(spans)


def _events(r: _Reader, days: int) -> tuple[Event, ...]:
    raw = r.data.get("events", [])
    if not isinstance(raw, list):
        raise r.fail(("events",), "events must be [[events]] tables")
    events = []
    for i, _ in enumerate(raw):
        e = ("events", i)
        kind = r.text((*e, "kind"), choices=EVENT_KINDS)
        day = r.number((*e, "day"), low=1, high=days, integer=True)
        start = r.number((*e, "from"), 0, low=0, high=23, integer=True)
        end = r.number((*e, "to"), 24, low=1, high=24, integer=True)
        if end <= start:
            raise r.fail((*e, "to"), f"event {i + 1}: 'to' is not after 'from'")
        events.append(
            Event(
                kind=kind,
                day=day,
                start_hour=start,
                end_hour=end,
                count=r.number((*e, "count"), 1, low=1, integer=True),
                precipitation=float(r.number((*e, "precipitation"), 4.0, low=0)),
                hours=r.number((*e, "hours"), 0, low=0, high=23, integer=True),
                supplier=str(r.table(e).get("supplier", "")),
                demand=float(r.number((*e, "demand"), 1.0, low=0)),
            )
        )
        if kind == "supplier_late" and not events[-1].hours:
            raise r.fail((*e, "hours"), "a late supplier names how many hours late")
    return tuple(events)


def scenario_parse(text: str, *, path: str = "<scenario>") -> Scenario:
    """The scenario in ``text``; a ``ScenarioError`` names the line at fault."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None) or int(
            (re.search(r"line (\d+)", str(exc)) or [0, 0])[1]
        )
        raise ScenarioError(f"not valid TOML ({exc})", path=path, line=line) from None
    r = _Reader(path, data, KeyLines(text))
    known = {
        "name", "store", "day", "weather", "arrivals", "basket", "category_mix",
        "shoppers", "staff", "stock", "replenishment", "dispatch", "events",
    }  # fmt: skip
    for key in data:
        if key not in known:
            raise r.fail((key,), f"unknown section or key {key!r}")
    r.table(("store",), required=True)
    store = r.text(("store", "code")).strip().upper()
    start_raw = r.table(("store",)).get("start", "tomorrow")
    if start_raw == "tomorrow":
        start_raw = None  # the store's next local day, when the run starts
    elif not isinstance(start_raw, dt.date) or isinstance(start_raw, dt.datetime):
        raise r.fail(
            ("store", "start"), 'store.start must be a date (2026-03-02) or "tomorrow"'
        )
    days = r.number(("store", "days"), 1, low=1, high=31, integer=True)
    opens = r.number(("day", "opens"), 8, low=0, high=23, integer=True)
    closes = r.number(("day", "closes"), 22, low=1, high=24, integer=True)
    if closes <= opens:
        raise r.fail(("day", "closes"), "day.closes is not after day.opens")
    products = r.table(("store",)).get("products")
    if products is not None:
        products = r.number(("store", "products"), low=1, integer=True)
    opening = r.table(("stock",)).get("opening_units")
    if opening is not None:
        opening = r.number(("stock", "opening_units"), low=0, integer=True)
    fresh = r.table(("stock",)).get("opening_units_fresh")
    if fresh is not None:
        fresh = r.number(("stock", "opening_units_fresh"), low=0, integer=True)
    in_store = r.hourly(("arrivals", "in_store"))
    app = r.hourly(("arrivals", "app"))
    for name, curve in (("in_store", in_store), ("app", app)):
        for hour in curve:
            if not opens <= hour < closes:
                raise r.fail(
                    ("arrivals", name, str(hour)),
                    f"arrivals.{name}: hour {hour} is outside opening hours "
                    f"({opens} to {closes})",
                )
    mix = _category_mix(r)
    return Scenario(
        path=path,
        name=r.text(("name",), Path(path).stem),
        store=store,
        start=start_raw,
        days=days,
        opens=opens,
        closes=closes,
        products=products,
        opening_units=opening,
        opening_units_fresh=fresh,
        first_delivery=r.text(
            ("stock", "first_delivery"), "none", choices=FIRST_DELIVERY
        ),
        weather=_weather(r, opens, closes),
        in_store_per_hour=in_store,
        weekday=_weekday(r),
        app_per_hour=app,
        in_store_lines=r.range_(("basket", "in_store"), (1, 5)),
        app_lines=r.range_(("basket", "app"), (1, 3)),
        units=r.range_(("basket", "units"), (1, 2)),
        category_mix=mix,
        elasticity=float(r.number(("shoppers", "elasticity"), 1.5, low=0, high=10)),
        substitution_share=float(
            r.number(("shoppers", "substitution_share"), 0.5, low=0, high=1)
        ),
        delivery_home_share=float(
            r.number(("shoppers", "delivery_home_share"), 0.0, low=0, high=1)
        ),
        pickers=r.number(("staff", "pickers"), 4, low=1, integer=True),
        riders=r.number(("staff", "riders"), 6, low=1, integer=True),
        packers=r.number(("staff", "packers"), 1, low=1, integer=True),
        delivery_hour=r.number(
            ("replenishment", "delivery_hour"), 7, low=0, high=23, integer=True
        ),
        approve=r.text(
            ("replenishment", "approve"), "as_suggested", choices=APPROVE_RULES
        ),
        cap_factor=float(r.number(("replenishment", "cap_factor"), 1.5, low=1)),
        fresh_cap=_fresh_cap(r),
        max_iterations=r.number(
            ("dispatch", "max_iterations"), 100, low=1, integer=True
        ),
        events=_events(r, days),
    )


def scenario_load(path: str | Path) -> Scenario:
    """Read and check a scenario file (``ScenarioError`` names the line)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(
            f"cannot read it ({exc.strerror})", path=str(p), line=0
        ) from None
    return scenario_parse(text, path=str(p))


def scenario_with_days(scenario: Scenario, days: int) -> Scenario:
    """The scenario run for ``days`` days (the command's --days); an event of a
    later day is simply not reached."""
    from dataclasses import replace

    return replace(scenario, days=days)
