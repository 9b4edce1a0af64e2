"""Which method forecasts a series: the written rule, and fitting what it chose.

The rule (``choose_method``), from the series' length, its share of zero days
and a holdout backtest inside its own history (the last ``HOLDOUT_DAYS`` days:
every candidate is fitted on the history before them and forecasts them; the
error is WAPE over the days that did not sell out):

1. Fewer than ``MIN_SEASONAL_DAYS`` (14) days of history: exponential
   smoothing (a level; too short for a weekly pattern or a holdout).
2. Intermittent (at least ``INTERMITTENT_ZERO_SHARE``, 40%, of the last 8 weeks
   sold nothing): Croston or TSB, whichever had the lower holdout error
   (TSB lets demand that dies out fade; Croston keeps the average size).
3. Fewer than ``MIN_PROPHET_DAYS`` (56) days: seasonal naive or exponential
   smoothing, whichever had the lower holdout error.
4. Otherwise the combination (``prophet_ets``): the weighted average of
   Prophet (log units, four fifths) and exponential smoothing (one fifth),
   each fitted on its own. Averaging two methods that err differently
   (Prophet knows the season, holidays, weather and price but can overreact
   to them; smoothing follows the recent level) beats choosing one on a short
   holdout (the M4 competition's finding). Prophet weighs more because it
   is the better of the two alone: smoothing lags the yearly season (its
   bias on the demo history's autumn weeks is +10 to +17%, fruit +20%).
   The weight was chosen on the backtest's four weeks before the last four
   (all 360 series, the regular price): Prophet's share 1/2, 2/3, 4/5, 9/10,
   1 gave WAPE 0.304, 0.299, 0.297, 0.296, 0.297 and bias +3.7%, +1.7%,
   +0.1%, -1.1%, -2.3%; four fifths is within 0.001 of the best with the
   least bias (which replenishment carries straight into stock). One of its two parts
   replaces it only when that part's holdout error is below
   ``PROPHET_MARGIN`` (80%) of the combination's: a single method must win
   clearly. Seasonal naive does not compete here: its value for a weekday
   is a single observation, so its 14-day holdout wins are mostly luck (and
   it lost the weeks after them). When the combination cannot be scored
   (Prophet failed its holdout fit), the best single method.

A method that fails (Prophet's optimiser, a series with no sales) falls back
along ``FALLBACK``: exponential smoothing, then seasonal naive; the choice
records it (``fallback``) and why.

Sold-out days: Prophet leaves them out of its fit (missing ``y``); the cheap
methods see them floored (``cheap.uncensor``); no holdout scores them.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from inventory.forecast.methods import cheap
from inventory.forecast.methods.base import (
    FutureInputs,
    MethodError,
    Prediction,
    SeriesWindow,
)
from inventory.forecast.models import ForecastMethod

MIN_SEASONAL_DAYS = 14
MIN_PROPHET_DAYS = 56
HOLDOUT_DAYS = 14
ZERO_WINDOW_DAYS = 56
INTERMITTENT_ZERO_SHARE = 0.4
PROPHET_MARGIN = 0.8
FALLBACK = (ForecastMethod.ETS, ForecastMethod.SEASONAL_NAIVE)

CheapFit = Callable[[np.ndarray], dict[str, Any]]
CheapPredict = Callable[[dict[str, Any], np.ndarray, int], Prediction]
CHEAP: dict[str, tuple[CheapFit, CheapPredict]] = {
    ForecastMethod.SEASONAL_NAIVE: (
        cheap.seasonal_naive_fit,
        cheap.seasonal_naive_predict,
    ),
    ForecastMethod.ETS: (cheap.ets_fit, cheap.ets_predict),
    ForecastMethod.CROSTON: (cheap.croston_fit, cheap.croston_predict),
    ForecastMethod.TSB: (cheap.tsb_fit, cheap.tsb_predict),
}


@dataclass(frozen=True)
class SeriesStats:
    days: int
    zero_share: float


@dataclass(frozen=True)
class Choice:
    """A fitted series: the method, its payload, why, and whether it fell back."""

    method: str
    payload: str
    reason: str
    fallback: bool = False
    init: dict[str, Any] | None = None


def series_stats(window: SeriesWindow) -> SeriesStats:
    recent = window.quantity[-ZERO_WINDOW_DAYS:]
    open_days = ~window.sold_out[-ZERO_WINDOW_DAYS:]
    zero_share = float(np.mean(recent[open_days] <= 0)) if open_days.any() else 0.0
    return SeriesStats(days=len(window), zero_share=zero_share)


def candidates(stats: SeriesStats) -> tuple[str, ...]:
    """The methods the rule lets compete for this series (rules 1-4)."""
    if stats.days < MIN_SEASONAL_DAYS:
        return (ForecastMethod.ETS,)
    if stats.zero_share >= INTERMITTENT_ZERO_SHARE:
        return (ForecastMethod.CROSTON, ForecastMethod.TSB)
    if stats.days < MIN_PROPHET_DAYS:
        return (ForecastMethod.SEASONAL_NAIVE, ForecastMethod.ETS)
    return (
        ForecastMethod.PROPHET_ETS,
        ForecastMethod.PROPHET,
        ForecastMethod.SEASONAL_NAIVE,
        ForecastMethod.ETS,
    )


def choose_method(stats: SeriesStats, holdout: dict[str, float]) -> tuple[str, str]:
    """The method for a series and the reason, from its statistics and the
    holdout WAPE of each candidate that could be scored (the written rule)."""
    allowed = candidates(stats)
    facts = f"{stats.days} days, {stats.zero_share:.0%} zero"
    scored = {m: e for m, e in holdout.items() if m in allowed and np.isfinite(e)}
    if len(allowed) == 1 or not scored:
        return allowed[0], f"{facts}: rule gives {allowed[0]} (no holdout)"

    def fmt(method: str) -> str:
        return f"{method} {scored[method]:.2f}"

    scores = ", ".join(fmt(m) for m in allowed if m in scored)
    if ForecastMethod.PROPHET_ETS in allowed:
        return _choose_long(facts, scored, scores)
    best = min(scored, key=scored.get)
    kind = (
        "intermittent"
        if best in (ForecastMethod.CROSTON, ForecastMethod.TSB)
        else "short"
    )
    return best, f"{facts} ({kind}); holdout WAPE {scores}"


def _choose_long(facts: str, scored: dict[str, float], scores: str) -> tuple[str, str]:
    """Rule 4: the combination, unless one of its two parts alone beats it
    clearly on the holdout; when it could not be scored (Prophet failed), the
    best single method. Seasonal naive never replaces it here: its weekday
    value is one observation, so a 14-day holdout win is mostly luck."""
    combo_error = scored.get(ForecastMethod.PROPHET_ETS)
    if combo_error is None:
        single = min(scored, key=scored.get)
        return single, f"{facts}; combination unscored; holdout WAPE {scores}"
    parts = [m for m in (ForecastMethod.PROPHET, ForecastMethod.ETS) if m in scored]
    best = min(parts, key=scored.get, default=None)
    if best is not None and scored[best] < PROPHET_MARGIN * combo_error:
        return best, f"{facts}; beats the combination clearly; holdout WAPE {scores}"
    return ForecastMethod.PROPHET_ETS, f"{facts}; holdout WAPE {scores}"


# --- Fitting and predicting one method ----------------------------------------


def method_fit(
    method: str, window: SeriesWindow, *, init: dict[str, Any] | None = None
) -> tuple[str, dict[str, Any] | None]:
    """The method's payload (JSON text) fitted on ``window``, and Prophet's
    parameters for a warm start (None for the cheap methods)."""
    if method == ForecastMethod.PROPHET:
        from inventory.forecast.methods.prophet_model import prophet_fit

        return prophet_fit(window, log=True, init=init)
    if method == ForecastMethod.PROPHET_ETS:
        prophet_payload, init_next = method_fit(
            ForecastMethod.PROPHET, window, init=init
        )
        ets_payload, _ = method_fit(ForecastMethod.ETS, window)
        payload = json.dumps({"prophet": prophet_payload, "ets": ets_payload})
        return payload, init_next
    fit, _ = CHEAP[method]
    y = cheap.uncensor(window.quantity, window.sold_out)
    return json.dumps(fit(y)), None


def method_predict(
    method: str,
    payload: str | tuple[Any, dict[str, Any]],
    *,
    window: SeriesWindow | None,
    future: FutureInputs,
) -> Prediction:
    """The forecast of ``future``'s days; the cheap methods need the history
    up to the day before ``future.first_day`` (``window``). A payload that
    cannot be read is a ``MethodError`` like any other failure."""
    try:
        return _predict(method, payload, window=window, future=future)
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise MethodError(f"{method} could not predict: {exc}") from exc


def _predict(
    method: str,
    payload: str | tuple[Any, dict[str, Any]],
    *,
    window: SeriesWindow | None,
    future: FutureInputs,
) -> Prediction:
    if method == ForecastMethod.PROPHET:
        from inventory.forecast.methods.prophet_model import prophet_predict

        return prophet_predict(payload, future)
    if method == ForecastMethod.PROPHET_ETS:
        parts = json.loads(payload) if isinstance(payload, str) else payload
        return combine(
            _predict(
                ForecastMethod.PROPHET, parts["prophet"], window=window, future=future
            ),
            _predict(ForecastMethod.ETS, parts["ets"], window=window, future=future),
        )
    if method not in CHEAP:
        raise MethodError(f"unknown method {method!r}")
    if window is None or len(window) == 0:
        raise MethodError(f"{method} needs the recent history to predict")
    gap = (future.first_day - window.end).days - 1
    _, predict = CHEAP[method]
    params = json.loads(payload) if isinstance(payload, str) else payload
    y = cheap.uncensor(window.quantity, window.sold_out)
    ahead = predict(params, y, gap + future.horizon)
    return Prediction(
        point=ahead.point[gap:], lower=ahead.lower[gap:], upper=ahead.upper[gap:]
    )


# Prophet's and smoothing's weights in the combination (rule 4).
COMBINATION_WEIGHTS = (0.8, 0.2)


def combine(prophet: Prediction, ets: Prediction) -> Prediction:
    """The weighted average of the two forecasts (points and interval ends)."""
    w_prophet, w_ets = COMBINATION_WEIGHTS
    return Prediction.of(
        w_prophet * prophet.point + w_ets * ets.point,
        w_prophet * prophet.lower + w_ets * ets.lower,
        w_prophet * prophet.upper + w_ets * ets.upper,
    )


def actual_inputs(window: SeriesWindow, first_day: dt.date, n: int) -> FutureInputs:
    """The inputs of days inside the history (the holdout): what happened."""
    i = (first_day - window.start).days
    return FutureInputs(
        first_day=first_day,
        temperature=window.temperature[i : i + n],
        precipitation=window.precipitation[i : i + n],
        price=window.price[i : i + n],
    )


def wape(forecast: np.ndarray, actual: np.ndarray, censored: np.ndarray) -> float:
    """Sum of absolute errors over the sum of actuals, on uncensored days
    (inf when nothing sold on them: WAPE is undefined then)."""
    keep = ~np.asarray(censored, dtype=bool)
    total = float(np.sum(actual[keep]))
    if total <= 0:
        return float("inf") if np.sum(forecast[keep]) > 0 else 0.0
    return float(np.sum(np.abs(forecast[keep] - actual[keep]))) / total


def holdout_errors(
    window: SeriesWindow, methods: tuple[str, ...]
) -> tuple[dict[str, float], dict[str, Any] | None, dict[str, str]]:
    """Each method's WAPE on the last ``HOLDOUT_DAYS`` of ``window``, Prophet's
    parameters from that fit (a warm start for the full fit), and the failures."""
    origin = window.end - dt.timedelta(days=HOLDOUT_DAYS - 1)
    train = window.until(origin - dt.timedelta(days=1))
    i = len(train)
    actual = window.quantity[i:]
    censored = window.sold_out[i:]
    future = actual_inputs(window, origin, HOLDOUT_DAYS)
    errors: dict[str, float] = {}
    failures: dict[str, str] = {}
    init = None
    predictions: dict[str, Prediction] = {}
    for method in methods:
        if method == ForecastMethod.PROPHET_ETS:
            continue  # the average of the two below: nothing more to fit
        try:
            payload, fitted_init = method_fit(method, train)
            if method == ForecastMethod.PROPHET:
                init = fitted_init
            prediction = method_predict(method, payload, window=train, future=future)
        except MethodError as exc:
            failures[method] = str(exc)
            continue
        predictions[method] = prediction
        errors[method] = wape(prediction.point, actual, censored)
    parts = (ForecastMethod.PROPHET, ForecastMethod.ETS)
    if ForecastMethod.PROPHET_ETS in methods and all(p in predictions for p in parts):
        combined = combine(*(predictions[p] for p in parts))
        errors[ForecastMethod.PROPHET_ETS] = wape(combined.point, actual, censored)
    return errors, init, failures


def select_and_fit(window: SeriesWindow) -> Choice:
    """Apply the rule to ``window`` and fit the chosen method on all of it.

    Raises ``MethodError`` only when every fallback failed too."""
    stats = series_stats(window)
    allowed = candidates(stats)
    errors: dict[str, float] = {}
    init = None
    failures: dict[str, str] = {}
    if len(allowed) > 1 and stats.days >= MIN_SEASONAL_DAYS + HOLDOUT_DAYS:
        errors, init, failures = holdout_errors(window, allowed)
    method, reason = choose_method(stats, errors)
    fell_back = ForecastMethod.PROPHET in failures
    if fell_back:
        reason = f"Prophet failed ({failures[ForecastMethod.PROPHET][:80]}); {reason}"
    tried = [method, *(m for m in FALLBACK if m != method)]
    last_error = ""
    for attempt, candidate in enumerate(tried):
        try:
            payload, init_next = method_fit(candidate, window, init=init)
        except MethodError as exc:
            last_error = str(exc)
            continue
        if attempt:
            reason = f"{method} failed ({last_error[:80]}); fell back to {candidate}"
        return Choice(
            method=candidate,
            payload=payload,
            reason=reason[:255],
            fallback=fell_back or attempt > 0,
            init=init_next,
        )
    raise MethodError(f"no method fitted: {last_error}")
