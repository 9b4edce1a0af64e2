from hema.errors import Unprocessable


class OutsideDeliveryArea(Unprocessable):
    """The address is beyond the store's radius; ``extra`` offers pickup instead."""

    code = "outside_delivery_area"


class InvalidQuoteToken(Unprocessable):
    code = "invalid_quote"
