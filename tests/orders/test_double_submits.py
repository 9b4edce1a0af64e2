"""Double submits: two quick scans add up on one cart line, and the admin's
cancel and refund forms posted twice (a double click) act once."""

import threading
import time
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.db import connection, transaction
from django.test import Client

from inventory.services import stock_receive
from orders.models import CartLine, Order, Refund, WalletEntry
from tests.conftest import requires_postgres
from tests.factories import StoreStaffFactory, UserFactory
from tests.orders.conftest import race, snapshot

D = Decimal


def manager_client(store, user=None) -> Client:
    """A browser signed in as a manager of ``store`` (or as ``user``)."""
    if user is None:
        user = UserFactory(is_staff=True)
        StoreStaffFactory(user=user, store=store, role="manager")
    client = Client()
    client.force_login(user)
    client.user = user
    return client


def form_token(client: Client, url: str) -> str:
    """The one-time token of the form page, as the browser received it."""
    response = client.get(url)
    assert response.status_code == 200
    token = response.context["form"].initial["token"]
    assert f'name="token" value="{token}"' in response.content.decode()
    return token


def shown(response) -> list[str]:
    """The messages the page after the redirect showed."""
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.fixture
def paid_order(store, stocked, shopper) -> Order:
    apples, _ = stocked
    order = shopper.order(store, [(apples, "3")])  # 38.40 from the wallet
    assert shopper.balance == D("161.60")
    return order


# --- One click after another ----------------------------------------------------------


@pytest.mark.django_db
def test_the_refund_form_posted_twice_refunds_once_and_shows_the_first_result(
    store, paid_order, shopper, django_capture_on_commit_callbacks
):
    client = manager_client(store)
    url = f"/admin/orders/order/{paid_order.pk}/refund/"
    body = {"amount": "5.00", "reason": "bruised", "token": form_token(client, url)}

    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(url, body, follow=True)
    after_first = snapshot()
    with django_capture_on_commit_callbacks(execute=True):
        second = client.post(url, body, follow=True)

    change = f"/admin/orders/order/{paid_order.pk}/change/"
    assert first.redirect_chain == second.redirect_chain == [(change, 302)]
    assert (
        shown(first)
        == shown(second)
        == [f"Refund of CNY 5.00 on {paid_order.number} queued."]
    )
    assert snapshot() == after_first
    refund = Refund.objects.get()
    assert (refund.amount, refund.state, refund.request_id) == (
        D("5.00"),
        "succeeded",
        f"admin-{body['token']}",
    )
    assert shopper.balance == D("166.60")


@pytest.mark.django_db
def test_a_new_form_page_makes_a_second_refund(store, paid_order):
    client = manager_client(store)
    url = f"/admin/orders/order/{paid_order.pk}/refund/"
    for _ in range(2):
        token = form_token(client, url)
        response = client.post(url, {"amount": "5.00", "reason": "x", "token": token})
        assert response.status_code == 302

    assert Refund.objects.count() == 2
    paid_order.refresh_from_db()
    assert paid_order.refunded_total == D("10.00")


@pytest.mark.django_db
def test_a_form_without_its_token_is_refused_and_changes_nothing(store, paid_order):
    client = manager_client(store)
    before = snapshot()

    response = client.post(
        f"/admin/orders/order/{paid_order.pk}/refund/",
        {"amount": "5.00", "reason": "bruised"},
    )

    assert response.status_code == 200
    assert "(Hidden field token) This field is required." in response.content.decode()
    assert snapshot() == before


@pytest.mark.django_db
@pytest.mark.parametrize("paid", [True, False])
def test_the_cancel_form_posted_twice_cancels_once(
    store, stocked, shopper, paid, django_capture_on_commit_callbacks
):
    apples, _ = stocked
    order = shopper.order(
        store, [(apples, "3")], method="wallet" if paid else "sandbox"
    )
    client = manager_client(store)
    url = f"/admin/orders/order/{order.pk}/cancel/"
    body = {"reason": "shopper called", "token": form_token(client, url)}

    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(url, body, follow=True)
    after_first = snapshot()
    with django_capture_on_commit_callbacks(execute=True):
        second = client.post(url, body, follow=True)

    assert (
        shown(first)
        == shown(second)
        == [f"Order {order.number} cancelled; stock released, refund queued."]
    )
    assert snapshot() == after_first
    assert Order.objects.get().state == "cancelled"
    assert Refund.objects.count() == (1 if paid else 0)
    assert shopper.balance == D("200.00")


# --- Real concurrency -----------------------------------------------------------------


@requires_postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("action", ["refund", "cancel"])
def test_a_double_click_racing_on_the_admin_form_refunds_once(
    store, stocked, make_shopper, action
):
    apples, _ = stocked
    shopper = make_shopper(balance="200.00")
    orders = [shopper.order(store, [(apples, "2")]) for _ in range(4)]  # 25.60 each
    client = manager_client(store)
    # Two tabs of one browser session would share cookies; two clients of the
    # same manager keep each thread's request its own.
    clients = [client, manager_client(store, client.user)]

    for order in orders:
        url = f"/admin/orders/order/{order.pk}/{action}/"
        body = {"amount": "5.00", "reason": "double", "token": form_token(client, url)}
        outcomes = race(
            *(lambda c=each, u=url, b=body: c.post(u, b) for each in clients)
        )
        assert [getattr(o, "status_code", o) for o in outcomes] == [302, 302]

    # One refund per order, paid once
    amount = D("5.00") if action == "refund" else D("25.60")
    assert sorted(Refund.objects.values_list("order_id", "amount", "state")) == [
        (order.pk, amount, "succeeded") for order in orders
    ]
    assert WalletEntry.objects.filter(kind="refund").count() == 4
    assert shopper.balance == D("200.00") - 4 * (D("25.60") - amount)


@requires_postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("channel", ["in_store", "app"])
def test_two_quick_scans_of_a_new_product_add_up_on_one_line(
    store, make_store_product, make_shopper, channel
):
    shopper = make_shopper(balance=None)
    cart = shopper.open_cart(store, channel)
    products = [make_store_product(list_price=D("3.50")) for _ in range(5)]
    for product in products:
        stock_receive(store_product=product, quantity=10)

    for product in products:
        outcomes = race(
            *(lambda product=product: shopper.add(cart, product, "1") for _ in range(2))
        )
        assert [getattr(o, "status_code", o) for o in outcomes] == [201, 201]

    lines = CartLine.objects.filter(cart__uuid=cart).order_by("pk")
    assert [(line.store_product_id, line.quantity) for line in lines] == [
        (product.pk, D("2.000")) for product in products
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("action", ["refund", "cancel"])
@pytest.mark.parametrize("token", ["f" * 64, "not a token", ""])
def test_a_forged_form_token_is_refused_and_changes_nothing(
    store, paid_order, action, token
):
    client = manager_client(store)
    before = snapshot()

    response = client.post(
        f"/admin/orders/order/{paid_order.pk}/{action}/",
        {"amount": "5.00", "reason": "bruised", "token": token},
    )

    assert response.status_code == 200
    assert "(Hidden field token)" in response.content.decode()
    assert snapshot() == before


def _wait_for_a_lock_wait(seconds: float = 30) -> None:
    """Until some backend of this database waits on a row lock."""
    deadline = time.monotonic() + seconds
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.02)
    raise AssertionError("no request came to wait on the row lock")


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_a_quantity_change_racing_the_lines_removal_does_not_bring_it_back(
    store, stocked, make_shopper
):
    apples, _ = stocked
    shopper = make_shopper(balance=None)
    cart = shopper.cart_with(store, [(apples, "1")])
    line = CartLine.objects.get(cart__uuid=cart)
    removed, release = threading.Event(), threading.Event()
    outcomes: dict[str, object] = {}

    def remove() -> None:
        # The shopper's removal, committed while the quantity change waits on it
        try:
            with transaction.atomic():
                CartLine.objects.filter(pk=line.pk).delete()
                removed.set()
                release.wait(30)
        finally:
            connection.close()

    def change() -> None:
        try:
            outcomes["change"] = shopper.client.patch(
                f"/api/v1/carts/{cart}/lines/{line.pk}/",
                {"quantity": "2"},
                format="json",
            )
        finally:
            connection.close()

    remover = threading.Thread(target=remove)
    remover.start()
    assert removed.wait(30)
    changer = threading.Thread(target=change)
    changer.start()
    _wait_for_a_lock_wait()
    release.set()
    remover.join(30)
    changer.join(30)

    # The change finds the line gone; the removed line stays removed
    response = outcomes["change"]
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid_cart_operation"
    assert list(CartLine.objects.filter(cart__uuid=cart)) == []
