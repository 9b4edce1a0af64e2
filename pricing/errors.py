"""Refusals of the pricing app; ``hema.api`` turns them into HTTP errors."""

from hema.errors import InvalidInput, NotFound


class InvalidPriceQuery(InvalidInput):
    """A bad query parameter of a price read; ``extra["field"]`` names it."""

    code = "invalid_input"


class StoreProductNotPriced(NotFound):
    """The store does not sell the product asked about."""

    code = "product_not_found"
