"""How a simulated shopper chooses: what to put in the basket, and how price
moves it. Pure and seeded, so that it is tested by hand and a run is
deterministic for its seed.

The price reaction is a constant elasticity ``e`` around the list price: at a
shelf price ``r`` times the list price the shopper still takes a line with
probability ``min(1, r**-e)`` (dearer: some walk away), and below the list
price takes ``r**-e`` times the units (a 30% markdown with ``e = 1.5`` sells
about 1.7 times as much), rounded up or down at random so that the mean holds.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Shelf:
    """One product as the simulation chooses it (ids, category, and how often
    shoppers reach for it: ``weight``, relative within its category)."""

    pk: int
    sku: str
    category: str
    by_weight: bool
    zoned: bool
    weight: float = 1.0


HISTORY_MIX = "history"


def category_weights(
    shelves: Sequence[Shelf], mix: Mapping[str, float] | str
) -> list[tuple[str, float, list[Shelf]]]:
    """The categories a shopper chooses among, with their weights: the
    scenario's mix over the categories the store has (every category alike when
    the mix is empty); a category named but not stocked is left out. With
    ``"history"`` a category weighs the sum of its shelves' weights, so that
    each product is chosen as often as it sold: a run whose shoppers buy what
    the history says meets a forecast made from that history on fair terms."""
    by_category: dict[str, list[Shelf]] = {}
    for shelf in shelves:
        by_category.setdefault(shelf.category, []).append(shelf)
    out = []
    for category in sorted(by_category):
        if mix == HISTORY_MIX:
            weight = sum(s.weight for s in by_category[category])
        else:
            weight = mix.get(category, 0.0) if mix else 1.0
        if weight > 0:
            out.append((category, weight, by_category[category]))
    return out


def in_store_weights(
    shelves: Sequence[Shelf],
    app_pks: set[int],
    *,
    in_store_units: float,
    app_units: float,
) -> list[Shelf]:
    """The in-store shoppers' weights that make both channels together buy
    each product as its history sold (the history counts both).

    The app sells only some products (``app_pks``), so drawing both channels
    from the history alike would oversell those and undersell the rest (by a
    third for the weighed ones at the demo's mix). With ``c`` the units
    expected per unit of weight overall and ``a`` the app's per unit of its own
    weight, the aisle's weight is ``w (c - a)`` for a product the app sells and
    ``w c`` for one it does not; never below zero (an app so large that the
    aisle cannot make up for it is simply left as drawn).
    """
    from dataclasses import replace

    total = sum(s.weight for s in shelves)
    app_total = sum(s.weight for s in shelves if s.pk in app_pks)
    if total <= 0 or in_store_units <= 0:
        return list(shelves)
    c = (in_store_units + app_units) / total
    a = app_units / app_total if app_total > 0 else 0.0
    return [
        replace(s, weight=s.weight * (max(c - a, 0.0) if s.pk in app_pks else c))
        for s in shelves
    ]


def basket_pick(
    rng: random.Random,
    categories: Sequence[tuple[str, float, list[Shelf]]],
    lines: int,
) -> list[Shelf]:
    """``lines`` different products: a category by its weight, then a product
    of it by the shelf's ``weight`` (a product with weight 0 is never chosen;
    a category whose products all weigh 0 is chosen by none)."""
    if not categories:
        return []
    categories = [c for c in categories if any(s.weight > 0 for s in c[2])]
    if not categories:
        return []
    weights = [w for _, w, _ in categories]
    chosen: dict[int, Shelf] = {}
    for _ in range(lines * 3):
        if len(chosen) >= lines:
            break
        _, _, shelves = rng.choices(categories, weights=weights)[0]
        shelf = rng.choices(shelves, weights=[s.weight for s in shelves])[0]
        chosen.setdefault(shelf.pk, shelf)
    return list(chosen.values())


def price_reaction(
    rng: random.Random, *, ratio: float, units: int, elasticity: float
) -> int:
    """Units the shopper takes at ``ratio`` = shelf / list price (module doc);
    0 means the price turned the shopper away from the line."""
    if ratio <= 0:
        return units
    factor = ratio**-elasticity
    if factor < 1:
        return units if rng.random() < factor else 0
    wanted = units * factor
    whole = math.floor(wanted)
    return whole + (1 if rng.random() < wanted - whole else 0)


KG_PER_UNIT = Decimal("0.500")


def quantity_of(shelf: Shelf, units: int) -> Decimal:
    """A line's quantity: pieces, or half a kilogram a unit for weighed goods."""
    return KG_PER_UNIT * units if shelf.by_weight else Decimal(units)
