import datetime as dt
from decimal import Decimal

import pytest
from django.core.cache import cache

from inventory.weather import FixedWeatherProvider, WeatherCondition
from pricing.models import (
    HourFactor,
    PriceRule,
    StorePriceSettings,
    WeatherFactor,
    WeekdayFactor,
)

D = Decimal
UTC = dt.UTC


@pytest.fixture(autouse=True)
def _clear_cache():
    """The Open-Meteo client caches per point; tests must not see each other's."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def clear_weather() -> FixedWeatherProvider:
    return FixedWeatherProvider(temperature=D("18.0"), condition=WeatherCondition.CLEAR)


@pytest.fixture
def rainy_weather() -> FixedWeatherProvider:
    return FixedWeatherProvider(
        temperature=D("12.0"), precipitation=D("2.40"), condition=WeatherCondition.RAIN
    )


def make_rule(
    store,
    *,
    category=None,
    product=None,
    weekdays: dict[int, str] | None = None,
    hours: dict[int, str] | None = None,
    weather: dict[str, str | tuple[str, str]] | None = None,
    name: str = "",
) -> PriceRule:
    """A rule with its factors: ``weather`` maps rain/snow to a factor, hot/cold
    to ``(threshold, factor)``."""
    rule = PriceRule.objects.create(
        store=store, category=category, product=product, name=name
    )
    for weekday, factor in (weekdays or {}).items():
        WeekdayFactor.objects.create(rule=rule, weekday=weekday, factor=D(factor))
    for hour, factor in (hours or {}).items():
        HourFactor.objects.create(rule=rule, hour=hour, factor=D(factor))
    for condition, value in (weather or {}).items():
        threshold, factor = value if isinstance(value, tuple) else (None, value)
        WeatherFactor.objects.create(
            rule=rule,
            condition=condition,
            threshold=D(threshold) if threshold is not None else None,
            factor=D(factor),
        )
    return rule


def price_settings(store, **kwargs) -> StorePriceSettings:
    values = {
        key: D(str(value)) if isinstance(value, int | str | Decimal) else value
        for key, value in kwargs.items()
    }
    found, _ = StorePriceSettings.objects.update_or_create(store=store, defaults=values)
    return found
