import os
import socket
from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from inventory.models import StoreProduct
from inventory.selectors import stock_totals_from_ledger
from tests.factories import StoreFactory, StoreProductFactory, UserFactory

requires_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL row locks and real concurrent transactions "
    "(set DATABASE_URL to a PostgreSQL database)",
)


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def broker_down() -> Iterator[str]:
    """The project's Celery app, with the project's send options, sending to a
    broker that is not there (eager mode off); yields its URL."""
    from hema.celery import app

    url = f"amqp://guest:guest@127.0.0.1:{closed_port()}//"
    changes = {
        "broker_url": url,
        "broker_transport_options": dict(settings.HEMA_BROKER_SEND_RETRY),
        "task_always_eager": False,
    }
    saved = {key: app.conf[key] for key in changes}
    saved_pools = (app._pool, app.amqp._producer_pool)
    app.conf.update(changes)
    app._pool = app.amqp._producer_pool = None
    try:
        yield url
    finally:
        if app._pool is not None:
            app._pool.force_close_all()
        app.conf.update(saved)
        app._pool, app.amqp._producer_pool = saved_pools


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def store():
    return StoreFactory(code="SH01", name="Hema Test Shanghai")


@pytest.fixture
def user():
    return UserFactory()


@pytest.fixture
def make_store_product(store) -> Callable[..., StoreProduct]:
    def make(**kwargs) -> StoreProduct:
        kwargs.setdefault("store", store)
        return StoreProductFactory(**kwargs)

    return make


def assert_ledger_matches(store_product: StoreProduct) -> None:
    """The stock ledger sums to the counts on the row."""
    store_product.refresh_from_db()
    on_hand, reserved = stock_totals_from_ledger(store_product)
    assert (on_hand, reserved) == (store_product.on_hand, store_product.reserved)
    assert store_product.on_hand >= Decimal(0)


# --- CI runs everything -------------------------------------------------------
# Under CI=true a skipped test fails the run: a test that needs PostgreSQL, the
# broker or a worker skips elsewhere with its reason, but CI has all of them, so a
# skip there means a test that silently stopped running.
_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if _skipped and os.environ.get("CI", "").lower() == "true":
        terminalreporter.section("skipped under CI=true")
        for nodeid in _skipped:
            terminalreporter.line(f"SKIPPED (fails under CI) {nodeid}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if (
        _skipped
        and os.environ.get("CI", "").lower() == "true"
        and exitstatus == pytest.ExitCode.OK
    ):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def put_crew_on_shift(store) -> tuple:
    """A picker on duty and a rider on shift at ``store``: the delivery promise
    offers nothing without them."""
    from delivery.riders import picker_shift_start, rider_shift_start
    from tests.factories import StoreStaffFactory

    picker = StoreStaffFactory(store=store, role="picker").user
    rider = StoreStaffFactory(store=store, role="rider").user
    return (
        picker_shift_start(store=store, picker=picker),
        rider_shift_start(store=store, rider=rider),
    )


@pytest.fixture(autouse=True)
def _delivery_crew(request):
    """Tests of orders and delivery that use the test store find a picker and a
    rider on shift there, as a trading store has (``@pytest.mark.no_crew``
    leaves the store unstaffed)."""
    path = str(request.node.path)
    if (
        "store" not in request.fixturenames
        or request.node.get_closest_marker("no_crew")
        or not any(part in path for part in ("/tests/orders/", "/tests/delivery/"))
    ):
        return
    if request.node.get_closest_marker("django_db") is None:
        return
    put_crew_on_shift(request.getfixturevalue("store"))
