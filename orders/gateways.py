"""Where money moves: the wallet and the external providers, behind one interface.

The wallet is the built-in method: it pays and refunds at once. An external
provider (card, Alipay-style) takes the shopper's money in its own app; we learn
of it from a signed webhook, and refunds to it are submitted and confirmed by a
webhook too. A gateway only moves money; the payment and refund services own
the states.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any, Protocol

from django.conf import settings

from orders.errors import PaymentMethodUnknown, WebhookRejected
from orders.models import Payment, Refund, WalletEntryKind, WebhookEvent
from orders.wallet import wallet_credit, wallet_debit

WALLET = "wallet"


class PaymentGateway(Protocol):
    name: str

    def charge(self, *, payment: Payment) -> bool:
        """Take the money now (True), or leave the payment for the webhook."""

    def refund(self, *, refund: Refund) -> bool:
        """Return the money now (True), or submit it and leave it for the webhook."""


class WalletGateway:
    name = WALLET

    def charge(self, *, payment: Payment) -> bool:
        wallet_debit(
            member=payment.member,
            amount=payment.amount,
            reference=payment.provider_reference,
        )
        return True

    def refund(self, *, refund: Refund) -> bool:
        wallet_credit(
            member=refund.payment.member,
            amount=refund.amount,
            kind=WalletEntryKind.REFUND,
            reference=str(refund.uuid),
        )
        return True


class ProviderGateway:
    """An external provider: the app pays with ``provider_reference``; the
    provider's signed webhook reports the outcome."""

    def __init__(self, name: str, secret: str) -> None:
        self.name = name
        self.secret = secret

    def charge(self, *, payment: Payment) -> bool:
        return False  # pending until the provider's payment.succeeded webhook

    def refund(self, *, refund: Refund) -> bool:
        return False  # submitted until the provider's refund.succeeded webhook

    def sign(self, body: bytes, timestamp: int) -> str:
        mac = hmac.new(
            self.secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
        )
        return f"t={timestamp},v1={mac.hexdigest()}"

    def verify(self, body: bytes, header: str, now: float | None = None) -> dict:
        """The event, if the signature is ours and recent; else a refusal."""
        parts = dict(
            item.split("=", 1) for item in (header or "").split(",") if "=" in item
        )
        try:
            timestamp = int(parts["t"])
            given = parts["v1"]
        except (KeyError, ValueError):
            raise WebhookRejected(
                "Missing or malformed signature header.", {"field": "Hema-Signature"}
            ) from None
        now = time.time() if now is None else now
        if abs(now - timestamp) > settings.HEMA_WEBHOOK_TOLERANCE_SECONDS:
            raise WebhookRejected(
                "The signature timestamp is too old.", {"field": "Hema-Signature"}
            )
        expected = self.sign(body, timestamp).split("v1=", 1)[1]
        if not hmac.compare_digest(expected, given):
            raise WebhookRejected("Bad signature.", {"field": "Hema-Signature"})
        try:
            event = json.loads(body)
        except ValueError:
            raise WebhookRejected("The body is not JSON.", {"field": "body"}) from None
        if not isinstance(event, dict) or not {"id", "type", "data"} <= event.keys():
            raise WebhookRejected(
                "An event needs id, type and data.", {"field": "body"}
            )
        event_id, kind = event["id"], event["type"]
        if (
            isinstance(event_id, bool)
            or not isinstance(event_id, str | int)
            or not isinstance(kind, str)
            or not 0 < len(str(event_id)) <= EVENT_ID_MAX
            or not 0 < len(kind) <= EVENT_TYPE_MAX
        ):
            raise WebhookRejected(
                f"An event's id is a string or number of at most {EVENT_ID_MAX} "
                f"characters and its type a string of at most {EVENT_TYPE_MAX}.",
                {"field": "body"},
            )
        if _holds_nul(event):
            raise WebhookRejected(
                "An event may not contain NUL characters.", {"field": "body"}
            )
        return event


EVENT_ID_MAX = WebhookEvent._meta.get_field("event_id").max_length
EVENT_TYPE_MAX = WebhookEvent._meta.get_field("event_type").max_length


def _holds_nul(value: Any) -> bool:
    """Whether a NUL hides in a decoded JSON value (PostgreSQL stores none)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


def gateway_get(method: str) -> PaymentGateway:
    if method == WALLET:
        return WalletGateway()
    secret = settings.HEMA_PAYMENT_PROVIDERS.get(method)
    if secret is None:
        known = [WALLET, *sorted(settings.HEMA_PAYMENT_PROVIDERS)]
        raise PaymentMethodUnknown(
            f"Unknown payment method {method!r}.",
            {"field": "payment_method", "allowed": known},
        )
    return ProviderGateway(method, secret)


def payment_methods() -> list[str]:
    return [WALLET, *sorted(settings.HEMA_PAYMENT_PROVIDERS)]
