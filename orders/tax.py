"""Tax per line. Shelf prices include tax (retail in China): the tax is the part
of the line total that the rate makes up, rounded to the cent per line."""

from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings

CENT = Decimal("0.01")


def tax_rate_for(tax_class: str) -> Decimal:
    return Decimal(str(settings.HEMA_TAX_RATES.get(tax_class, "0")))


def tax_included(*, line_total: Decimal, rate: Decimal) -> Decimal:
    if rate <= 0:
        return Decimal("0.00")
    return (line_total * rate / (1 + rate)).quantize(CENT, rounding=ROUND_HALF_UP)


def money(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)
