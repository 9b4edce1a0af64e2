"""Store weather: the Open-Meteo client on recorded responses, the fixed
provider, the stored hours and the fallback rule pricing relies on.

Only the HTTP boundary (``urllib.request.urlopen``) is replaced; the client's
URL building, retries, backoff, parsing and cache run for real.
"""

import datetime as dt
import io
import urllib.error
import urllib.parse
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured

from inventory.weather import (
    FixedWeatherProvider,
    OpenMeteoProvider,
    StoreWeather,
    WeatherCondition,
    WeatherUnavailable,
    get_weather_provider,
    parse_open_meteo,
    store_weather_for_hour,
    store_weather_refresh,
)

D = Decimal
UTC = dt.UTC
RECORDINGS = Path(__file__).resolve().parent.parent / "pricing" / "recordings"
RAIN_NOW = dt.datetime(2025, 6, 3, 2, 20, tzinfo=UTC)


def recording(name: str) -> bytes:
    return (RECORDINGS / name).read_bytes()


class FakeUrlopen:
    """Stands in for ``urllib.request.urlopen``: plays back a script of answers
    (bytes to return, or exceptions to raise) and records each request."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.requests = []

    def __call__(self, request, timeout=None):
        self.requests.append((request.full_url, timeout))
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return io.BytesIO(answer)


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def provider(sleeps):
    return OpenMeteoProvider(timeout=2.5, retries=2, backoff=0.5, sleep=sleeps.append)


def http_error(code: int, body: bytes = b"") -> urllib.error.HTTPError:
    return urllib.error.HTTPError(
        "https://api.open-meteo.com/v1/forecast", code, "error", {}, io.BytesIO(body)
    )


# --- Parsing recorded responses -----------------------------------------------


def test_parse_a_rainy_response():
    report = parse_open_meteo(recording("open_meteo_shanghai_rain.json"))
    assert report.current.hour == dt.datetime(2025, 6, 3, 2, tzinfo=UTC)
    assert (
        report.current.temperature,
        report.current.precipitation,
        report.current.condition,
        report.current.is_forecast,
    ) == (D("21.4"), D("1.60"), WeatherCondition.RAIN, False)
    # 8 days of hours from 00:00 GMT, of which those after the current hour
    assert len(report.forecast) == 8 * 24 - 3
    first = report.forecast[0]
    assert (first.hour, first.temperature, first.precipitation, first.condition) == (
        dt.datetime(2025, 6, 3, 3, tzinfo=UTC),
        D("24.8"),
        D("2.80"),
        WeatherCondition.RAIN,
    )
    assert all(r.is_forecast for r in report.forecast)


@pytest.mark.parametrize(
    ("code", "condition"),
    [
        (0, "clear"),
        (2, "cloudy"),
        (45, "fog"),
        (53, "rain"),
        (66, "rain"),
        (81, "rain"),
        (73, "snow"),
        (86, "snow"),
        (95, "storm"),
    ],
)
def test_wmo_codes_become_conditions(code, condition):
    body = recording("open_meteo_shanghai_hot.json").replace(
        b'"weather_code":1}', f'"weather_code":{code}}}'.encode()
    )
    assert parse_open_meteo(body).current.condition == condition


@pytest.mark.parametrize(
    "name",
    [
        "gateway_502.html",
        "open_meteo_truncated.json",
        "open_meteo_columns_mismatch.json",
        "open_meteo_error_400.json",
        "open_meteo_strings.json",
    ],
)
def test_garbage_is_refused(name):
    with pytest.raises(WeatherUnavailable):
        parse_open_meteo(recording(name))


def test_impossible_values_are_refused():
    body = recording("open_meteo_shanghai_hot.json").replace(
        b'"temperature_2m":31.6', b'"temperature_2m":316.0'
    )
    with pytest.raises(WeatherUnavailable, match="temperature out of range"):
        parse_open_meteo(body)


def test_an_unknown_weather_code_is_refused():
    body = recording("open_meteo_shanghai_hot.json").replace(
        b'"weather_code":1}', b'"weather_code":42}'
    )
    with pytest.raises(WeatherUnavailable, match="unknown WMO weather code 42"):
        parse_open_meteo(body)


# --- The client: request, retries, cache --------------------------------------


def test_the_client_asks_for_current_and_hourly_weather_at_the_store(
    monkeypatch, provider
):
    fake = FakeUrlopen(recording("open_meteo_shanghai_rain.json"))
    monkeypatch.setattr("urllib.request.urlopen", fake)
    report = provider.fetch(
        latitude=D("31.2304"), longitude=D("121.4737"), now=RAIN_NOW
    )
    assert report.current.condition == WeatherCondition.RAIN
    [(url, timeout)] = fake.requests
    assert timeout == 2.5
    parts = urllib.parse.urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "api.open-meteo.com",
        "/v1/forecast",
    )
    assert urllib.parse.parse_qs(parts.query) == {
        "latitude": ["31.2304"],
        "longitude": ["121.4737"],
        "current": ["temperature_2m,precipitation,weather_code"],
        "hourly": ["temperature_2m,precipitation,weather_code"],
        "timezone": ["GMT"],
        "forecast_days": ["8"],
    }


def test_a_second_fetch_in_the_same_hour_comes_from_the_cache(monkeypatch, provider):
    fake = FakeUrlopen(recording("open_meteo_shanghai_rain.json"))
    monkeypatch.setattr("urllib.request.urlopen", fake)
    first = provider.fetch(latitude=D("31.23"), longitude=D("121.47"), now=RAIN_NOW)
    again = provider.fetch(
        latitude=D("31.23"),
        longitude=D("121.47"),
        now=RAIN_NOW + dt.timedelta(minutes=20),
    )
    assert again == first
    assert len(fake.requests) == 1


def test_a_cached_report_of_an_earlier_hour_is_fetched_again(monkeypatch, provider):
    fake = FakeUrlopen(
        recording("open_meteo_shanghai_rain.json"),
        recording("open_meteo_shanghai_rain.json"),
    )
    monkeypatch.setattr("urllib.request.urlopen", fake)
    provider.fetch(latitude=D("31.23"), longitude=D("121.47"), now=RAIN_NOW)
    provider.fetch(
        latitude=D("31.23"),
        longitude=D("121.47"),
        now=RAIN_NOW + dt.timedelta(hours=1),
    )
    assert len(fake.requests) == 2


def test_timeouts_are_retried_with_backoff_then_succeed(monkeypatch, provider, sleeps):
    fake = FakeUrlopen(
        TimeoutError("timed out"),
        urllib.error.URLError(ConnectionResetError("reset by peer")),
        recording("open_meteo_shanghai_rain.json"),
    )
    monkeypatch.setattr("urllib.request.urlopen", fake)
    report = provider.fetch(latitude=D("31.23"), longitude=D("121.47"), now=RAIN_NOW)
    assert report.current.temperature == D("21.4")
    assert len(fake.requests) == 3
    assert sleeps == [0.5, 1.0]


def test_a_provider_that_keeps_timing_out_gives_up(monkeypatch, provider, sleeps):
    fake = FakeUrlopen(*(TimeoutError("timed out") for _ in range(3)))
    monkeypatch.setattr("urllib.request.urlopen", fake)
    with pytest.raises(WeatherUnavailable, match="unreachable"):
        provider.fetch(latitude=D("31.23"), longitude=D("121.47"), now=RAIN_NOW)
    assert len(fake.requests) == 3
    assert sleeps == [0.5, 1.0]


def test_server_errors_are_retried_client_errors_are_not(monkeypatch, provider, sleeps):
    fake = FakeUrlopen(http_error(503), recording("open_meteo_shanghai_rain.json"))
    monkeypatch.setattr("urllib.request.urlopen", fake)
    provider.fetch(latitude=D("31.23"), longitude=D("121.47"), now=RAIN_NOW)
    assert len(fake.requests) == 2

    cache.clear()
    refused = FakeUrlopen(http_error(400, recording("open_meteo_error_400.json")))
    monkeypatch.setattr("urllib.request.urlopen", refused)
    with pytest.raises(WeatherUnavailable, match="HTTP 400"):
        provider.fetch(latitude=D("31.23"), longitude=D("121.47"), now=RAIN_NOW)
    assert len(refused.requests) == 1
    assert sleeps == [0.5]


def test_garbage_from_the_wire_is_not_cached(monkeypatch, provider):
    fake = FakeUrlopen(
        recording("gateway_502.html"), recording("open_meteo_shanghai_rain.json")
    )
    monkeypatch.setattr("urllib.request.urlopen", fake)
    with pytest.raises(WeatherUnavailable):
        provider.fetch(latitude=D("31.23"), longitude=D("121.47"), now=RAIN_NOW)
    report = provider.fetch(latitude=D("31.23"), longitude=D("121.47"), now=RAIN_NOW)
    assert report.current.condition == WeatherCondition.RAIN


def test_the_settings_pick_the_provider(settings):
    settings.HEMA_WEATHER_PROVIDER = "fixed"
    settings.HEMA_WEATHER_FIXED = "snow,-3.5,1.2"
    fixed = get_weather_provider()
    assert isinstance(fixed, FixedWeatherProvider)
    assert (fixed.condition, fixed.temperature, fixed.precipitation) == (
        "snow",
        D("-3.5"),
        D("1.20"),
    )
    settings.HEMA_WEATHER_PROVIDER = "open-meteo"
    settings.HEMA_WEATHER_TIMEOUT_SECONDS = 3.0
    real = get_weather_provider()
    assert isinstance(real, OpenMeteoProvider)
    assert real.timeout == 3.0
    settings.HEMA_WEATHER_PROVIDER = "crystal-ball"
    with pytest.raises(ImproperlyConfigured):
        get_weather_provider()
    settings.HEMA_WEATHER_PROVIDER = "fixed"
    settings.HEMA_WEATHER_FIXED = "sunny"
    with pytest.raises(ImproperlyConfigured):
        get_weather_provider()


# --- Stored hours -------------------------------------------------------------


@pytest.mark.django_db
def test_refresh_stores_the_observation_and_the_forecast(store, monkeypatch, provider):
    monkeypatch.setattr(
        "urllib.request.urlopen",
        FakeUrlopen(recording("open_meteo_shanghai_rain.json")),
    )
    result = store_weather_refresh(store=store, provider=provider, now=RAIN_NOW)
    assert (result.ok, result.observed, result.forecast) == (True, 1, 189)
    observed = StoreWeather.objects.get(store=store, is_forecast=False)
    assert (observed.hour, observed.condition, observed.precipitation) == (
        dt.datetime(2025, 6, 3, 2, tzinfo=UTC),
        "rain",
        D("1.60"),
    )
    assert StoreWeather.objects.filter(store=store, is_forecast=True).count() == 189


@pytest.mark.django_db
def test_an_observation_replaces_a_forecast_but_never_the_reverse(store):
    hour = dt.datetime(2025, 6, 3, 10, tzinfo=UTC)
    dry = FixedWeatherProvider(
        condition="cloudy", temperature=D("20"), forecast_hours=3
    )
    store_weather_refresh(store=store, provider=dry, now=hour - dt.timedelta(hours=1))
    assert StoreWeather.objects.get(store=store, hour=hour).is_forecast is True

    wet = FixedWeatherProvider(
        condition="rain", precipitation=D("3"), temperature=D("17"), forecast_hours=3
    )
    store_weather_refresh(store=store, provider=wet, now=hour)
    row = StoreWeather.objects.get(store=store, hour=hour)
    assert (row.is_forecast, row.condition) == (False, "rain")

    # a later refresh from an hour earlier (a late task) forecasts 10:00 again
    store_weather_refresh(store=store, provider=dry, now=hour - dt.timedelta(hours=1))
    row = StoreWeather.objects.get(store=store, hour=hour)
    assert (row.is_forecast, row.condition, row.temperature) == (
        False,
        "rain",
        D("17.0"),
    )
    assert StoreWeather.objects.filter(store=store).count() == 5


@pytest.mark.django_db
def test_a_failing_provider_is_reported_and_changes_nothing(
    store, monkeypatch, provider
):
    store_weather_refresh(
        store=store,
        provider=FixedWeatherProvider(condition="rain", precipitation=D("1")),
        now=RAIN_NOW,
    )
    before = list(StoreWeather.objects.order_by("hour").values())
    monkeypatch.setattr(
        "urllib.request.urlopen", FakeUrlopen(*(TimeoutError() for _ in range(3)))
    )
    result = store_weather_refresh(store=store, provider=provider, now=RAIN_NOW)
    assert (result.ok, result.provider) == (False, "open-meteo")
    assert "unreachable" in result.error
    assert list(StoreWeather.objects.order_by("hour").values()) == before


# --- The fallback rule --------------------------------------------------------


def observe(store, hour, condition="rain", precipitation="1.50"):
    StoreWeather.objects.create(
        store=store,
        hour=hour,
        temperature=D("15.0"),
        precipitation=D(precipitation),
        condition=condition,
        is_forecast=False,
        fetched_at=hour,
    )


@pytest.mark.django_db
def test_the_hour_own_observation_comes_first(store):
    now = dt.datetime(2025, 6, 3, 10, 40, tzinfo=UTC)
    observe(store, dt.datetime(2025, 6, 3, 9, tzinfo=UTC))
    observe(store, dt.datetime(2025, 6, 3, 10, tzinfo=UTC), "clear", "0")
    snapshot = store_weather_for_hour(store=store, hour=now, now=now)
    assert (snapshot.condition, snapshot.source) == ("clear", "observation")


@pytest.mark.django_db
def test_without_one_the_latest_of_the_last_three_hours_stands_in(store, caplog):
    now = dt.datetime(2025, 6, 3, 10, 40, tzinfo=UTC)
    observe(store, dt.datetime(2025, 6, 3, 6, tzinfo=UTC), "snow")
    observe(store, dt.datetime(2025, 6, 3, 7, tzinfo=UTC), "rain")
    snapshot = store_weather_for_hour(store=store, hour=now, now=now)
    assert (snapshot.condition, snapshot.source, snapshot.hour) == (
        "rain",
        "fallback",
        dt.datetime(2025, 6, 3, 7, tzinfo=UTC),
    )
    assert "using the one of 2025-06-03T07:00:00+00:00" in caplog.text


@pytest.mark.django_db
def test_older_observations_and_forecasts_give_neutral_weather(store, caplog):
    now = dt.datetime(2025, 6, 3, 10, 40, tzinfo=UTC)
    observe(store, dt.datetime(2025, 6, 3, 6, tzinfo=UTC))
    StoreWeather.objects.create(
        store=store,
        hour=dt.datetime(2025, 6, 3, 10, tzinfo=UTC),
        temperature=D("15.0"),
        precipitation=D("4.00"),
        condition="rain",
        is_forecast=True,
        fetched_at=now - dt.timedelta(days=1),
    )
    assert store_weather_for_hour(store=store, hour=now, now=now) is None
    assert "pricing with neutral weather" in caplog.text


@pytest.mark.django_db
def test_a_future_hour_uses_its_forecast(store):
    now = dt.datetime(2025, 6, 3, 10, 40, tzinfo=UTC)
    store_weather_refresh(
        store=store,
        provider=FixedWeatherProvider(condition="snow", temperature=D("-1")),
        now=now,
    )
    later = now + dt.timedelta(hours=30)
    snapshot = store_weather_for_hour(store=store, hour=later, now=now)
    assert (snapshot.condition, snapshot.source) == ("snow", "forecast")
    beyond = now + dt.timedelta(days=30)
    assert store_weather_for_hour(store=store, hour=beyond, now=now) is None
