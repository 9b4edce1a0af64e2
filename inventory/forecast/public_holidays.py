"""The country's public holidays, as the forecast and the demo history use them.

The stores are in China: the ``holidays`` package's CN calendar (with its
substituted working days left out: they are ordinary trading days). Each holiday
also casts a short shadow before it (people stock up), which Prophet learns as
the holiday's ``lower_window``.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import holidays

COUNTRY = "CN"
# Days before a holiday that Prophet models as part of it (stocking up).
LEAD_DAYS = 2


@lru_cache(maxsize=32)
def public_holidays(first_year: int, last_year: int) -> tuple[tuple[dt.date, str], ...]:
    """The country's public holidays in ``[first_year, last_year]``, by date."""
    calendar = holidays.country_holidays(
        COUNTRY, years=range(first_year, last_year + 1), language="en_US"
    )
    return tuple(
        sorted(
            (day, name.split(";")[0].strip())
            for day, name in calendar.items()
            if "substitute" not in name.lower() and "day off" not in name.lower()
        )
    )


def holiday_name(name: str) -> str:
    """A short stable key for a holiday ("Chinese New Year (Spring Festival)" ->
    "spring_festival"), so Prophet learns one effect per festival, not per day."""
    lowered = name.lower()
    for key, words in (
        ("spring_festival_eve", ("new year's eve",)),
        ("spring_festival", ("spring festival", "chinese new year")),
        ("national_day", ("national day",)),
        ("labour_day", ("labor day", "labour day")),
        ("mid_autumn", ("mid-autumn",)),
        ("dragon_boat", ("dragon boat",)),
        ("qingming", ("tomb-sweeping", "qingming")),
        ("new_year", ("new year",)),
    ):
        if any(word in lowered for word in words):
            return key
    return "other_holiday"
