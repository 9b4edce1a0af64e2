"""Where money moves: the wallet and the external providers, behind one interface.

The wallet is the built-in method: it pays and refunds at once. An external
provider (card, Alipay-style) takes the shopper's money in its own app; we learn
of it from a signed webhook. A refund to a provider is sent to it through its
client (``ProviderClient``) and confirmed by its signed webhook. A gateway only
moves money; the payment and refund services own the states.

The one client here is the sandbox's: no outbound call can happen on these
machines, so it records each request as the provider would (deduplicated by the
request's idempotency key) and, like a real provider, then confirms the refund
with its signed ``refund.succeeded`` webhook (a task after commit, handled by the
same ``payments.webhook_handle`` as one from the network). A real provider's
client implements the same interface and is registered in ``PROVIDER_CLIENTS``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from celery import current_app
from django.conf import settings

from hema.jobs import enqueue_on_commit
from orders.errors import PaymentMethodUnknown, WebhookRejected
from orders.models import Payment, Refund, WalletEntryKind, WebhookEvent
from orders.wallet import wallet_credit, wallet_debit

WALLET = "wallet"
SANDBOX = "sandbox"


class ProviderError(Exception):
    """A provider could not take a request: unreachable, timed out or refused.

    The outcome is unknown, so the request is sent again later under the same
    idempotency key (the provider acts on it once)."""


@dataclass(frozen=True)
class RefundRequest:
    """What a provider is asked to return, and the key it deduplicates by."""

    reference: str  # our refund's uuid; the provider's webhook reports it back
    payment_reference: str  # the payment the money goes back to
    amount: Decimal
    currency: str
    idempotency_key: str


class ProviderClient(Protocol):
    def refund(self, request: RefundRequest) -> str:
        """Ask for the refund; the provider's id for it. Raises ``ProviderError``.

        The answer only says the provider accepted the request: its webhook
        (``refund.succeeded`` or ``refund.failed``) says whether the money went.
        """


# The task that sends the sandbox's refund.succeeded webhook (orders/tasks.py).
SANDBOX_CONFIRM_TASK = "orders.sandbox_confirm_refund"


class SandboxClient:
    """The sandbox provider's side of a refund: it records the request and
    answers with its id, the same one for a request sent again with the same
    idempotency key.

    ``confirms`` (the registered sandbox): each accepted request is then
    confirmed as a provider does, by its signed webhook, sent by a task once
    the caller's transaction commits (and again for a request sent again). A
    sandbox without it leaves the webhook to whoever plays the provider (tests).
    """

    def __init__(self, *, confirms: bool = False) -> None:
        self._lock = threading.Lock()
        self.confirms = confirms
        self.requests: dict[str, RefundRequest] = {}
        self._ids: dict[str, str] = {}

    def refund(self, request: RefundRequest) -> str:
        with self._lock:
            if request.idempotency_key not in self._ids:
                self.requests[request.idempotency_key] = request
                self._ids[request.idempotency_key] = f"re_{secrets.token_hex(12)}"
            refund_id = self._ids[request.idempotency_key]
        if self.confirms:
            enqueue_on_commit(
                current_app.tasks[SANDBOX_CONFIRM_TASK], request.reference
            )
        return refund_id


class UnconnectedClient:
    """A provider named in the settings without a client: every refund to it
    fails, so that it ends in front of the managers instead of vanishing."""

    def __init__(self, name: str) -> None:
        self.name = name

    def refund(self, request: RefundRequest) -> str:
        raise ProviderError(f"No client is configured for provider {self.name!r}.")


# Each provider's client, by name (a provider's integration registers its own).
PROVIDER_CLIENTS: dict[str, ProviderClient] = {SANDBOX: SandboxClient(confirms=True)}


def provider_client(name: str) -> ProviderClient:
    return PROVIDER_CLIENTS.get(name) or UnconnectedClient(name)


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
            currency=payment.currency,
        )
        return True

    def refund(self, *, refund: Refund) -> bool:
        wallet_credit(
            member=refund.payment.member,
            amount=refund.amount,
            kind=WalletEntryKind.REFUND,
            reference=str(refund.uuid),
            currency=refund.payment.currency,
        )
        return True


class ProviderGateway:
    """An external provider: the app pays with ``provider_reference``; the
    provider's signed webhook reports the outcome."""

    def __init__(
        self, name: str, secret: str, client: ProviderClient | None = None
    ) -> None:
        self.name = name
        self.secret = secret
        self.client = client or provider_client(name)

    def charge(self, *, payment: Payment) -> bool:
        return False  # pending until the provider's payment.succeeded webhook

    def refund(self, *, refund: Refund) -> bool:
        """Send the refund (``refund.provider_key`` is its idempotency key) and
        keep the provider's id for it; submitted until the provider's webhook."""
        refund.provider_refund_id = self.client.refund(
            RefundRequest(
                reference=str(refund.uuid),
                payment_reference=refund.payment.provider_reference,
                amount=refund.amount,
                currency=refund.payment.currency,
                idempotency_key=refund.provider_key,
            )
        )
        return False

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
        except RecursionError:
            raise WebhookRejected(
                "The body is nested too deeply.", {"field": "body"}
            ) from None
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
