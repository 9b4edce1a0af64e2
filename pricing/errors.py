"""Refusals of the pricing app; ``hema.api`` turns them into HTTP errors."""

from hema.errors import Conflict, InvalidInput, NotFound


class InvalidPriceQuery(InvalidInput):
    """A bad query parameter of a price read; ``extra["field"]`` names it."""

    code = "invalid_input"


class StoreProductNotPriced(NotFound):
    """The store does not sell the product asked about."""

    code = "product_not_found"


class RepricingInFlight(Conflict):
    """Another run of the store held its repricing lock past the time limit."""

    code = "repricing_in_flight"
