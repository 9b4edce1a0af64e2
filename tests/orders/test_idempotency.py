"""Idempotency-Key on the POSTs that create orders, payments and refunds (the IETF
draft and Stripe's behaviour): required, replayed, refused when reused for another
request, 409 while the first is running, kept 24 hours per member; and the
checkout's domain key, one order per cart. Faults (a connection cut around the
commit) are in test_faults_checkout.py."""

import datetime as dt
import threading
import time
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from orders import idempotency
from orders.idempotency import key_lock_id
from orders.models import Cart, IdempotencyKey, Order, Payment, Refund
from orders.tasks import purge_idempotency_keys_task
from tests.conftest import requires_postgres
from tests.orders.conftest import post, provider_pays, race, snapshot

D = Decimal

MISSING = {
    "error": "idempotency_key_missing",
    "message": "Send an Idempotency-Key header (1-255 characters) so that a retry "
    "cannot act twice.",
    "extra": {"field": "Idempotency-Key"},
}
REUSED = {
    "error": "idempotency_key_reused",
    "message": "This Idempotency-Key was used for another request.",
    "extra": {"field": "Idempotency-Key"},
}
IN_FLIGHT = {
    "error": "idempotency_key_in_flight",
    "message": "The first request with this key is still running; retry later.",
    "extra": {"field": "Idempotency-Key"},
}
PICKUP_WALLET = {"fulfilment_mode": "pickup", "payment_method": "wallet"}


def top_up_body(amount: str = "50.00") -> dict:
    return {"amount": amount, "payment_method": "sandbox"}


# --- The key is required --------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "endpoint", ["checkout", "in_store_pay", "order_pay", "top_up", "refund", "cancel"]
)
@pytest.mark.parametrize("key", [None, "", "k" * 256])
def test_a_money_post_without_a_usable_key_is_refused(
    store, stocked, shopper, manager, endpoint, key
):
    # Given one of each thing a money POST acts on
    apples, _ = stocked
    unpaid = shopper.order(store, [(apples, "1")], method="sandbox")
    paid = shopper.order(store, [(apples, "1")])
    app_cart = shopper.cart_with(store, [(apples, "2")])
    in_store_cart = shopper.cart_with(store, [(apples, "1")], channel="in_store")
    client, url, body = {
        "checkout": (
            shopper.client,
            f"/api/v1/carts/{app_cart}/checkout/",
            PICKUP_WALLET,
        ),
        "in_store_pay": (
            shopper.client,
            f"/api/v1/carts/{in_store_cart}/pay/",
            {"fulfilment_mode": "carry_out", "payment_method": "wallet"},
        ),
        "order_pay": (
            shopper.client,
            f"/api/v1/orders/{unpaid.uuid}/pay/",
            {"payment_method": "wallet"},
        ),
        "top_up": (shopper.client, "/api/v1/wallet/top-ups/", top_up_body()),
        "refund": (
            manager,
            f"/api/v1/orders/{paid.uuid}/refunds/",
            {"amount": "5.00", "reason": "bruised"},
        ),
        "cancel": (shopper.client, f"/api/v1/orders/{paid.uuid}/cancel/", {}),
    }[endpoint]
    keys_before = IdempotencyKey.objects.count()
    before = snapshot()

    # When it is sent without a key (or with an empty or too long one)
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    response = client.post(url, body, format="json", **headers)

    # Then 400 names the header, and nothing changed
    assert (response.status_code, response.json()) == (400, MISSING)
    assert snapshot() == before
    assert IdempotencyKey.objects.count() == keys_before


# --- Replays --------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_checkout_retried_with_its_key_replays_the_first_response(
    store, stocked, shopper
):
    # Given a checkout that went through
    apples, _ = stocked
    cart_uuid = shopper.cart_with(store, [(apples, "3")])
    first = shopper.checkout(cart_uuid, key="checkout-1")
    assert first.status_code == 201, first.json()
    after_first = snapshot()

    # When the app retries it with the same key and body (the answer was lost)
    retry = shopper.checkout(cart_uuid, key="checkout-1")

    # Then it gets the first status and body, marked as a replay, and nothing more
    assert retry.status_code == 201
    assert retry.json() == first.json()
    assert retry["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert snapshot() == after_first
    assert Order.objects.count() == 1
    assert shopper.balance == D("161.60")
    apples.refresh_from_db()
    assert apples.reserved == D("3.000")


@pytest.mark.django_db
def test_a_top_up_retried_with_its_key_starts_one_payment(shopper):
    first = post(shopper.client, "/api/v1/wallet/top-ups/", top_up_body(), key="top-1")
    retry = post(shopper.client, "/api/v1/wallet/top-ups/", top_up_body(), key="top-1")

    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json() == first.json()
    assert Payment.objects.filter(purpose="top_up", amount=D("50.00")).count() == 1


@pytest.mark.django_db
def test_an_order_payment_retried_with_its_key_debits_the_wallet_once(
    store, stocked, shopper
):
    apples, _ = stocked
    order = shopper.order(store, [(apples, "2")], method="sandbox")
    url = f"/api/v1/orders/{order.uuid}/pay/"

    first = post(shopper.client, url, {"payment_method": "wallet"}, key="pay-1")
    retry = post(shopper.client, url, {"payment_method": "wallet"}, key="pay-1")

    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json() == first.json()
    assert first.json()["state"] == "succeeded"
    assert shopper.balance == D("174.40")
    assert Payment.objects.filter(order=order, method="wallet").count() == 1


@pytest.mark.django_db
def test_a_refund_retried_with_its_key_refunds_once(
    store, stocked, shopper, manager, django_capture_on_commit_callbacks
):
    apples, _ = stocked
    order = shopper.order(store, [(apples, "2")])
    url = f"/api/v1/orders/{order.uuid}/refunds/"
    body = {"amount": "5.00", "reason": "bruised"}

    with django_capture_on_commit_callbacks(execute=True):
        first = post(manager, url, body, key="refund-1")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        retry = post(manager, url, body, key="refund-1")

    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json() == first.json()
    assert callbacks == []
    assert Refund.objects.count() == 1
    assert shopper.balance == D("179.40")  # 200.00 - 25.60 + 5.00


@pytest.mark.django_db
def test_a_refusal_is_replayed_too(store, stocked, make_shopper):
    # Given a checkout refused for a low wallet
    apples, _ = stocked
    shopper = make_shopper(balance="20.00")
    cart_uuid = shopper.cart_with(store, [(apples, "3")])
    first = shopper.checkout(cart_uuid, key="low-1")
    assert first.status_code == 402

    # When the wallet is topped up and the same request is retried with the same key
    post(shopper.client, "/api/v1/wallet/top-ups/", top_up_body())
    provider_pays(Payment.objects.filter(state="pending").get().provider_reference)
    before = snapshot()
    retry = shopper.checkout(cart_uuid, key="low-1")

    # Then the first answer is replayed: a retry never acts differently
    assert (retry.status_code, retry.json()) == (402, first.json())
    assert retry["Idempotent-Replayed"] == "true"
    assert snapshot() == before
    # And a new attempt (a new key) goes through
    assert shopper.checkout(cart_uuid, key="low-2").status_code == 201


@pytest.mark.django_db
def test_invalid_input_is_not_kept_so_the_corrected_request_may_use_the_key(shopper):
    refused = post(
        shopper.client, "/api/v1/wallet/top-ups/", top_up_body("-1"), key="t"
    )
    corrected = post(shopper.client, "/api/v1/wallet/top-ups/", top_up_body(), key="t")

    assert refused.status_code == 400
    assert refused.json()["extra"]["fields"]["amount"] == [
        "Ensure this value is greater than or equal to 0.01."
    ]
    assert corrected.status_code == 201
    assert Payment.objects.filter(purpose="top_up", amount=D("50.00")).count() == 1


# --- Reuse for another request --------------------------------------------------------


@pytest.mark.django_db
def test_the_same_key_with_another_body_is_422(store, stocked, shopper):
    first = post(
        shopper.client, "/api/v1/wallet/top-ups/", top_up_body("50.00"), key="k1"
    )
    assert first.status_code == 201
    before = snapshot()

    reused = post(
        shopper.client, "/api/v1/wallet/top-ups/", top_up_body("80.00"), key="k1"
    )

    assert (reused.status_code, reused.json()) == (422, REUSED)
    assert snapshot() == before


@pytest.mark.django_db
def test_the_same_key_on_another_endpoint_is_422(store, stocked, shopper):
    apples, _ = stocked
    cart_uuid = shopper.cart_with(store, [(apples, "1")])
    assert (
        post(
            shopper.client, "/api/v1/wallet/top-ups/", top_up_body(), key="k1"
        ).status_code
        == 201
    )
    before = snapshot()

    reused = shopper.checkout(cart_uuid, key="k1")

    assert (reused.status_code, reused.json()) == (422, REUSED)
    assert snapshot() == before
    assert Cart.objects.get(uuid=cart_uuid).state == "open"


# --- A retry while the first is still running -----------------------------------------


def key_is_locked(user_id: int, key: str) -> bool:
    """Whether some transaction holds the key's advisory lock (its request runs).

    pg_locks shows a bigint advisory lock as two 32-bit halves (classid, objid)."""
    lock_id = key_lock_id(user_id, key) & 0xFFFFFFFFFFFFFFFF
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' "
            "AND granted AND classid::bigint = %s AND objid::bigint = %s "
            "AND objsubid = 1)",
            [lock_id >> 32, lock_id & 0xFFFFFFFF],
        )
        return cursor.fetchone()[0]


@requires_postgres
@pytest.mark.django_db
def test_a_retry_while_the_first_request_runs_is_409(store, stocked, shopper):
    # Given a first checkout with key "slow" that has not finished yet: another
    # session holds the key's lock, as the first request's transaction does from
    # its start until it commits or rolls back
    apples, _ = stocked
    cart_uuid = shopper.cart_with(store, [(apples, "1")])
    other_session = connection.copy()
    with other_session.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_lock(%s)",
            [key_lock_id(shopper.member.user_id, "slow")],
        )
    assert key_is_locked(shopper.member.user_id, "slow")
    before = snapshot()

    # When the app retries with the same key and body
    try:
        retry = shopper.checkout(cart_uuid, key="slow")
    finally:
        other_session.close()  # the first request ends without an answer

    # Then 409 asks it to come back later, and nothing changed (no key kept)
    assert (retry.status_code, retry.json()) == (409, IN_FLIGHT)
    assert snapshot() == before
    assert not IdempotencyKey.objects.filter(key="slow").exists()
    # And once the first has ended without committing, the key is free at once
    again = shopper.checkout(cart_uuid, key="slow")
    assert again.status_code == 201, again.json()
    assert Order.objects.count() == 1


@requires_postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_retry_racing_a_running_checkout_is_409_then_replays(store, stocked, shopper):
    # Given a checkout that is held up inside its transaction (another transaction
    # holds the cart's row lock), in its own thread and connection
    apples, _ = stocked
    cart_uuid = shopper.cart_with(store, [(apples, "2")])
    locked, release = threading.Event(), threading.Event()
    outcome: dict = {}

    def hold_the_cart() -> None:
        try:
            with transaction.atomic():
                Cart.objects.select_for_update().get(uuid=cart_uuid)
                locked.set()
                release.wait(30)
        finally:
            connection.close()

    def first_checkout() -> None:
        try:
            outcome["first"] = shopper.checkout(cart_uuid, key="race")
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_cart)
    holder.start()
    assert locked.wait(30)
    first = threading.Thread(target=first_checkout)
    first.start()
    deadline = time.monotonic() + 30
    while not key_is_locked(shopper.member.user_id, "race"):
        assert time.monotonic() < deadline, "the first checkout never took its key"
        time.sleep(0.05)
    assert not IdempotencyKey.objects.filter(key="race").exists()

    # When the app retries with the same key while the first still runs
    retry = shopper.checkout(cart_uuid, key="race")

    # Then the retry is 409 and did nothing
    assert (retry.status_code, retry.json()) == (409, IN_FLIGHT)
    release.set()
    holder.join(30)
    first.join(30)
    assert outcome["first"].status_code == 201, outcome["first"].json()
    assert Order.objects.count() == 1
    # And once the first is done, the same retry replays its answer
    replay = shopper.checkout(cart_uuid, key="race")
    assert (replay.status_code, replay.json()) == (201, outcome["first"].json())
    assert shopper.balance == D("174.40")


# --- Per member, kept 24 hours --------------------------------------------------------


@pytest.mark.django_db
def test_keys_are_per_member(make_shopper):
    alice, bob = make_shopper(balance=None), make_shopper(balance=None)

    a = post(alice.client, "/api/v1/wallet/top-ups/", top_up_body(), key="same")
    b = post(bob.client, "/api/v1/wallet/top-ups/", top_up_body(), key="same")

    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json()["uuid"] != b.json()["uuid"]
    assert sorted(Payment.objects.values_list("member_id", flat=True)) == sorted(
        [alice.member.pk, bob.member.pk]
    )


@pytest.mark.django_db
def test_keys_are_kept_24_hours_then_forgotten(make_shopper):
    # Given two keys: one used 23 h 59 min ago, one 24 h 1 min ago
    shopper = make_shopper(balance=None)
    for key in ("recent", "old"):
        post(shopper.client, "/api/v1/wallet/top-ups/", top_up_body(), key=key)
    now = timezone.now()
    IdempotencyKey.objects.filter(key="recent").update(
        created_at=now - dt.timedelta(hours=23, minutes=59)
    )
    IdempotencyKey.objects.filter(key="old").update(
        created_at=now - dt.timedelta(hours=24, minutes=1)
    )
    # (the top-up made under it is as old: its reference, derived from the key,
    # is released with it)
    Payment.objects.filter(pk=Payment.objects.latest("pk").pk).update(
        created_at=now - dt.timedelta(hours=24, minutes=1)
    )

    # When the hourly purge runs
    purged = purge_idempotency_keys_task.delay().get()

    # Then only the old key is gone
    assert purged == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["recent"]
    # And the recent one still replays, while the old one now starts a new top-up
    recent = post(
        shopper.client, "/api/v1/wallet/top-ups/", top_up_body(), key="recent"
    )
    old = post(shopper.client, "/api/v1/wallet/top-ups/", top_up_body(), key="old")
    assert recent["Idempotent-Replayed"] == "true"
    assert old.status_code == 201
    assert "Idempotent-Replayed" not in old
    assert Payment.objects.count() == 3


# --- The checkout's domain key: one order per cart ----------------------------------


@pytest.mark.django_db
def test_a_checked_out_cart_asked_again_the_same_way_answers_with_its_order(
    store, stocked, shopper
):
    # Given a cart checked out with key "first", whose key record was then lost
    # (purged, or never stored with a connection cut before it)
    apples, _ = stocked
    cart_uuid = shopper.cart_with(store, [(apples, "3")])
    first = shopper.checkout(cart_uuid, key="first")
    assert first.status_code == 201
    IdempotencyKey.objects.filter(key="first").delete()
    before = snapshot()

    # When the app retries with that key, and with a new key
    retry = shopper.checkout(cart_uuid, key="first")
    again = shopper.checkout(cart_uuid, key="second")

    # Then both get the cart's order as the first answer showed it (200: nothing
    # was created now), never cart_expired, and nothing happened twice
    assert (retry.status_code, retry.json()) == (200, first.json())
    assert (again.status_code, again.json()) == (200, first.json())
    assert "Idempotent-Replayed" not in retry
    assert snapshot() == before
    assert Order.objects.count() == 1
    assert shopper.balance == D("161.60")
    # and a retry of the 200 with its key replays the 200
    replay = shopper.checkout(cart_uuid, key="second")
    assert (replay.status_code, replay["Idempotent-Replayed"]) == (200, "true")


@pytest.mark.django_db
def test_an_in_store_payment_asked_again_lists_what_was_repriced(
    store, stocked, shopper
):
    # Given an in-store cart whose scanned price's hold lapsed before paying
    # (scanned at 12.80, 13.50 on the shelf now), paid with key "pay-1"
    apples, _ = stocked
    cart_uuid = shopper.cart_with(store, [(apples, "2")], channel="in_store")
    Cart.objects.get(uuid=cart_uuid).lines.update(
        price_held_until=timezone.now() - dt.timedelta(minutes=1)
    )
    type(apples).objects.filter(pk=apples.pk).update(shelf_price=D("13.50"))
    body = {"fulfilment_mode": "carry_out", "payment_method": "wallet"}
    url = f"/api/v1/carts/{cart_uuid}/pay/"
    first = post(shopper.client, url, body, key="pay-1")
    assert first.status_code == 201, first.json()
    assert first.json()["repriced"] == [
        {"sku": apples.product.sku, "scanned_price": "12.80", "price": "13.50"}
    ]
    before = snapshot()

    # When it is paid again with a new key
    again = post(shopper.client, url, body, key="pay-2")

    # Then the answer is the first one, repriced lines included, and no second sale
    assert (again.status_code, again.json()) == (200, first.json())
    assert snapshot() == before
    assert shopper.balance == D("173.00")


@requires_postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_without_the_key_lock_the_unique_key_row_still_keeps_one_answer(
    store, stocked, shopper, monkeypatch
):
    # Given the fallback of a database without advisory locks (SQLite): no lock,
    # only the unique (user, key) row guards the key
    monkeypatch.setattr(idempotency.guard, "key_lock", lambda user_id, key: True)
    apples, _ = stocked
    outcomes = []
    for round_no in range(3):
        cart_uuid = shopper.cart_with(store, [(apples, "1")])
        key = f"same-{round_no}"

        def send(cart_uuid=cart_uuid, key=key):
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Token {shopper.client.token}")
            response = client.post(
                f"/api/v1/carts/{cart_uuid}/checkout/",
                PICKUP_WALLET,
                format="json",
                HTTP_IDEMPOTENCY_KEY=key,
            )
            return response.status_code, response.json()

        # When the same key is sent twice at once
        first, second = race(send, send)

        # Then both answers are the first answer, and there is one order
        assert (first[0], second[0]) == (201, 201), (first, second)
        assert first[1] == second[1]
        outcomes.append(first[1]["order"]["id"])
    assert Order.objects.count() == 3
    assert sorted(outcomes) == sorted(
        str(u) for u in Order.objects.values_list("uuid", flat=True)
    )
    assert shopper.balance == D("200.00") - 3 * D("12.80")
