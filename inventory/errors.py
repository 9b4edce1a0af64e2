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


class MoreThanOnHand(Conflict):
    """A write-off or a pick asked for more than the count says is on the shelf.

    ``extra`` names the field, the SKU, what was asked and what is on hand. A
    count correction is the one way to say the count was wrong.
    """

    code = "more_than_on_hand"
