"""Schemathesis over the whole served schema: the API answers what it documents.

Every operation of ``/api/schema/`` gets generated requests, valid and invalid,
against the in-process WSGI app on the test database, as a member (a token
from the API) and anonymously. Half the requests name things that exist (the
store, a product, the member's cart, line, order and address), so answers with
bodies are checked as well as refusals. Every answer must be no server error,
a documented status code and a body that matches its schema.

Hypothesis is derandomized and its example database is off, so CI sees the
same requests on every run. ``FUZZ_EXAMPLES`` (12 per operation, mode, role and
kind of path) and ``FUZZ_ONLY`` (a part of an operation's label, such as
``/carts/``) narrow or widen a run by hand.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from accounts.tokens import token_issue
from inventory.models import SaleUnit
from inventory.services import stock_receive
from orders.models import CartLine, Order
from tests.factories import (
    ProductFactory,
    StoreFactory,
    StoreProductFactory,
    UserFactory,
)
from tests.orders.conftest import top_up

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
# Per operation, mode (valid or invalid requests) and role.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))
PASSWORD = "fuzz-fresh-2026"


@dataclass
class World:
    """What exists, for requests that name real things."""

    path: dict[str, Any]
    token: str
    leaver: Any  # a second member, whose token the log-out operation revokes


@dataclass
class Tally:
    operations: int = 0
    examples: int = 0
    statuses: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)


def _sign_up(client: APIClient, email: str) -> str:
    response = client.post(
        "/api/v1/auth/signup/", {"email": email, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()["token"]


@pytest.fixture
def world() -> World:
    """A store with products in stock, and a member with an address, a wallet,
    an open cart with a line and a paid order (with a line that replaced none)."""
    store = StoreFactory(code="SH01", opens_at="07:00", closes_at="23:00")
    skus = []
    for index, unit in enumerate([SaleUnit.PIECE, SaleUnit.KILOGRAM]):
        product = ProductFactory(sku=f"FUZ-{index}", sale_unit=unit)
        store_product = StoreProductFactory(
            store=store, product=product, list_price=Decimal("12.50")
        )
        stock_receive(store_product=store_product, quantity=Decimal(50))
        skus.append(product.sku)
    client = APIClient()
    token = _sign_up(client, "fuzz@hema.test")
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    top_up(client, "500.00")
    address = client.post(
        "/api/v1/me/addresses/",
        {"label": "home", "latitude": "31.2243", "longitude": "121.4468"},
        format="json",
    ).json()
    paid_cart = client.post(
        "/api/v1/carts/", {"store": "SH01", "channel": "in_store"}, format="json"
    ).json()
    added = client.post(
        f"/api/v1/carts/{paid_cart['uuid']}/lines/",
        {"code": skus[0], "quantity": "2"},
        format="json",
    )
    assert added.status_code == 201, added.content
    paid = client.post(
        f"/api/v1/carts/{paid_cart['uuid']}/pay/",
        {"fulfilment_mode": "carry_out"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="fuzz-pay",
    )
    assert paid.status_code == 201, paid.content
    cart = client.post(
        "/api/v1/carts/", {"store": "SH01", "channel": "app"}, format="json"
    ).json()
    line = client.post(
        f"/api/v1/carts/{cart['uuid']}/lines/",
        {"sku": skus[1], "quantity": "0.5"},
        format="json",
    ).json()
    assert CartLine.objects.filter(pk=line["id"]).exists()
    order = Order.objects.get()
    return World(
        path={
            "store_code": "SH01",
            "sku": skus[0],
            "code": skus[1],
            "fmt": "svg",
            "cart_uuid": cart["uuid"],
            "line_id": line["id"],
            "order_id": str(order.uuid),
            "address_id": address["id"],
            "provider": "sandbox",
        },
        token=token,
        leaver=UserFactory(),
    )


@contextmanager
def connection_kept() -> Iterator[None]:
    """As Django's test client does, requests do not close the database
    connection when they end: the test's transaction lives on it. (Django's
    test client connects the handler again after each of its own requests.)"""
    signals = (request_started, request_finished)
    for signal in signals:
        signal.disconnect(close_old_connections)
    try:
        yield
    finally:
        for signal in signals:
            signal.connect(close_old_connections)


def _operations(schema: schemathesis.BaseSchema) -> Iterator[Any]:
    only = os.environ.get("FUZZ_ONLY", "")
    for result in schema.get_all_operations():
        if only in result.ok().label:
            yield result.ok()


def _fuzz(operation: Any, world: World, role: str, tally: Tally) -> None:
    names = [parameter.name for parameter in operation.path_parameters]
    real = {name: world.path[name] for name in names if name in world.path}
    cases = [operation.as_strategy(mode) for mode in schemathesis.GenerationMode]
    if real:
        cases += [
            operation.as_strategy(mode, path_parameters=real)
            for mode in schemathesis.GenerationMode
        ]
    logs_out = operation.path == "/api/v1/auth/logout/"

    def headers() -> dict[str, str]:
        if role == "anonymous":
            return {}
        # Logging out revokes the token it is sent with: not the member's.
        token = token_issue(user=world.leaver).key if logs_out else world.token
        return {"Authorization": f"Token {token}"}

    @given(case=st.one_of(cases))
    @settings(
        max_examples=EXAMPLES * len(cases),
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        tally.examples += 1
        try:
            response = case.call_and_validate(headers=headers(), checks=CHECKS)
        except (AssertionError, BaseExceptionGroup) as exc:
            found = getattr(exc, "exceptions", [exc])
            titles = sorted({getattr(f, "title", type(f).__name__) for f in found})
            tally.failures.append(f"{role} {operation.label}: {', '.join(titles)}")
            tally.details.append(str(exc))
            return
        tally.statuses[response.status_code] += 1

    tally.operations += 1
    run()


@pytest.mark.parametrize("role", ["member", "anonymous"])
def test_every_answer_matches_the_schema(world, role, capsys):
    tally = Tally()
    started = time.monotonic()

    with connection_kept():
        # The schema the server serves, through the app that answers the requests.
        schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
        for operation in _operations(schema):
            _fuzz(operation, world, role, tally)

    with capsys.disabled():
        print(
            f"\nschemathesis ({role}): {tally.operations} operations, "
            f"{tally.examples} requests in {time.monotonic() - started:.0f} s, "
            f"statuses {dict(sorted(tally.statuses.items()))}, "
            f"{len(tally.failures)} failures"
        )
        for failure in sorted(set(tally.failures)):
            print(f"  {failure}")
        for detail in tally.details:
            print(detail[:2000])
    assert tally.failures == []
    if not os.environ.get("FUZZ_ONLY"):
        assert tally.operations >= 28  # every operation the schema serves
        if role == "member":  # it reached real answers, not only refusals
            assert tally.statuses[200] > 0
            assert tally.statuses[201] > 0
