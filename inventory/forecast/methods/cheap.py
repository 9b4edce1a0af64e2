"""The cheap methods, in numpy: seasonal naive, exponential smoothing with a
weekly index, Croston and TSB for intermittent demand.

Each ``*_fit`` chooses its smoothing constants on the history (a small grid,
the lowest one-step absolute error) and returns them with the 10th and 90th
percentiles of its one-step errors (the 80% interval). Each ``*_predict``
re-runs the smoothing over the recent history with those constants: no search,
so the nightly run costs microseconds per series and still sees last night's
sales.

Censored days (sold out) are floored before any of this: the day's units, or
the mean of the same weekday over the four weeks before when that is higher
(``uncensor``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from inventory.forecast.methods.base import LOWER_Q, UPPER_Q, MethodError, Prediction

SEASON = 7
# Only this much recent history drives the cheap methods (speed; old days weigh
# nothing after smoothing anyway).
RECENT_DAYS = 364
INDEX_WEEKS = 8
ALPHAS = (0.05, 0.1, 0.2, 0.3, 0.5)
INTERMITTENT_ALPHAS = (0.05, 0.1, 0.2, 0.3)


def uncensor(quantity: np.ndarray, sold_out: np.ndarray) -> np.ndarray:
    """Sold-out days floored at the mean of the same weekday in the four weeks
    before (uncensored days only); other days as they are."""
    y = np.asarray(quantity, dtype=float).copy()
    for i in np.flatnonzero(sold_out):
        same = [
            i - SEASON * k
            for k in range(1, 5)
            if i - SEASON * k >= 0 and not sold_out[i - SEASON * k]
        ]
        if same:
            y[i] = max(y[i], float(np.mean(y[same])))
    return y


def _recent(y: np.ndarray) -> np.ndarray:
    return np.asarray(y[-RECENT_DAYS:], dtype=float)


def _quantiles(errors: np.ndarray) -> list[float]:
    errors = errors[np.isfinite(errors)]
    if len(errors) < 5:
        return [0.0, 0.0]
    return [float(np.quantile(errors, LOWER_Q)), float(np.quantile(errors, UPPER_Q))]


def _interval(point: np.ndarray, params: dict[str, Any]) -> Prediction:
    low, high = params.get("q", [0.0, 0.0])
    return Prediction.of(point, point + low, point + high)


# --- Seasonal naive -----------------------------------------------------------


def seasonal_naive_fit(y: np.ndarray) -> dict[str, Any]:
    """No constants: the errors of "same weekday last week" give the interval."""
    y = _recent(y)
    if len(y) < SEASON:
        raise MethodError("seasonal naive needs a week of history")
    return {"q": _quantiles(y[SEASON:] - y[:-SEASON])}


def seasonal_naive_predict(
    params: dict[str, Any], y: np.ndarray, horizon: int
) -> Prediction:
    """Day ``i`` ahead is the same weekday of the last week of history."""
    y = np.asarray(y, dtype=float)
    if len(y) < SEASON:
        raise MethodError("seasonal naive needs a week of history")
    last_week = y[-SEASON:]
    point = np.array([last_week[i % SEASON] for i in range(horizon)])
    return _interval(point, params)


# --- Exponential smoothing with a weekly index --------------------------------


def weekly_index(y: np.ndarray) -> np.ndarray:
    """Each weekday's share of the mean over the last ``INDEX_WEEKS`` weeks,
    indexed by position modulo 7 counted from the end of ``y`` (position
    ``len(y) + i`` has phase ``(len(y) + i) % 7``)."""
    n = len(y)
    if n < 2 * SEASON:
        return np.ones(SEASON)
    window = min(n - n % SEASON, INDEX_WEEKS * SEASON)
    positions = np.arange(n - window, n)
    mean = float(np.mean(y[positions]))
    if mean <= 0:
        return np.ones(SEASON)
    index = np.ones(SEASON)
    for phase in range(SEASON):
        values = y[positions[positions % SEASON == phase]]
        index[phase] = float(np.mean(values)) / mean if len(values) else 1.0
    return np.clip(index, 0.1, 5.0)


def _ses(d: np.ndarray, alpha: float) -> tuple[float, np.ndarray]:
    """Simple exponential smoothing: the final level and the one-step forecasts."""
    level = float(np.mean(d[: min(len(d), SEASON)]))
    forecasts = np.empty(len(d))
    for t, value in enumerate(d):
        forecasts[t] = level
        level += alpha * (value - level)
    return level, forecasts


def ets_fit(y: np.ndarray) -> dict[str, Any]:
    """The smoothing constant with the lowest one-step absolute error."""
    y = _recent(y)
    if len(y) == 0:
        raise MethodError("exponential smoothing needs some history")
    index = weekly_index(y)
    phases = np.arange(len(y)) % SEASON
    d = y / index[phases]
    best: tuple[float, float, np.ndarray] | None = None
    for alpha in ALPHAS:
        _, forecasts = _ses(d, alpha)
        errors = y - forecasts * index[phases]
        score = float(np.mean(np.abs(errors[SEASON:]))) if len(y) > SEASON else 0.0
        if best is None or score < best[0]:
            best = (score, alpha, errors)
    _, alpha, errors = best  # type: ignore[misc]  (ALPHAS is not empty)
    return {"alpha": alpha, "q": _quantiles(errors[SEASON:])}


def ets_predict(params: dict[str, Any], y: np.ndarray, horizon: int) -> Prediction:
    """The last level times each day's weekday index."""
    y = _recent(y)
    if len(y) == 0:
        raise MethodError("exponential smoothing needs some history")
    index = weekly_index(y)
    phases = np.arange(len(y)) % SEASON
    level, _ = _ses(y / index[phases], float(params["alpha"]))
    ahead = (len(y) + np.arange(horizon)) % SEASON
    return _interval(level * index[ahead], params)


# --- Croston ------------------------------------------------------------------


def _croston(y: np.ndarray, alpha: float) -> tuple[float, np.ndarray]:
    """Croston: the size of a sale and the days between sales, each smoothed
    when a sale happens; the rate is size / interval. Returns the last rate and
    the one-step forecasts (the rate known before each day)."""
    forecasts = np.zeros(len(y))
    size = interval = 0.0
    since = 0
    for t, value in enumerate(y):
        forecasts[t] = size / interval if interval else 0.0
        since += 1
        if value > 0:
            if interval:
                size += alpha * (value - size)
                interval += alpha * (since - interval)
            else:
                size, interval = float(value), float(since)
            since = 0
    return (size / interval if interval else 0.0), forecasts


def croston_fit(y: np.ndarray) -> dict[str, Any]:
    y = _recent(y)
    if not np.any(y > 0):
        raise MethodError("Croston needs at least one day with sales")
    best = min(
        (
            (float(np.mean(np.abs(y - _croston(y, a)[1]))), a)
            for a in INTERMITTENT_ALPHAS
        ),
    )
    alpha = best[1]
    return {"alpha": alpha, "q": _quantiles(y - _croston(y, alpha)[1])}


def croston_predict(params: dict[str, Any], y: np.ndarray, horizon: int) -> Prediction:
    rate, _ = _croston(_recent(y), float(params["alpha"]))
    return _interval(np.full(horizon, rate), params)


# --- TSB (Teunter, Syntetos, Babai) -------------------------------------------


def _tsb(y: np.ndarray, alpha_p: float, alpha_z: float) -> tuple[float, np.ndarray]:
    """TSB: the chance of a sale is smoothed every day (so demand that dies out
    fades), the size only on days with a sale."""
    nonzero = np.flatnonzero(y > 0)
    forecasts = np.zeros(len(y))
    if len(nonzero) == 0:
        return 0.0, forecasts
    chance = len(nonzero) / len(y)
    size = float(np.mean(y[nonzero]))
    for t, value in enumerate(y):
        forecasts[t] = chance * size
        if value > 0:
            chance += alpha_p * (1.0 - chance)
            size += alpha_z * (value - size)
        else:
            chance -= alpha_p * chance
    return chance * size, forecasts


def tsb_fit(y: np.ndarray) -> dict[str, Any]:
    y = _recent(y)
    if not np.any(y > 0):
        raise MethodError("TSB needs at least one day with sales")
    best = min(
        (float(np.mean(np.abs(y - _tsb(y, ap, az)[1]))), ap, az)
        for ap in INTERMITTENT_ALPHAS
        for az in INTERMITTENT_ALPHAS
    )
    _, alpha_p, alpha_z = best
    errors = y - _tsb(y, alpha_p, alpha_z)[1]
    return {"alpha_p": alpha_p, "alpha_z": alpha_z, "q": _quantiles(errors)}


def tsb_predict(params: dict[str, Any], y: np.ndarray, horizon: int) -> Prediction:
    rate, _ = _tsb(_recent(y), float(params["alpha_p"]), float(params["alpha_z"]))
    return _interval(np.full(horizon, rate), params)
