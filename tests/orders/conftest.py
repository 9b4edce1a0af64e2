"""Shared helpers of the orders tests: a shopper signed up through the API, a
wallet topped up through the signed sandbox webhook, carts and checkouts, and a
snapshot of everything a refusal must leave as it was."""

import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from inventory.models import (
    Reservation,
    SaleUnit,
    StockMovement,
    StoreProduct,
)
from inventory.services import stock_receive
from orders.models import (
    Cart,
    CartLine,
    Member,
    Order,
    OrderEvent,
    OrderLine,
    OrderSequence,
    Payment,
    Refund,
    Wallet,
    WalletEntry,
    WebhookEvent,
)
from tests.factories import ProductFactory, StoreStaffFactory, UserFactory

D = Decimal
PASSWORD = "fresh-fish-2026"


# --- HTTP helpers ---------------------------------------------------------------------


def sign_up(client: APIClient, **details: Any) -> APIClient:
    response = client.post(
        "/api/v1/auth/signup/", {"password": PASSWORD, **details}, format="json"
    )
    assert response.status_code == 201, response.json()
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    client.token = response.json()["token"]
    return client


def post(client: APIClient, url: str, body: dict, key: str | None = None):
    """A POST with an Idempotency-Key (a fresh one unless ``key`` is given)."""
    headers = {"HTTP_IDEMPOTENCY_KEY": key or str(uuid.uuid4())}
    return client.post(url, body, format="json", **headers)


def signature(body: bytes, *, timestamp: int | None = None, secret: str = "") -> str:
    """The ``Hema-Signature`` header as the provider computes it: an HMAC-SHA256 of
    ``"<timestamp>." + body`` with the shared secret (built here, independently of
    the code under test)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    key = (secret or settings.HEMA_PAYMENT_PROVIDERS["sandbox"]).encode()
    mac = hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def send_raw_webhook(body: bytes, header: str | None, provider: str = "sandbox"):
    extra = {} if header is None else {"HTTP_HEMA_SIGNATURE": header}
    return APIClient().post(
        f"/api/v1/payments/webhooks/{provider}/",
        body,
        content_type="application/json",
        **extra,
    )


def send_webhook(event: dict, *, timestamp: int | None = None):
    body = json.dumps(event).encode()
    return send_raw_webhook(body, signature(body, timestamp=timestamp))


def event(kind: str, reference: str, event_id: str | None = None) -> dict:
    return {
        "id": event_id or f"evt_{uuid.uuid4().hex}",
        "type": kind,
        "data": {"reference": reference},
    }


def provider_pays(reference: str) -> None:
    """The sandbox provider reports that the shopper paid ``reference``."""
    response = send_webhook(event("payment.succeeded", reference))
    assert response.status_code == 200, response.json()
    assert response.json() == {"result": "processed"}


def top_up(client: APIClient, amount: str) -> None:
    response = post(
        client,
        "/api/v1/wallet/top-ups/",
        {"amount": amount, "payment_method": "sandbox"},
    )
    assert response.status_code == 201, response.json()
    provider_pays(response.json()["provider_reference"])


# --- Shoppers, carts, checkouts -------------------------------------------------------


@dataclass
class Shopper:
    client: APIClient
    member: Member

    @property
    def balance(self) -> Decimal:
        return Wallet.objects.get(member=self.member).balance

    def open_cart(self, store, channel: str = "app") -> str:
        response = self.client.post(
            "/api/v1/carts/", {"store": store.code, "channel": channel}, format="json"
        )
        assert response.status_code == 201, response.json()
        return response.json()["uuid"]

    def add(self, cart_uuid: str, store_product: StoreProduct, quantity: str, **extra):
        body = {"quantity": quantity, **extra}
        if "code" not in body:
            cart = Cart.objects.get(uuid=cart_uuid)
            if cart.channel == "in_store":
                sku = store_product.product.sku
                body["code"] = f"https://hema.test/q/{cart.store.code}/{sku}"
            else:
                body["sku"] = store_product.product.sku
        return self.client.post(
            f"/api/v1/carts/{cart_uuid}/lines/", body, format="json"
        )

    def cart_with(
        self,
        store,
        lines: Iterable[tuple[StoreProduct, str]],
        channel: str = "app",
        **extra: Any,
    ) -> str:
        cart_uuid = self.open_cart(store, channel)
        for store_product, quantity in lines:
            response = self.add(cart_uuid, store_product, quantity, **extra)
            assert response.status_code == 201, response.json()
        return cart_uuid

    def add_address(self, latitude: str = "31.235000", longitude: str = "121.480000"):
        response = self.client.post(
            "/api/v1/me/addresses/",
            {"label": "Home", "latitude": latitude, "longitude": longitude},
            format="json",
        )
        assert response.status_code == 201, response.json()
        return response.json()["id"]

    def checkout(
        self,
        cart_uuid: str,
        *,
        mode: str = "pickup",
        method: str = "wallet",
        address_id: int | None = None,
        key: str | None = None,
    ):
        body: dict[str, Any] = {"fulfilment_mode": mode, "payment_method": method}
        if address_id is not None:
            body["address_id"] = address_id
        return post(self.client, f"/api/v1/carts/{cart_uuid}/checkout/", body, key=key)

    def pay_in_store(
        self, cart_uuid: str, *, mode: str = "carry_out", method: str = "wallet"
    ):
        body = {"fulfilment_mode": mode, "payment_method": method}
        return post(self.client, f"/api/v1/carts/{cart_uuid}/pay/", body)

    def order(
        self, store, lines: Iterable[tuple[StoreProduct, str]], **checkout: Any
    ) -> Order:
        """An app order checked out through the API (wallet and pickup by default)."""
        substitution = checkout.pop("substitution", None)
        extra = {"substitution": substitution} if substitution else {}
        cart_uuid = self.cart_with(store, lines, **extra)
        response = self.checkout(cart_uuid, **checkout)
        assert response.status_code == 201, response.json()
        return Order.objects.get(uuid=response.json()["order"]["id"])


@pytest.fixture
def make_shopper() -> Callable[..., Shopper]:
    """A member signed up through the API, with ``balance`` topped up by webhook."""
    counter = iter(range(1, 1000))

    def make(balance: str | None = "200.00", **details: Any) -> Shopper:
        if not details:
            details = {"email": f"shopper{next(counter)}@hema.test"}
        client = sign_up(APIClient(), **details)
        if balance:
            top_up(client, balance)
        member = Member.objects.get(user__auth_token__key=client.token)
        return Shopper(client=client, member=member)

    return make


@pytest.fixture
def shopper(make_shopper) -> Shopper:
    return make_shopper()


@pytest.fixture
def stocked(make_store_product) -> tuple[StoreProduct, StoreProduct]:
    """Apples by the piece (20 on hand, 1 kept from the app) and salmon by weight."""
    apples = make_store_product(list_price=D("12.80"), online_buffer=D("1"))
    salmon = make_store_product(
        product=ProductFactory(sale_unit=SaleUnit.KILOGRAM, tax_class="standard"),
        list_price=D("168.00"),
    )
    stock_receive(store_product=apples, quantity=20)
    stock_receive(store_product=salmon, quantity="4.000")
    return apples, salmon


# --- Real concurrency -----------------------------------------------------------------


def race(*calls: Callable[[], Any], wait_seconds: float = 60) -> list:
    """Run each call in its own thread and database connection, all released at
    once by a barrier; return what each returned or the exception it raised."""
    barrier = threading.Barrier(len(calls), timeout=wait_seconds)
    outcomes: list = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            connection.ensure_connection()
            barrier.wait()
            outcomes[index] = call()
        except Exception as exc:
            outcomes[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=item) for item in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(wait_seconds)
    return outcomes


# --- What a refusal must leave as it was ----------------------------------------------


def snapshot() -> dict[str, Any]:
    """Every row a checkout, payment, refund or wallet change could touch, the
    order-number counter included: a refused checkout gives its number back
    (orders/numbering.py)."""

    def rows(queryset, *fields: str) -> list:
        return list(queryset.order_by("pk").values_list("pk", *fields))

    return {
        "orders": rows(
            Order.objects, "state", "refund_status", "total", "refunded_total"
        ),
        "order_lines": rows(OrderLine.objects, "state", "reservation_id"),
        "order_events": OrderEvent.objects.count(),
        "payments": rows(Payment.objects, "state"),
        "refunds": rows(Refund.objects, "state"),
        "stock": rows(StoreProduct.objects, "on_hand", "reserved", "shelf_price"),
        "reservations": rows(Reservation.objects, "state", "quantity"),
        "stock_movements": StockMovement.objects.count(),
        "wallets": rows(Wallet.objects, "balance"),
        "wallet_entries": rows(WalletEntry.objects, "amount"),
        "carts": rows(Cart.objects, "state"),
        "cart_lines": rows(CartLine.objects, "quantity", "held_price"),
        "webhook_events": WebhookEvent.objects.count(),
        "order_numbers": rows(OrderSequence.objects, "day", "last"),
    }


@pytest.fixture
def manager(store) -> APIClient:
    """A client signed in as the manager of the test store."""
    user = UserFactory()
    StoreStaffFactory(user=user, store=store, role="manager")
    client = APIClient()
    client.force_authenticate(user)
    client.user = user
    return client
