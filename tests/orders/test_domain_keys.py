"""Domain keys: a refund request id per order and a top-up reference per member,
so that a retry whose Idempotency-Key record was lost finds the first result.

The broker is really unreachable here (the project's Celery app pointed at a
closed port, eager mode off): the request still answers its normal 2xx, the
refund waits in the outbox, and the sweep pays it once.
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from hema import jobs
from orders.models import IdempotencyKey, Order, Payment, Refund, WalletEntry
from orders.refunds import refunds_sweep
from tests.orders.conftest import post, provider_pays, snapshot

pytestmark = pytest.mark.django_db
D = Decimal


def key_records_lost() -> None:
    """What a lost answer left behind: no record of the key (a process died, or
    the first attempt was forgotten as a server error)."""
    IdempotencyKey.objects.all().delete()


@pytest.fixture
def paid_order(store, stocked, shopper) -> Order:
    apples, _ = stocked
    order = shopper.order(store, [(apples, "2")])  # 25.60 from the wallet
    assert shopper.balance == D("174.40")
    return order


def test_cancel_with_the_broker_down_answers_and_a_retry_refunds_once(
    broker_down, shopper, paid_order, django_capture_on_commit_callbacks
):
    url = f"/api/v1/orders/{paid_order.uuid}/cancel/"
    sends_failed = jobs.failed_sends

    # When the member cancels while the broker is down
    with django_capture_on_commit_callbacks(execute=True):
        first = post(shopper.client, url, {"reason": "late"}, key="cancel-1")

    # Then the answer is the normal one; the refund waits in the outbox
    assert first.status_code == 200, first.json()
    assert (first.json()["state"], first.json()["refunded_total"]) == (
        "cancelled",
        "25.60",
    )
    assert jobs.failed_sends == sends_failed + 1
    refund = Refund.objects.get()
    assert (refund.state, refund.amount) == ("pending", D("25.60"))

    # When the key's record is lost and the member retries with the same key
    key_records_lost()
    with django_capture_on_commit_callbacks(execute=True):
        again = post(shopper.client, url, {"reason": "late"}, key="cancel-1")

    # Then the same cancelled order comes back and nothing is refunded again
    assert again.status_code == 200, again.json()
    assert again.json()["refunds"] == first.json()["refunds"]
    assert Refund.objects.count() == 1

    # When the sweep runs after the broker was down
    assert refunds_sweep(now=timezone.now() + dt.timedelta(minutes=2)) == 1

    # Then the wallet is credited once
    assert shopper.balance == D("200.00")
    assert WalletEntry.objects.filter(kind="refund").count() == 1


def test_a_cancel_retried_under_a_new_key_with_its_request_id_refunds_once(
    broker_down, shopper, paid_order, django_capture_on_commit_callbacks
):
    url = f"/api/v1/orders/{paid_order.uuid}/cancel/"
    body = {"reason": "late", "request_id": "cancel-7f3a"}
    with django_capture_on_commit_callbacks(execute=True):
        first = post(shopper.client, url, body)
        again = post(shopper.client, url, body)  # a new key, the same request

    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json()
    refund = Refund.objects.get()
    assert (refund.request_id, refund.state) == ("cancel-7f3a", "pending")
    assert refunds_sweep(now=timezone.now() + dt.timedelta(minutes=2)) == 1
    assert shopper.balance == D("200.00")


def test_a_refund_with_the_broker_down_answers_and_retries_refund_once(
    broker_down, manager, shopper, paid_order, django_capture_on_commit_callbacks
):
    url = f"/api/v1/orders/{paid_order.uuid}/refunds/"
    body = {"amount": "5.00", "reason": "bruised"}

    # When the manager refunds while the broker is down
    with django_capture_on_commit_callbacks(execute=True):
        first = post(manager, url, body, key="refund-1")
    assert first.status_code == 201, first.json()
    assert first.json()["state"] == "pending"

    # And retries after the key's record was lost: the same key ...
    key_records_lost()
    with django_capture_on_commit_callbacks(execute=True):
        same_key = post(manager, url, body, key="refund-1")
        # ... and a new key naming the first request's id
        same_id = post(manager, url, {**body, "request_id": first.json()["request_id"]})

    # Then both answer the first refund, and one refund exists
    assert (same_key.status_code, same_id.status_code) == (201, 201)
    assert same_key.json() == first.json() == same_id.json()
    assert Refund.objects.count() == 1
    order = Order.objects.get()
    assert (order.refunded_total, order.refund_status) == (
        D("5.00"),
        "partially_refunded",
    )

    # And the sweep pays it once
    assert refunds_sweep(now=timezone.now() + dt.timedelta(minutes=2)) == 1
    assert shopper.balance == D("179.40")
    assert WalletEntry.objects.filter(kind="refund").count() == 1


def test_the_same_request_id_for_another_amount_is_refused_and_changes_nothing(
    manager, paid_order, django_capture_on_commit_callbacks
):
    url = f"/api/v1/orders/{paid_order.uuid}/refunds/"
    with django_capture_on_commit_callbacks(execute=True):
        post(manager, url, {"amount": "5.00", "reason": "bruised", "request_id": "r1"})
    before = snapshot()

    response = post(
        manager, url, {"amount": "6.00", "reason": "bruised", "request_id": "r1"}
    )

    assert response.status_code == 422
    assert response.json() == {
        "error": "refund_refused",
        "message": f"Request 'r1' already refunded 5.00 on {paid_order.number}; "
        "a new refund needs a new request id.",
        "extra": {"field": "request_id", "refunded": "5.00", "requested": "6.00"},
    }
    assert snapshot() == before


def test_a_top_up_with_the_broker_down_and_its_retries_credit_once(
    broker_down, shopper
):
    url = "/api/v1/wallet/top-ups/"
    body = {"amount": "30.00", "payment_method": "sandbox"}

    first = post(shopper.client, url, body, key="top-up-1")
    assert first.status_code == 201, first.json()
    key_records_lost()
    same_key = post(shopper.client, url, body, key="top-up-1")
    same_reference = post(
        shopper.client, url, {**body, "reference": first.json()["reference"]}
    )

    # Then all three name one top-up, with one provider reference to pay
    assert same_key.status_code == same_reference.status_code == 201
    assert same_key.json() == first.json() == same_reference.json()
    assert Payment.objects.filter(purpose="top_up", amount=D("30.00")).count() == 1

    # And the provider's payment credits the wallet once
    provider_pays(first.json()["provider_reference"])
    assert shopper.balance == D("230.00")


def test_the_same_top_up_reference_for_another_amount_is_refused(shopper):
    url = "/api/v1/wallet/top-ups/"
    post(
        shopper.client,
        url,
        {"amount": "30.00", "payment_method": "sandbox", "reference": "t1"},
    )
    before = snapshot()

    response = post(
        shopper.client,
        url,
        {"amount": "40.00", "payment_method": "sandbox", "reference": "t1"},
    )

    assert response.status_code == 422
    assert response.json() == {
        "error": "top_up_reference_reused",
        "message": "Top-up 't1' was for 30.00 with sandbox; a new top-up needs "
        "a new reference.",
        "extra": {"field": "reference", "amount": "30.00", "payment_method": "sandbox"},
    }
    assert snapshot() == before


def test_a_clients_own_reference_is_kept_for_good_a_derived_one_with_its_key(
    shopper,
):
    url = "/api/v1/wallet/top-ups/"
    body = {"amount": "30.00", "payment_method": "sandbox"}
    own = post(shopper.client, url, {**body, "reference": "t1"}, key="a")
    derived = post(shopper.client, url, body, key="b")
    # Both used 25 hours ago, their key records purged since
    Payment.objects.filter(purpose="top_up", amount=D("30.00")).update(
        created_at=timezone.now() - dt.timedelta(hours=25)
    )
    key_records_lost()

    own_again = post(shopper.client, url, {**body, "reference": "t1"}, key="c")
    derived_again = post(shopper.client, url, body, key="b")

    # The client's reference still names its top-up
    assert own_again.json() == own.json()
    # The same Idempotency-Key a day later is a new top-up, as keys promise
    assert derived_again.status_code == 201
    assert derived_again.json()["uuid"] != derived.json()["uuid"]
    assert derived_again.json()["reference"] == derived.json()["reference"]
    assert Payment.objects.filter(purpose="top_up", amount=D("30.00")).count() == 3


def test_a_cancel_naming_another_refunds_request_id_is_refused_and_changes_nothing(
    manager, shopper, paid_order, django_capture_on_commit_callbacks
):
    # Given a manager's refund on the order, whose request id the member sees
    with django_capture_on_commit_callbacks(execute=True):
        refunded = post(
            manager,
            f"/api/v1/orders/{paid_order.uuid}/refunds/",
            {"amount": "5.00", "reason": "bruised", "request_id": "goodwill-1"},
        )
    assert refunded.status_code == 201, refunded.json()
    order_url = f"/api/v1/orders/{paid_order.uuid}/"
    assert [
        r["request_id"] for r in shopper.client.get(order_url).json()["refunds"]
    ] == ["goodwill-1"]
    before = snapshot()

    # When the member cancels naming that request id
    response = post(
        shopper.client,
        f"{order_url}cancel/",
        {"reason": "late", "request_id": "goodwill-1"},
    )

    # Then the cancel is refused naming the field, and nothing changed
    assert response.status_code == 422, response.content
    assert response.json() == {
        "error": "refund_refused",
        "message": f"Request 'goodwill-1' already refunded 5.00 on "
        f"{paid_order.number}; a cancellation needs a new request id.",
        "extra": {"field": "request_id", "refunded": "5.00"},
    }
    assert snapshot() == before
