"""Refusals of the orders app; ``hema.api`` turns them into HTTP errors."""

from hema.errors import (
    ApplicationError,
    Conflict,
    InvalidInput,
    NotFound,
    Unprocessable,
)


class OrderNotFound(NotFound):
    code = "order_not_found"


class AddressNotFound(NotFound):
    code = "address_not_found"


class CartNotFound(NotFound):
    code = "cart_not_found"


class CartExpired(Conflict):
    code = "cart_expired"


class CartEmpty(Unprocessable):
    code = "cart_empty"


class ProductUnavailable(Conflict):
    code = "product_unavailable"


class InvalidCartOperation(InvalidInput):
    code = "invalid_cart_operation"


class InvalidTransition(Conflict):
    code = "invalid_transition"


class AlreadyPaid(Conflict):
    code = "already_paid"


class InsufficientFunds(ApplicationError):
    code = "insufficient_funds"
    status_code = 402


class PaymentMethodUnknown(InvalidInput):
    code = "unknown_payment_method"


class CurrencyMismatch(Unprocessable):
    """A wallet pays only orders in its own currency."""

    code = "currency_mismatch"


class TopUpRefused(InvalidInput):
    code = "top_up_refused"


class TopUpReferenceReused(Unprocessable):
    code = "top_up_reference_reused"


class RefundRefused(Unprocessable):
    code = "refund_refused"


class WebhookRejected(ApplicationError):
    code = "webhook_rejected"
    status_code = 400


class SignupRefused(InvalidInput):
    code = "signup_refused"


class LogInRefused(InvalidInput):
    code = "login_refused"
