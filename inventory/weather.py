"""Each store's weather: the providers, the stored hours and the fallback rule.

Weather lives in inventory because both the price engine (``pricing``) and the
demand forecast read it, and both stand on inventory.

* A provider returns the conditions now and an hourly forecast for a point. Two
  exist: ``OpenMeteoProvider`` (the real forecast API, no key; timeout, retries
  with backoff, a cache) and ``FixedWeatherProvider`` (a constant local provider
  for the demo and a bare machine). ``HEMA_WEATHER_PROVIDER`` picks one.
* ``StoreWeather`` keeps one row per store and hour (UTC): an observation (what
  the provider called "current" during that hour) or a forecast. An observation
  always replaces a forecast for its hour; a forecast never replaces an
  observation.
* ``store_weather_refresh`` never raises: a provider that times out or answers
  garbage is logged and reported, and the stored hours are left as they were.
* ``store_weather_for_hour`` is what pricing reads. For the current or a past
  hour: that hour's observation, else the latest observation of the three hours
  before it (logged as a fallback), else neutral weather (``None``, logged). For
  a future hour: its forecast, else neutral. Pricing never fails because the
  weather did.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Protocol

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from hema.models import TimeStampedModel

if TYPE_CHECKING:
    from inventory.models import Store

logger = logging.getLogger(__name__)

UTC = dt.UTC
FALLBACK_HOURS = 3
TEMPERATURE_STEP = Decimal("0.1")
PRECIPITATION_STEP = Decimal("0.01")


class WeatherCondition(models.TextChoices):
    CLEAR = "clear", "Clear"
    CLOUDY = "cloudy", "Cloudy"
    FOG = "fog", "Fog"
    RAIN = "rain", "Rain"
    SNOW = "snow", "Snow"
    STORM = "storm", "Thunderstorm"


class StoreWeather(TimeStampedModel):
    """The weather of one store in one hour (UTC), observed or forecast."""

    store = models.ForeignKey(
        "inventory.Store", on_delete=models.CASCADE, related_name="weather"
    )
    hour = models.DateTimeField(help_text="Start of the hour, UTC.")
    temperature = models.DecimalField(
        "temperature (°C)", max_digits=4, decimal_places=1
    )
    precipitation = models.DecimalField(
        "precipitation (mm)", max_digits=6, decimal_places=2
    )
    condition = models.CharField(max_length=8, choices=WeatherCondition.choices)
    is_forecast = models.BooleanField(default=True)
    fetched_at = models.DateTimeField()

    class Meta:
        ordering = ("store", "-hour")
        verbose_name_plural = "store weather"
        constraints = [
            models.UniqueConstraint(
                fields=["store", "hour"], name="store_weather_one_per_hour"
            ),
            models.CheckConstraint(
                condition=Q(precipitation__gte=0),
                name="store_weather_precipitation_non_negative",
            ),
        ]
        indexes = [
            models.Index(
                fields=["store", "hour"],
                condition=Q(is_forecast=False),
                name="store_weather_observed_idx",
            )
        ]

    def __str__(self) -> str:
        kind = "forecast" if self.is_forecast else "observed"
        return (
            f"{self.store_id} {self.hour:%Y-%m-%d %H:00}Z {self.condition} "
            f"{self.temperature}°C ({kind})"
        )


# --- Value objects ------------------------------------------------------------


@dataclass(frozen=True)
class WeatherReading:
    """One hour of weather as a provider reports it (``hour`` is UTC)."""

    hour: dt.datetime
    temperature: Decimal
    precipitation: Decimal
    condition: str
    is_forecast: bool


@dataclass(frozen=True)
class WeatherReport:
    """What a provider returns: the current hour and the hourly forecast after it."""

    current: WeatherReading
    forecast: tuple[WeatherReading, ...]


@dataclass(frozen=True)
class WeatherSnapshot:
    """The weather pricing uses for one hour, and where it came from.

    ``source`` is ``observation``, ``forecast`` or ``fallback`` (an earlier
    observation stood in). Neutral weather is ``None``, not a snapshot.
    """

    hour: dt.datetime
    temperature: Decimal
    precipitation: Decimal
    condition: str
    source: str

    @property
    def is_rain(self) -> bool:
        """Rain in the hour: a rain or storm code, or any wet hour that is not snow."""
        if self.condition in (WeatherCondition.RAIN, WeatherCondition.STORM):
            return True
        return self.precipitation > 0 and self.condition != WeatherCondition.SNOW

    @property
    def is_snow(self) -> bool:
        return self.condition == WeatherCondition.SNOW


class WeatherUnavailable(Exception):
    """The provider could not give usable weather (network, status, or garbage)."""


def hour_floor(moment: dt.datetime) -> dt.datetime:
    """The start of the UTC hour that contains ``moment`` (which must be aware)."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def condition_from_wmo(code: int) -> str:
    """Open-Meteo's WMO weather interpretation code, reduced to our conditions."""
    if code == 0:
        return WeatherCondition.CLEAR
    if code in (1, 2, 3):
        return WeatherCondition.CLOUDY
    if code in (45, 48):
        return WeatherCondition.FOG
    if 51 <= code <= 67 or 80 <= code <= 82:
        return WeatherCondition.RAIN
    if 71 <= code <= 77 or code in (85, 86):
        return WeatherCondition.SNOW
    if 95 <= code <= 99:
        return WeatherCondition.STORM
    raise WeatherUnavailable(f"unknown WMO weather code {code}")


# --- Providers ----------------------------------------------------------------


class WeatherProvider(Protocol):
    """A source of weather for a point: now and the hours ahead."""

    name: str

    def fetch(
        self, *, latitude: Decimal, longitude: Decimal, now: dt.datetime
    ) -> WeatherReport: ...


class FixedWeatherProvider:
    """The same weather every hour: the demo, the embedded default, and tests.

    It makes pricing runnable on a bare machine with no network, and lets a test
    say "it is raining" without recording anything.
    """

    name = "fixed"

    def __init__(
        self,
        *,
        temperature: Decimal = Decimal("18.0"),
        precipitation: Decimal = Decimal("0.00"),
        condition: str = WeatherCondition.CLEAR,
        forecast_hours: int = 192,
    ) -> None:
        if condition not in WeatherCondition.values:
            raise ImproperlyConfigured(f"Unknown weather condition {condition!r}.")
        self.temperature = Decimal(temperature).quantize(TEMPERATURE_STEP)
        self.precipitation = Decimal(precipitation).quantize(PRECIPITATION_STEP)
        self.condition = condition
        self.forecast_hours = forecast_hours

    def fetch(
        self, *, latitude: Decimal, longitude: Decimal, now: dt.datetime
    ) -> WeatherReport:
        start = hour_floor(now)

        def reading(offset: int) -> WeatherReading:
            return WeatherReading(
                hour=start + dt.timedelta(hours=offset),
                temperature=self.temperature,
                precipitation=self.precipitation,
                condition=self.condition,
                is_forecast=offset > 0,
            )

        return WeatherReport(
            current=reading(0),
            forecast=tuple(reading(h) for h in range(1, self.forecast_hours + 1)),
        )


_RETRYABLE_STATUS = {408, 425, 429, 500, 502, 503, 504}
_MAX_BODY_BYTES = 2_000_000


class OpenMeteoProvider:
    """The Open-Meteo forecast API (https://open-meteo.com, no key needed).

    One GET asks for the current conditions and the hourly forecast in GMT. A
    timeout bounds each attempt; timeouts, connection errors and 408/429/5xx are
    retried with exponential backoff; a parsed answer is cached per rounded point
    so that many stores in one city, or a retried job, cost one call.
    """

    name = "open-meteo"
    variables = "temperature_2m,precipitation,weather_code"

    def __init__(
        self,
        *,
        base_url: str = "https://api.open-meteo.com/v1/forecast",
        timeout: float = 5.0,
        retries: int = 2,
        backoff: float = 0.5,
        cache_seconds: int = 600,
        forecast_days: int = 8,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if urllib.parse.urlsplit(base_url).scheme not in ("http", "https"):
            raise ImproperlyConfigured("The Open-Meteo URL must be http(s).")
        self.base_url = base_url
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.cache_seconds = cache_seconds
        self.forecast_days = forecast_days
        self.sleep = sleep

    def url_for(self, *, latitude: Decimal, longitude: Decimal) -> str:
        query = urllib.parse.urlencode(
            {
                "latitude": f"{Decimal(latitude):.4f}",
                "longitude": f"{Decimal(longitude):.4f}",
                "current": self.variables,
                "hourly": self.variables,
                "timezone": "GMT",
                "forecast_days": self.forecast_days,
            }
        )
        return f"{self.base_url}?{query}"

    def fetch(
        self, *, latitude: Decimal, longitude: Decimal, now: dt.datetime
    ) -> WeatherReport:
        key = f"weather:open-meteo:{Decimal(latitude):.2f}:{Decimal(longitude):.2f}"
        cached = cache.get(key)
        if cached is not None:
            report = _report_from_cache(cached)
            if report.current.hour == hour_floor(now):
                return report
        body = self._get(self.url_for(latitude=latitude, longitude=longitude))
        report = parse_open_meteo(body)
        if self.cache_seconds > 0:
            cache.set(key, _report_to_cache(report), self.cache_seconds)
        return report

    def _get(self, url: str) -> bytes:
        request = urllib.request.Request(  # noqa: S310 (scheme checked in __init__)
            url, headers={"Accept": "application/json", "User-Agent": "hema/1"}
        )
        attempts = self.retries + 1
        for attempt in range(attempts):
            try:
                with urllib.request.urlopen(  # noqa: S310 (scheme checked)
                    request, timeout=self.timeout
                ) as response:
                    return response.read(_MAX_BODY_BYTES + 1)
            except urllib.error.HTTPError as exc:
                if exc.code not in _RETRYABLE_STATUS or attempt == attempts - 1:
                    raise WeatherUnavailable(
                        f"Open-Meteo answered HTTP {exc.code}"
                    ) from exc
                reason = f"HTTP {exc.code}"
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                if attempt == attempts - 1:
                    raise WeatherUnavailable(f"Open-Meteo unreachable: {exc}") from exc
                reason = str(exc)
            delay = self.backoff * (2**attempt)
            logger.info(
                "open-meteo attempt %s failed (%s); retrying in %.1fs",
                attempt + 1,
                reason,
                delay,
            )
            self.sleep(delay)
        raise WeatherUnavailable("Open-Meteo: no attempt made")  # retries < 0


def _number(value: Any, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise WeatherUnavailable(f"{what} is not a number: {value!r}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise WeatherUnavailable(f"{what} is not a number: {value!r}") from None
    if not number.is_finite():
        raise WeatherUnavailable(f"{what} is not finite")
    return number


def _reading(
    *, time_text: Any, temperature: Any, precipitation: Any, code: Any, offset: int
) -> WeatherReading | None:
    """One hour from the response; ``None`` where the API left a value empty."""
    if temperature is None or precipitation is None or code is None:
        return None
    if not isinstance(time_text, str):
        raise WeatherUnavailable(f"time is not text: {time_text!r}")
    try:
        local = dt.datetime.fromisoformat(time_text)
    except ValueError:
        raise WeatherUnavailable(f"time is not ISO 8601: {time_text!r}") from None
    if local.tzinfo is None:
        local = local.replace(tzinfo=UTC) - dt.timedelta(seconds=offset)
    temp = _number(temperature, "temperature_2m")
    rain = _number(precipitation, "precipitation")
    if not Decimal(-90) <= temp <= Decimal(60):
        raise WeatherUnavailable(f"temperature out of range: {temp}")
    if not Decimal(0) <= rain <= Decimal(500):
        raise WeatherUnavailable(f"precipitation out of range: {rain}")
    if isinstance(code, bool) or not isinstance(code, int | float) or code != int(code):
        raise WeatherUnavailable(f"weather_code is not an integer: {code!r}")
    return WeatherReading(
        hour=hour_floor(local),
        temperature=temp.quantize(TEMPERATURE_STEP),
        precipitation=rain.quantize(PRECIPITATION_STEP),
        condition=condition_from_wmo(int(code)),
        is_forecast=True,
    )


def parse_open_meteo(body: bytes | str) -> WeatherReport:
    """An Open-Meteo forecast response, checked; anything odd is WeatherUnavailable.

    The current block becomes the observation of its hour; hourly entries after
    that hour are the forecast (earlier ones are model values, not observations,
    and are dropped).
    """
    if isinstance(body, bytes) and len(body) > _MAX_BODY_BYTES:
        raise WeatherUnavailable("response too large")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise WeatherUnavailable("response is not JSON") from None
    if not isinstance(data, dict):
        raise WeatherUnavailable("response is not a JSON object")
    if data.get("error"):
        raise WeatherUnavailable(f"Open-Meteo error: {data.get('reason', '')}")
    offset = data.get("utc_offset_seconds", 0)
    if isinstance(offset, bool) or not isinstance(offset, int):
        raise WeatherUnavailable("utc_offset_seconds is not an integer")
    current, hourly = data.get("current"), data.get("hourly")
    if not isinstance(current, dict) or not isinstance(hourly, dict):
        raise WeatherUnavailable("response lacks the current or hourly block")
    now = _reading(
        time_text=current.get("time"),
        temperature=current.get("temperature_2m"),
        precipitation=current.get("precipitation"),
        code=current.get("weather_code"),
        offset=offset,
    )
    if now is None:
        raise WeatherUnavailable("current conditions are empty")
    columns = [
        hourly.get(name)
        for name in ("time", "temperature_2m", "precipitation", "weather_code")
    ]
    if not all(isinstance(column, list) for column in columns):
        raise WeatherUnavailable("hourly block lacks a column")
    if len({len(column) for column in columns}) != 1:
        raise WeatherUnavailable("hourly columns differ in length")
    forecast = []
    for time_text, temp, rain, code in zip(*columns, strict=True):
        reading = _reading(
            time_text=time_text,
            temperature=temp,
            precipitation=rain,
            code=code,
            offset=offset,
        )
        if reading is not None and reading.hour > now.hour:
            forecast.append(reading)
    current_reading = WeatherReading(
        hour=now.hour,
        temperature=now.temperature,
        precipitation=now.precipitation,
        condition=now.condition,
        is_forecast=False,
    )
    return WeatherReport(current=current_reading, forecast=tuple(forecast))


def _report_to_cache(report: WeatherReport) -> list[list[Any]]:
    readings = (report.current, *report.forecast)
    return [
        [
            r.hour.isoformat(),
            str(r.temperature),
            str(r.precipitation),
            r.condition,
            r.is_forecast,
        ]
        for r in readings
    ]


def _report_from_cache(rows: Sequence[Sequence[Any]]) -> WeatherReport:
    readings = [
        WeatherReading(
            hour=dt.datetime.fromisoformat(hour),
            temperature=Decimal(temp),
            precipitation=Decimal(rain),
            condition=condition,
            is_forecast=is_forecast,
        )
        for hour, temp, rain, condition, is_forecast in rows
    ]
    return WeatherReport(current=readings[0], forecast=tuple(readings[1:]))


def fixed_provider_from_settings() -> FixedWeatherProvider:
    """``HEMA_WEATHER_FIXED`` is ``condition,temperature °C,precipitation mm``."""
    text = settings.HEMA_WEATHER_FIXED
    try:
        condition, temperature, precipitation = (p.strip() for p in text.split(","))
        return FixedWeatherProvider(
            condition=condition,
            temperature=Decimal(temperature),
            precipitation=Decimal(precipitation),
        )
    except (ValueError, InvalidOperation) as exc:
        raise ImproperlyConfigured(
            f"HEMA_WEATHER_FIXED must be 'condition,°C,mm', not {text!r}."
        ) from exc


def get_weather_provider() -> WeatherProvider:
    """The provider ``HEMA_WEATHER_PROVIDER`` names: ``fixed`` or ``open-meteo``."""
    name = settings.HEMA_WEATHER_PROVIDER
    if name == FixedWeatherProvider.name:
        return fixed_provider_from_settings()
    if name == OpenMeteoProvider.name:
        return OpenMeteoProvider(
            base_url=settings.HEMA_OPEN_METEO_URL,
            timeout=settings.HEMA_WEATHER_TIMEOUT_SECONDS,
            retries=settings.HEMA_WEATHER_RETRIES,
            cache_seconds=settings.HEMA_WEATHER_CACHE_SECONDS,
        )
    raise ImproperlyConfigured(
        f"HEMA_WEATHER_PROVIDER must be 'fixed' or 'open-meteo', not {name!r}."
    )


# --- Writes -------------------------------------------------------------------


@dataclass(frozen=True)
class WeatherRefresh:
    """What a refresh did: ``ok`` False means the provider failed (see ``error``)."""

    ok: bool
    provider: str
    observed: int = 0
    forecast: int = 0
    error: str = ""


def store_weather_refresh(
    *,
    store: Store,
    provider: WeatherProvider | None = None,
    now: dt.datetime | None = None,
) -> WeatherRefresh:
    """Fetch the store's weather and store it per hour; never raises.

    The network call happens before any transaction. The current conditions
    become (or replace) the observation of the current hour; forecast hours are
    written where no observation exists. A failing provider is logged and leaves
    the stored hours untouched, so the fallback rule can use what is there.
    """
    provider = provider or get_weather_provider()
    now = now or timezone.now()
    try:
        report = provider.fetch(
            latitude=store.latitude, longitude=store.longitude, now=now
        )
    except Exception as exc:  # pricing must never fail because the weather did
        logger.warning(
            "weather for store %s unavailable from %s: %s",
            store.code,
            provider.name,
            exc,
        )
        return WeatherRefresh(ok=False, provider=provider.name, error=str(exc)[:255])
    fetched_at = timezone.now()
    fields = ["temperature", "precipitation", "condition", "is_forecast", "fetched_at"]

    def row(reading: WeatherReading) -> StoreWeather:
        return StoreWeather(
            store=store,
            hour=reading.hour,
            temperature=reading.temperature,
            precipitation=reading.precipitation,
            condition=reading.condition,
            is_forecast=reading.is_forecast,
            fetched_at=fetched_at,
        )

    with transaction.atomic():
        StoreWeather.objects.bulk_create(
            [row(report.current)],
            update_conflicts=True,
            unique_fields=["store", "hour"],
            update_fields=[*fields, "updated_at"],
        )
        forecast = list(report.forecast)
        if forecast:
            observed_hours = set(
                StoreWeather.objects.filter(
                    store=store,
                    is_forecast=False,
                    hour__gte=forecast[0].hour,
                    hour__lte=forecast[-1].hour,
                ).values_list("hour", flat=True)
            )
            forecast = [r for r in forecast if r.hour not in observed_hours]
            StoreWeather.objects.bulk_create(
                [row(r) for r in forecast],
                update_conflicts=True,
                unique_fields=["store", "hour"],
                update_fields=[*fields, "updated_at"],
            )
    return WeatherRefresh(
        ok=True, provider=provider.name, observed=1, forecast=len(forecast)
    )


# --- Reads --------------------------------------------------------------------


def _snapshot(row: StoreWeather, source: str) -> WeatherSnapshot:
    return WeatherSnapshot(
        hour=row.hour,
        temperature=row.temperature,
        precipitation=row.precipitation,
        condition=row.condition,
        source=source,
    )


def store_weather_for_hour(
    *, store: Store, hour: dt.datetime, now: dt.datetime | None = None
) -> WeatherSnapshot | None:
    """The weather pricing uses for ``hour``; ``None`` is neutral weather.

    Current or past hour: its observation; else the latest observation of the
    ``FALLBACK_HOURS`` hours before it (logged); else neutral (logged). Future
    hour: its forecast (an observation if one exists), else neutral.
    """
    hour = hour_floor(hour)
    current_hour = hour_floor(now or timezone.now())
    if hour > current_hour:
        row = StoreWeather.objects.filter(store=store, hour=hour).first()
        if row is None:
            return None
        return _snapshot(row, "forecast" if row.is_forecast else "observation")
    row = (
        StoreWeather.objects.filter(
            store=store,
            is_forecast=False,
            hour__lte=hour,
            hour__gte=hour - dt.timedelta(hours=FALLBACK_HOURS),
        )
        .order_by("-hour")
        .first()
    )
    if row is None:
        logger.warning(
            "store %s: no observation for %s or the %s hours before; "
            "pricing with neutral weather",
            store.code,
            hour.isoformat(),
            FALLBACK_HOURS,
        )
        return None
    if row.hour == hour:
        return _snapshot(row, "observation")
    logger.warning(
        "store %s: no observation for %s; using the one of %s",
        store.code,
        hour.isoformat(),
        row.hour.isoformat(),
    )
    return _snapshot(row, "fallback")


def store_weather_forecast(
    *, store: Store, start: dt.datetime, end: dt.datetime
) -> dict[dt.datetime, WeatherSnapshot]:
    """Stored weather per hour in ``[start, end)`` (one row per hour, see model)."""
    rows = StoreWeather.objects.filter(
        store=store, hour__gte=hour_floor(start), hour__lt=end
    ).order_by("hour")
    return {
        row.hour: _snapshot(row, "forecast" if row.is_forecast else "observation")
        for row in rows
    }
