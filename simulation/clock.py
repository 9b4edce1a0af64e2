"""The simulated clock, shared by the delivery and the store simulations.

Most services take a ``now`` argument; the picking and packing services (and
the timestamps of a few others) read ``django.utils.timezone.now`` instead, so
``simulated_time`` patches that one function for the length of a run: every
service then sees the simulated time. It is a clock, not a mock of the
database or the ORM: the rows are real.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock


class SimClock:
    """The simulated time; ``advance_to`` never goes back (time is monotone)."""

    def __init__(self, start: dt.datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("the simulated clock needs an aware start time")
        self.now = start

    def advance_to(self, at: dt.datetime) -> None:
        if at > self.now:
            self.now = at

    def __call__(self) -> dt.datetime:
        return self.now


@contextmanager
def simulated_time(clock: SimClock) -> Iterator[SimClock]:
    """While inside, ``django.utils.timezone.now()`` answers the clock's time,
    so services without a ``now`` argument stamp their rows in simulated time."""
    with mock.patch("django.utils.timezone.now", new=clock):
        yield clock
