"""The forecasting methods on series small enough to check by hand, and the rule."""

import datetime as dt
import json

import numpy as np
import pytest

from inventory.forecast.methods import cheap
from inventory.forecast.methods.base import FutureInputs, SeriesWindow
from inventory.forecast.models import ForecastMethod
from inventory.forecast.selection import (
    SeriesStats,
    choose_method,
    method_fit,
    method_predict,
    wape,
)


def window(y, sold_out=None, start=dt.date(2026, 1, 5)) -> SeriesWindow:
    y = np.asarray(y, dtype=float)
    n = len(y)
    return SeriesWindow(
        start=start,
        quantity=y,
        price=np.full(n, 10.0),
        sold_out=np.zeros(n, bool) if sold_out is None else np.asarray(sold_out),
        temperature=np.full(n, 18.0),
        precipitation=np.zeros(n),
    )


def test_seasonal_naive_repeats_the_last_week():
    y = np.arange(1, 15, dtype=float)  # two weeks: 1..14
    params = cheap.seasonal_naive_fit(y)
    forecast = cheap.seasonal_naive_predict(params, y, 9)
    assert forecast.point.tolist() == [8, 9, 10, 11, 12, 13, 14, 8, 9]


def test_exponential_smoothing_keeps_a_flat_series_and_its_weekly_shape():
    flat = np.full(28, 5.0)
    assert cheap.ets_predict(cheap.ets_fit(flat), flat, 3).point == pytest.approx(
        [5, 5, 5]
    )
    week = np.array([2, 2, 2, 2, 4, 8, 8], dtype=float)
    y = np.tile(week, 8)
    forecast = cheap.ets_predict(cheap.ets_fit(y), y, 7)
    assert forecast.point == pytest.approx(week)


def test_croston_is_size_over_interval():
    # A sale of 3 every third day: 1 a day.
    y = np.array([0, 0, 3] * 10, dtype=float)
    forecast = cheap.croston_predict({"alpha": 0.1, "q": [0, 0]}, y, 4)
    assert forecast.point == pytest.approx([1.0] * 4)


def test_tsb_fades_demand_that_stopped():
    y = np.array([2.0] * 20 + [0.0] * 10)
    params = {"alpha_p": 0.2, "alpha_z": 0.2, "q": [0, 0]}
    forecast = cheap.tsb_predict(params, y, 1).point[0]
    # The chance starts at the share of sale days (2/3), rises towards 1 over
    # twenty sale days, then falls by 0.8 a day over ten empty ones; size stays 2.
    chance = 1 - (1 / 3) * 0.8**20
    assert forecast == pytest.approx(2 * chance * 0.8**10)
    croston = cheap.croston_predict({"alpha": 0.2, "q": [0, 0]}, y, 1).point[0]
    assert croston == pytest.approx(2.0)  # Croston does not see it die


def test_a_sold_out_day_is_floored_at_its_weekday_mean():
    y = np.array([10.0] * 7 + [12.0] * 7 + [3.0])
    out = np.zeros(15, bool)
    out[14] = True
    assert cheap.uncensor(y, out)[14] == pytest.approx(11.0)
    out[14] = False
    assert cheap.uncensor(y, out)[14] == 3.0


def test_the_interval_holds_the_point_and_is_never_negative():
    y = np.array([0, 1, 0, 4, 0, 0, 2] * 6, dtype=float)
    payload, _ = method_fit(ForecastMethod.TSB, window(y))
    future = FutureInputs(
        first_day=dt.date(2026, 2, 16),
        temperature=np.full(7, 18.0),
        precipitation=np.zeros(7),
        price=np.full(7, 10.0),
    )
    forecast = method_predict(
        ForecastMethod.TSB, payload, window=window(y), future=future
    )
    assert (forecast.lower >= 0).all()
    assert (forecast.lower <= forecast.point).all()
    assert (forecast.point <= forecast.upper).all()
    assert set(json.loads(payload)) == {"alpha_p", "alpha_z", "q"}


def test_wape_leaves_sold_out_days_out():
    forecast = np.array([10.0, 10.0, 10.0])
    actual = np.array([8.0, 12.0, 2.0])
    censored = np.array([False, False, True])
    assert wape(forecast, actual, censored) == pytest.approx(4 / 20)


@pytest.mark.parametrize(
    ("stats", "holdout", "method"),
    [
        (SeriesStats(days=10, zero_share=0.0), {}, ForecastMethod.ETS),
        (
            SeriesStats(days=200, zero_share=0.6),
            {"croston": 0.9, "tsb": 0.8, "prophet": 0.1},
            ForecastMethod.TSB,
        ),
        (
            SeriesStats(days=40, zero_share=0.1),
            {"seasonal_naive": 0.3, "ets": 0.4},
            ForecastMethod.SEASONAL_NAIVE,
        ),
        # The combination stays unless one of its parts is clearly better
        # (below 80% of its error) ...
        (
            SeriesStats(days=400, zero_share=0.1),
            {"prophet_ets": 0.30, "prophet": 0.26, "seasonal_naive": 0.2, "ets": 0.27},
            ForecastMethod.PROPHET_ETS,
        ),
        (
            SeriesStats(days=400, zero_share=0.1),
            {"prophet_ets": 0.30, "prophet": 0.35, "seasonal_naive": 0.4, "ets": 0.23},
            ForecastMethod.ETS,
        ),
        (
            SeriesStats(days=400, zero_share=0.1),
            {"prophet_ets": 0.30, "prophet": 0.22, "seasonal_naive": 0.4, "ets": 0.35},
            ForecastMethod.PROPHET,
        ),
        # ... and seasonal naive (one week of data per weekday) never replaces it.
        (
            SeriesStats(days=400, zero_share=0.1),
            {"prophet_ets": 0.30, "prophet": 0.33, "seasonal_naive": 0.1, "ets": 0.31},
            ForecastMethod.PROPHET_ETS,
        ),
        # Prophet failed its holdout (no combination score): the best single one.
        (
            SeriesStats(days=400, zero_share=0.1),
            {"seasonal_naive": 0.35, "ets": 0.33},
            ForecastMethod.ETS,
        ),
    ],
)
def test_the_rule_chooses_by_length_zeros_and_holdout_error(stats, holdout, method):
    chosen, reason = choose_method(stats, holdout)
    assert chosen == method
    assert f"{stats.days} days" in reason


def test_prophet_learns_a_weekly_pattern():
    # 16 weeks: weekends sell three times a weekday, with noise.
    rng = np.random.default_rng(5)
    start = dt.date(2026, 1, 5)  # a Monday
    pattern = np.array([10, 10, 10, 10, 10, 30, 30], dtype=float)
    y = rng.poisson(np.tile(pattern, 16)).astype(float)
    history = window(y, start=start)
    payload, _ = method_fit(ForecastMethod.PROPHET, history)
    first = history.end + dt.timedelta(days=1)  # a Monday again
    future = FutureInputs(
        first_day=first,
        temperature=np.full(7, 18.0),
        precipitation=np.zeros(7),
        price=np.full(7, 10.0),
    )
    forecast = method_predict(
        ForecastMethod.PROPHET, payload, window=None, future=future
    )
    weekdays, weekend = forecast.point[:5], forecast.point[5:]
    assert weekdays == pytest.approx([10] * 5, rel=0.2)
    assert weekend == pytest.approx([30, 30], rel=0.2)
    assert (forecast.lower < forecast.point).all()
    assert (forecast.upper > forecast.point).all()


def test_log_prophet_forecasts_the_median_of_noisy_demand_and_its_80_interval():
    # A flat fast mover with overdispersed noise (negative binomial, mean 20,
    # sd 10), 16 weeks: the median day sells 18, the mean is 19. The point
    # is the median (what a low WAPE wants; the mean estimators, Duan's
    # smearing and exp(s^2/2), measured worse on the backtest), and the 80%
    # interval is about the history's 10th to 90th percentiles.
    rng = np.random.default_rng(0)
    y = rng.negative_binomial(4, 4 / 24, 112).astype(float)
    history = window(y)
    payload, _ = method_fit(ForecastMethod.PROPHET, history)
    future = FutureInputs(
        first_day=history.end + dt.timedelta(days=1),
        temperature=np.full(7, 18.0),
        precipitation=np.zeros(7),
        price=np.full(7, 10.0),
    )
    forecast = method_predict(
        ForecastMethod.PROPHET, payload, window=None, future=future
    )
    assert forecast.point.mean() == pytest.approx(np.median(y), rel=0.08)
    assert forecast.point.mean() < 0.97 * y.mean()
    assert forecast.lower.mean() == pytest.approx(np.quantile(y, 0.1), rel=0.2)
    assert forecast.upper.mean() == pytest.approx(np.quantile(y, 0.9), rel=0.15)


def test_the_combination_weighs_log_prophet_four_times_smoothing():
    # A flat series of 10 a day with a small weekly ripple, 16 weeks: both
    # parts forecast about 10; the combination is exactly 4/5 Prophet plus
    # 1/5 smoothing each day.
    rng = np.random.default_rng(7)
    y = rng.poisson(np.full(112, 10.0)).astype(float)
    history = window(y)
    future = FutureInputs(
        first_day=history.end + dt.timedelta(days=1),
        temperature=np.full(7, 18.0),
        precipitation=np.zeros(7),
        price=np.full(7, 10.0),
    )
    payload, init = method_fit(ForecastMethod.PROPHET_ETS, history)
    parts = json.loads(payload)
    assert init is not None  # Prophet's parameters for the next warm start
    combined = method_predict(
        ForecastMethod.PROPHET_ETS, payload, window=history, future=future
    )
    prophet = method_predict(
        ForecastMethod.PROPHET, parts["prophet"], window=history, future=future
    )
    ets = method_predict(
        ForecastMethod.ETS, parts["ets"], window=history, future=future
    )
    assert combined.point == pytest.approx((4 * prophet.point + ets.point) / 5)
    assert combined.upper == pytest.approx((4 * prophet.upper + ets.upper) / 5)
    assert combined.point == pytest.approx([10] * 7, rel=0.25)
    assert (combined.lower <= combined.point).all()
    assert (combined.point <= combined.upper).all()


def test_the_backtest_forecasts_a_week_at_the_regular_price_not_a_promotion():
    from inventory.forecast.backtest import regular_price

    # 10.00 for five weeks, then a promotion at 7.50 in its third day when the
    # week starts: the week is forecast at 10.00 (the shelf price the nightly
    # run reads carries no promotion), not at 7.50 for seven days.
    history = window(np.full(38, 5.0))
    history.price[-3:] = 7.5
    assert regular_price(history) == 10.0
    # a price change two weeks old is the regular price by now
    history.price[-14:] = 12.0
    assert regular_price(history) == 12.0
