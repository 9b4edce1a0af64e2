"""What every method reads and returns."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

# The 80% interval: the 10th and 90th percentiles.
LOWER_Q = 0.10
UPPER_Q = 0.90


@dataclass(frozen=True)
class SeriesWindow:
    """One store product's daily history, contiguous from ``start``.

    ``quantity`` is what was sold (0 on a day without a row), ``price`` the
    average price charged (carried forward over days without sales),
    ``sold_out`` marks censored days (the units are a floor of demand),
    ``temperature`` and ``precipitation`` the store's daily mean °C and total mm.
    """

    start: dt.date
    quantity: np.ndarray
    price: np.ndarray
    sold_out: np.ndarray
    temperature: np.ndarray
    precipitation: np.ndarray

    def __len__(self) -> int:
        return len(self.quantity)

    @property
    def end(self) -> dt.date:
        """The last day of history."""
        return self.start + dt.timedelta(days=len(self.quantity) - 1)

    def until(self, last_day: dt.date) -> SeriesWindow:
        """The history up to and including ``last_day``."""
        n = (last_day - self.start).days + 1
        n = max(0, min(n, len(self)))
        return SeriesWindow(
            start=self.start,
            quantity=self.quantity[:n],
            price=self.price[:n],
            sold_out=self.sold_out[:n],
            temperature=self.temperature[:n],
            precipitation=self.precipitation[:n],
        )


@dataclass(frozen=True)
class FutureInputs:
    """What the days ahead will bring, as far as the forecast may know:
    the weather forecast (daily mean °C, total mm) and the price (the current
    shelf price)."""

    first_day: dt.date
    temperature: np.ndarray
    precipitation: np.ndarray
    price: np.ndarray

    @property
    def horizon(self) -> int:
        return len(self.temperature)


@dataclass(frozen=True)
class Prediction:
    """Point forecast and 80% interval per day ahead, never negative."""

    point: np.ndarray
    lower: np.ndarray
    upper: np.ndarray

    @classmethod
    def of(cls, point: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> Prediction:
        point = np.maximum(np.nan_to_num(point, nan=0.0), 0.0)
        lower = np.minimum(np.maximum(np.nan_to_num(lower, nan=0.0), 0.0), point)
        upper = np.maximum(np.nan_to_num(upper, nan=0.0), point)
        return cls(point=point, lower=lower, upper=upper)


class MethodError(Exception):
    """A method could not fit or predict this series (the caller falls back)."""
