"""How quantities and prices read to people: in the admin, on labels, on the shelf page.

One place, so a manager reads ``3`` pieces (never ``3.000``), ``1.250 kg`` and
``CNY 12.80 / kg`` the same way on every screen.
"""

from __future__ import annotations

from decimal import Decimal

from inventory.models import SaleUnit

_CENT = Decimal("0.01")
_GRAM = Decimal("0.001")


def quantity(value: Decimal | int | None, sale_unit: str) -> str:
    """Pieces as a whole number, kilograms to the gram with their unit."""
    if value is None:
        return "-"
    value = Decimal(value)
    if sale_unit == SaleUnit.KILOGRAM:
        return f"{value.quantize(_GRAM)} kg"
    if value == value.to_integral_value():
        return str(int(value))
    # A piece count with a fraction is a data error elsewhere; show it, do not hide it.
    return str(value.normalize())


def unit_suffix(sale_unit: str) -> str:
    """What one price buys: ``/ kg`` or ``/ piece``."""
    return "/ kg" if sale_unit == SaleUnit.KILOGRAM else "/ piece"


def money(amount: Decimal | None, currency: str, sale_unit: str | None = None) -> str:
    """``CNY 12.80``, or ``CNY 12.80 / kg`` when the price is per sale unit."""
    if amount is None:
        return "-"
    text = f"{currency} {Decimal(amount).quantize(_CENT)}"
    return f"{text} {unit_suffix(sale_unit)}" if sale_unit else text
