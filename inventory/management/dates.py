"""A command-line day, parsed once for every inventory command that takes one."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from django.core.management.base import CommandError


def day_option(option: str) -> Callable[[str], dt.date]:
    """An argparse ``type`` for ``option``: a YYYY-MM-DD date, or a
    ``CommandError`` naming the option and the value."""

    def parse(value: str) -> dt.date:
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise CommandError(
                f"{option}: {value!r} is not a date (use YYYY-MM-DD)."
            ) from None

    return parse
