"""The price engine: pure functions, no database, no clock.

``compute_price`` turns a list price, a unit cost, the rules that apply to a
product in one local hour, that hour's weather, any markdown and the price of
the hour before into one price and its reasons. The repricing job, the admin
preview and ``pricing.selectors.price`` all call it, so a shelf label, a scan
and a checkout can never disagree about how a price was made.

The order of the calculation (the README repeats it for managers):

1. factor = weekday factor x hour factor x every matching weather factor. Each
   comes from the narrowest scope that sets it (product, else category, else
   store). For an exempt product, weather factors above 1 are dropped.
2. target = list price x factor (capped at list price for ``never_above_list``).
3. Step limit: at most ``max_step`` away from the previous price.
4. Floor and ceiling, which always win over the step limit: never below
   unit cost x (1 + min margin) (or the list price, if that is lower: a list
   price under the margin is the manager's choice and rules do not take it
   lower), never above list price x max uplift.
5. Round to the store's price step, staying inside floor and ceiling (and
   inside the step limit whenever floor and ceiling leave room for it).
6. Markdown: list price x (1 - percent), never below list x the markdown floor,
   rounded; it applies when it is lower than the rules' price, and it is exempt
   from the margin floor and the step limit (selling below cost beats the bin).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

from inventory.weather import WeatherSnapshot

ONE = Decimal(1)
HUNDRED = Decimal(100)
CENT = Decimal("0.01")
WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class Limits:
    """A store's limits on every price (fractions, not percent)."""

    min_margin: Decimal = Decimal("0.05")
    max_uplift: Decimal = Decimal("1.20")
    max_step: Decimal = Decimal("0.10")
    price_step: Decimal = Decimal("0.10")


@dataclass(frozen=True)
class Factor:
    value: Decimal
    scope: str


@dataclass(frozen=True)
class WeatherRule:
    """``condition`` is rain, snow, hot or cold; hot/cold compare to threshold."""

    condition: str
    factor: Decimal
    scope: str
    threshold: Decimal | None = None

    def matches(self, weather: WeatherSnapshot) -> bool:
        if self.condition == "rain":
            return weather.is_rain
        if self.condition == "snow":
            return weather.is_snow
        if self.threshold is None:
            return False
        if self.condition == "hot":
            return weather.temperature > self.threshold
        if self.condition == "cold":
            return weather.temperature < self.threshold
        return False

    def label(self) -> str:
        if self.condition == "hot":
            return f"hot >{self.threshold}°C"
        if self.condition == "cold":
            return f"cold <{self.threshold}°C"
        return self.condition


@dataclass(frozen=True)
class ProductRules:
    """What applies to one product in one local hour, scopes already resolved."""

    weekday: int
    hour: int
    limits: Limits
    weekday_factor: Factor | None = None
    hour_factor: Factor | None = None
    weather_rules: tuple[WeatherRule, ...] = ()
    exempt_from_weather_raise: bool = False
    never_above_list: bool = False


@dataclass(frozen=True)
class Markdown:
    """A daily-fresh markdown: ``percent`` off list, never below list x floor."""

    percent: Decimal
    floor: Decimal


@dataclass(frozen=True)
class PriceResult:
    amount: Decimal
    reasons: tuple[str, ...]
    kind: str = "rules"  # or "markdown"


def round_to_step(
    value: Decimal, step: Decimal, rounding: str = ROUND_HALF_UP
) -> Decimal:
    """``value`` rounded to a multiple of ``step`` (then to cents)."""
    units = (value / step).quantize(ONE, rounding=rounding)
    return (units * step).quantize(CENT, rounding=ROUND_HALF_UP)


def _fmt(factor: Decimal) -> str:
    return f"{factor.normalize():f}"


def _round_within(
    value: Decimal,
    floor: Decimal,
    ceiling: Decimal,
    step: Decimal,
    fallback: Decimal | None,
) -> tuple[Decimal | None, str | None]:
    """Round to the step without leaving ``[floor, ceiling]``.

    Half-up first; if that crosses a bound, round towards the inside; if no
    multiple of the step fits between the bounds, return ``fallback`` (the list
    price, which is always inside floor and ceiling; None lets the caller try
    wider bounds).
    """
    rounded = round_to_step(value, step)
    if rounded < floor:
        rounded = round_to_step(floor, step, ROUND_CEILING)
    elif rounded > ceiling:
        rounded = round_to_step(ceiling, step, ROUND_FLOOR)
    if floor <= rounded <= ceiling:
        return rounded, None
    if fallback is None:
        return None, None
    return fallback, f"no {step} step between floor and ceiling: list price kept"


def compute_price(
    list_price: Decimal,
    unit_cost: Decimal,
    rules: ProductRules,
    weather: WeatherSnapshot | None,
    markdown: Markdown | None,
    previous_price: Decimal | None,
) -> PriceResult:
    """The price of one product in one hour, and the reasons for it.

    Pure and deterministic: the same arguments always give the same result. See
    the module docstring for the order of the steps. ``weather`` None is neutral
    weather; ``previous_price`` None means no step limit (a first price, or the
    day after a markdown).
    """
    limits = rules.limits
    reasons: list[str] = []
    factor = ONE
    day = rules.weekday_factor
    if day is not None and day.value != ONE:
        factor *= day.value
        reasons.append(
            f"weekday {WEEKDAY_NAMES[rules.weekday]} x{_fmt(day.value)} ({day.scope})"
        )
    if rules.hour_factor is not None and rules.hour_factor.value != ONE:
        factor *= rules.hour_factor.value
        reasons.append(
            f"hour {rules.hour:02d}:00 x{_fmt(rules.hour_factor.value)}"
            f" ({rules.hour_factor.scope})"
        )
    if weather is not None:
        for rule in rules.weather_rules:
            if rule.factor == ONE or not rule.matches(weather):
                continue
            if rule.factor > ONE and rules.exempt_from_weather_raise:
                reasons.append(
                    f"exempt: {rule.label()} x{_fmt(rule.factor)} not applied"
                )
                continue
            factor *= rule.factor
            reasons.append(f"{rule.label()} x{_fmt(rule.factor)} ({rule.scope})")

    target = list_price * factor
    if rules.never_above_list and target > list_price:
        target = list_price
        reasons.append("exempt: never above list price")

    low, high = None, None
    if previous_price is not None and previous_price > 0:
        low = previous_price * (ONE - limits.max_step)
        high = previous_price * (ONE + limits.max_step)
        if target < low:
            target = low
            reasons.append(f"step limit -{_fmt(limits.max_step * HUNDRED)}%")
        elif target > high:
            target = high
            reasons.append(f"step limit +{_fmt(limits.max_step * HUNDRED)}%")

    floor = min(unit_cost * (ONE + limits.min_margin), list_price)
    ceiling = list_price * limits.max_uplift
    if rules.never_above_list:
        ceiling = list_price
    if target < floor:
        target = floor
        reasons.append(f"margin floor (cost +{_fmt(limits.min_margin * HUNDRED)}%)")
    elif target > ceiling:
        target = ceiling
        reasons.append(f"ceiling (list x{_fmt(limits.max_uplift)})")

    amount, note = None, None
    if low is not None and high is not None:
        # Round inside the step limit too when floor and ceiling allow it, so
        # rounding never turns a 10% step into 11%.
        soft_low, soft_high = max(floor, low), min(ceiling, high)
        if soft_low <= soft_high:
            amount, note = _round_within(
                target, soft_low, soft_high, limits.price_step, None
            )
    if amount is None:
        amount, note = _round_within(
            target, floor, ceiling, limits.price_step, list_price
        )
    if note:
        reasons.append(note)

    if markdown is not None and markdown.percent > 0:
        md_floor = list_price * markdown.floor
        md_target = max(list_price * (ONE - markdown.percent / HUNDRED), md_floor)
        md_rounded, _ = _round_within(
            md_target, md_floor, list_price, limits.price_step, md_floor
        )
        md_amount = max(
            md_rounded or md_floor, md_floor.quantize(CENT, rounding=ROUND_CEILING)
        )
        if md_amount < amount:
            md_reasons = [f"markdown {_fmt(markdown.percent)}% off list"]
            if md_target == md_floor:
                md_reasons.append(
                    f"markdown floor ({_fmt(markdown.floor * HUNDRED)}% of list)"
                )
            return PriceResult(md_amount, tuple(md_reasons), "markdown")

    if not reasons:
        reasons.append("list price")
    return PriceResult(amount, tuple(reasons), "rules")


# --- Rule resolution ----------------------------------------------------------


@dataclass
class ScopeFactors:
    """The factors one rule (one scope) sets."""

    label: str
    weekday: dict[int, Decimal] = field(default_factory=dict)
    hour: dict[int, Decimal] = field(default_factory=dict)
    weather: dict[str, tuple[Decimal, Decimal | None]] = field(default_factory=dict)


@dataclass
class RuleBook:
    """A store's active rules, exemptions and limits, ready to resolve per product.

    Built once per run from a handful of queries; ``for_product`` is pure and
    memoised per (category, product-if-it-has-its-own-rules, weekday, hour), so
    thousands of products of one category share one resolution.
    """

    limits: Limits
    store_rule: ScopeFactors | None = None
    category_rules: dict[int, ScopeFactors] = field(default_factory=dict)
    product_rules: dict[int, ScopeFactors] = field(default_factory=dict)
    exempt_categories: dict[int, bool] = field(default_factory=dict)
    exempt_products: dict[int, bool] = field(default_factory=dict)
    exempt_store: bool | None = None
    _memo: dict[tuple, ProductRules] = field(default_factory=dict, repr=False)

    def for_product(
        self, *, product_id: int, category_id: int, weekday: int, hour: int
    ) -> ProductRules:
        own = product_id in self.product_rules or product_id in self.exempt_products
        key = (category_id, product_id if own else None, weekday, hour)
        cached = self._memo.get(key)
        if cached is None:
            cached = self._resolve(product_id, category_id, weekday, hour)
            self._memo[key] = cached
        return cached

    def _chain(self, product_id: int, category_id: int) -> list[ScopeFactors]:
        """Scopes from narrowest to widest."""
        return [
            scope
            for scope in (
                self.product_rules.get(product_id),
                self.category_rules.get(category_id),
                self.store_rule,
            )
            if scope is not None
        ]

    def _resolve(
        self, product_id: int, category_id: int, weekday: int, hour: int
    ) -> ProductRules:
        chain = self._chain(product_id, category_id)
        weekday_factor = next(
            (
                Factor(s.weekday[weekday], s.label)
                for s in chain
                if weekday in s.weekday
            ),
            None,
        )
        hour_factor = next(
            (Factor(s.hour[hour], s.label) for s in chain if hour in s.hour), None
        )
        weather: dict[str, WeatherRule] = {}
        for scope in chain:
            for condition, (factor, threshold) in scope.weather.items():
                weather.setdefault(
                    condition, WeatherRule(condition, factor, scope.label, threshold)
                )
        exemption = self._exemption(product_id, category_id)
        return ProductRules(
            weekday=weekday,
            hour=hour,
            limits=self.limits,
            weekday_factor=weekday_factor,
            hour_factor=hour_factor,
            weather_rules=tuple(weather[c] for c in sorted(weather)),
            exempt_from_weather_raise=exemption is not None,
            never_above_list=bool(exemption),
        )

    def _exemption(self, product_id: int, category_id: int) -> bool | None:
        """None: not exempt; otherwise the ``never_above_list`` flag of the
        narrowest exemption."""
        if product_id in self.exempt_products:
            return self.exempt_products[product_id]
        if category_id in self.exempt_categories:
            return self.exempt_categories[category_id]
        return self.exempt_store

    def weather_conditions(self) -> Iterable[WeatherRule]:
        """Every weather rule of every scope (to classify a store's weather)."""
        scopes = [self.store_rule, *self.category_rules.values()]
        scopes += list(self.product_rules.values())
        for scope in scopes:
            if scope is None:
                continue
            for condition, (factor, threshold) in scope.weather.items():
                yield WeatherRule(condition, factor, scope.label, threshold)


def weather_class(rulebook: RuleBook, weather: WeatherSnapshot | None) -> str:
    """The store's weather class: which of its weather rules match.

    Two hours of the same class price identically, so the job reprices on a
    change of class, not on every tenth of a degree.
    """
    if weather is None:
        return ""
    matched = {
        f"{rule.condition}:{rule.threshold}"
        for rule in rulebook.weather_conditions()
        if rule.matches(weather)
    }
    return ",".join(sorted(matched))
