"""Refusals of the inventory app; ``hema.api`` turns them into HTTP errors."""

from hema.errors import Conflict, InvalidInput, NotFound


class StoreNotFound(NotFound):
    code = "store_not_found"


class ProductNotFound(NotFound):
    code = "product_not_found"


class InvalidQuantity(InvalidInput):
    code = "invalid_quantity"


class InvalidScanCode(InvalidInput):
    code = "invalid_code"


class InsufficientStock(Conflict):
    """Not enough available; ``extra["lines"]`` lists every short line."""

    code = "insufficient_stock"


class ReservationNotHeld(Conflict):
    code = "reservation_not_held"
