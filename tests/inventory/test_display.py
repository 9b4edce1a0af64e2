from decimal import Decimal

import pytest

from inventory import display
from inventory.models import SaleUnit


@pytest.mark.parametrize(
    ("value", "unit", "shown"),
    [
        (Decimal("3.000"), SaleUnit.PIECE, "3"),
        (Decimal("0"), SaleUnit.PIECE, "0"),
        (Decimal("1.25"), SaleUnit.KILOGRAM, "1.250 kg"),
        (Decimal("2"), SaleUnit.KILOGRAM, "2.000 kg"),
        (None, SaleUnit.PIECE, "-"),
    ],
)
def test_quantity_reads_as_pieces_or_kilograms(value, unit, shown):
    assert display.quantity(value, unit) == shown


def test_money_names_currency_and_unit():
    assert display.money(Decimal("12.8"), "CNY") == "CNY 12.80"
    assert display.money(Decimal("12.8"), "CNY", SaleUnit.KILOGRAM) == "CNY 12.80 / kg"
    assert display.money(Decimal("3"), "CNY", SaleUnit.PIECE) == "CNY 3.00 / piece"
    assert display.money(None, "CNY") == "-"
