"""What changed in each saved version of a price rule or a store's price settings.

django-simple-history keeps one historical row per save of a rule, and one per
save of each of its factor rows (weekday, hour, weather), each in its own
table. A manager asks "what did this save change", so each version of a rule
is shown with its own fields' changes and the factor changes that belong to it.

Which factor changes belong to a version: the admin saves the rule first, then
its factors, in one request; so a version covers the factor history from its
own time up to the next version of the rule. The factors a version left are
the factor rows alive just before the next version (or now), compared with
those alive just before the version itself. The first version starts from no
factors, so it lists what the rule was created with.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Model

from pricing.models import WEEKDAYS, PriceRule, WeatherTrigger

# Columns every row has that say nothing about what a manager changed.
UNTRACKED_FIELDS = ("created_at", "updated_at")
NONE = "—"
_WEEKDAY_NAMES = dict(WEEKDAYS)
_CONDITIONS = dict(WeatherTrigger.choices)


@dataclass(frozen=True)
class Change:
    """One line of a version's changes: ``field: old → new``."""

    field: str
    old: str
    new: str

    def as_context(self) -> dict[str, str]:
        """The shape simple-history's history template reads."""
        return {"field": self.field, "old": self.old, "new": self.new}


def shown(value: Any) -> str:
    """A value as a manager reads it: empty is a dash, factors without noise."""
    if value is None or value == "":
        return NONE
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def field_changes(
    newer: Any, older: Any, *, model: type[Model], exclude: Iterable[str] = ()
) -> list[Change]:
    """The tracked fields that differ between two historical rows of ``model``."""
    excluded = [*UNTRACKED_FIELDS, *exclude]
    delta = newer.diff_against(older, excluded_fields=excluded)
    changes = []
    for change in delta.changes:
        field = model._meta.get_field(change.field)
        old, new = change.old, change.new
        if field.is_relation:
            old = _related(field, old)
            new = _related(field, new)
        changes.append(
            Change(str(field.verbose_name).capitalize(), shown(old), shown(new))
        )
    return changes


def _related(field: Any, pk: Any) -> Any:
    """The related row's own words (``SH01 Hema ...``, ``Fruit``), not its id.

    The row may be gone since; then the id is all there is to show."""
    if pk is None:
        return None
    found = field.related_model._default_manager.filter(pk=pk).first()
    return found if found is not None else f"#{pk}"


def _factor(value: Decimal) -> str:
    return f"x{value.normalize():f}"


def _factor_rows(rule_id: int) -> list[tuple[dt.datetime, str, str, str | None]]:
    """Every saved version of the rule's factors, oldest first, as
    ``(when, slot key, slot label, value or None when deleted)``."""
    rows: list[tuple[dt.datetime, str, str, str | None]] = []
    for kind, related in (
        ("weekday", "weekday_factors"),
        ("hour", "hour_factors"),
        ("weather", "weather_factors"),
    ):
        history = getattr(PriceRule, related).rel.related_model.history
        for row in history.filter(rule_id=rule_id).order_by("history_date", "pk"):
            key, label, value = _slot(kind, row)
            rows.append(
                (
                    row.history_date,
                    key,
                    label,
                    None if row.history_type == "-" else value,
                )
            )
    rows.sort(key=lambda item: item[0])
    return rows


def _slot(kind: str, row: Any) -> tuple[str, str, str]:
    """A factor row's slot (what it prices) and its value as text."""
    if kind == "weekday":
        return (
            f"w{row.weekday}",
            f"Weekday {_WEEKDAY_NAMES.get(row.weekday, row.weekday)}",
            _factor(row.factor),
        )
    if kind == "hour":
        return f"h{row.hour:02d}", f"Hour {row.hour:02d}:00", _factor(row.factor)
    label = _CONDITIONS.get(row.condition, row.condition)
    value = _factor(row.factor)
    if row.threshold is not None:
        value = f"{value} at {row.threshold} °C"
    return f"x{row.condition}", f"Weather: {label.lower()}", value


def _state_before(
    rows: Sequence[tuple[dt.datetime, str, str, str | None]], moment: dt.datetime | None
) -> dict[str, tuple[str, str]]:
    """The factors alive just before ``moment`` (None: now), by slot."""
    state: dict[str, tuple[str, str]] = {}
    for when, key, label, value in rows:
        if moment is not None and when >= moment:
            break
        if value is None:
            state.pop(key, None)
        else:
            state[key] = (label, value)
    return state


def _state_changes(
    before: dict[str, tuple[str, str]], after: dict[str, tuple[str, str]]
) -> list[Change]:
    changes = []
    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        label = (new or old)[0]
        changes.append(Change(label, old[1] if old else NONE, new[1] if new else NONE))
    return changes


def rule_version_changes(
    rule_id: int, versions: Sequence[Any]
) -> dict[int, list[Change]]:
    """``{history_id: changes}`` for the given versions of one rule.

    ``versions`` may be one page of the history; the boundaries come from every
    version of the rule, so a page's newest version still ends where the next
    one (on the page before) begins.
    """
    every = list(
        PriceRule.history.filter(id=rule_id).order_by("history_date", "history_id")
    )
    rows = _factor_rows(rule_id)
    wanted = {version.history_id for version in versions}
    result: dict[int, list[Change]] = {}
    for index, version in enumerate(every):
        if version.history_id not in wanted:
            continue
        changes: list[Change] = []
        if index > 0:
            changes += field_changes(version, every[index - 1], model=PriceRule)
        ends = every[index + 1].history_date if index + 1 < len(every) else None
        before = _state_before(rows, version.history_date) if index > 0 else {}
        changes += _state_changes(before, _state_before(rows, ends))
        result[version.history_id] = changes
    return result
