"""Refunds to a provider: sent through its client, confirmed by its signed
webhook, retried with backoff, and never dropped: out of attempts, a refund
needs a manager's attention in the admin, who retries it."""

import datetime as dt
import logging
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from orders import gateways
from orders.errors import PaymentMethodUnknown
from orders.gateways import ProviderError, RefundRequest, SandboxClient
from orders.models import Order, OrderEvent, Payment, Refund, WebhookEvent
from orders.payments import sandbox_refund_confirm
from orders.refunds import refund_pay, refunds_sweep
from tests.conftest import requires_postgres
from tests.factories import StoreFactory, StoreStaffFactory, UserFactory
from tests.orders.conftest import event, post, race, send_webhook, snapshot

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def sandbox(monkeypatch) -> SandboxClient:
    """A fresh sandbox provider, so that each test sees only its own requests."""
    client = SandboxClient()
    monkeypatch.setitem(gateways.PROVIDER_CLIENTS, "sandbox", client)
    return client


class DownProvider:
    """The provider's side when it cannot be reached: every request times out
    (the boundary the tests replace, as a recorded outage)."""

    def __init__(self) -> None:
        self.keys: list[str] = []

    def refund(self, request: RefundRequest) -> str:
        self.keys.append(request.idempotency_key)
        raise ProviderError("timed out after 10 s")


@pytest.fixture
def provider_order(store, stocked, shopper) -> Order:
    """3 apples (38.40) paid through the sandbox provider."""
    apples, _ = stocked
    order = shopper.order(store, [(apples, "3")], method="sandbox")
    payment = Payment.objects.get(order=order)
    assert send_webhook(event("payment.succeeded", payment.provider_reference)).json()
    order.refresh_from_db()
    assert (order.state, order.total) == ("paid", D("38.40"))
    return order


def refund_by_manager(manager, order: Order, amount: str, capture) -> Refund:
    with capture(execute=True):
        response = post(
            manager,
            f"/api/v1/orders/{order.uuid}/refunds/",
            {"amount": amount, "reason": "bruised"},
        )
    assert response.status_code == 201, response.json()
    return Refund.objects.get(uuid=response.json()["uuid"])


def test_a_provider_refund_is_sent_and_its_webhook_settles_it(
    sandbox, provider_order, manager, shopper, django_capture_on_commit_callbacks
):
    # When a manager refunds 10.00 of an order paid through the provider
    balance = shopper.balance
    refund = refund_by_manager(
        manager, provider_order, "10.00", django_capture_on_commit_callbacks
    )

    # Then the provider received exactly one request for it
    [request] = sandbox.requests.values()
    payment = Payment.objects.get(order=provider_order)
    assert request == RefundRequest(
        reference=str(refund.uuid),
        payment_reference=payment.provider_reference,
        amount=D("10.00"),
        currency="CNY",
        idempotency_key=f"{refund.uuid.hex}-1",
    )
    refund.refresh_from_db()
    assert (refund.state, refund.attempts, refund.last_error) == ("submitted", 1, "")
    assert refund.provider_refund_id.startswith("re_")
    assert refund.provider_key == f"{refund.uuid.hex}-1"
    # And it waits for the provider's webhook, an hour at most before a resend
    wait = refund.next_attempt_at - timezone.now()
    assert dt.timedelta(minutes=59) < wait <= dt.timedelta(hours=1)

    # When the provider confirms it through its signed webhook
    response = send_webhook(event("refund.succeeded", str(refund.uuid)))

    # Then the refund succeeded, back to the provider and not into the wallet
    assert response.json() == {"result": "processed"}
    refund.refresh_from_db()
    assert (refund.state, refund.next_attempt_at) == ("succeeded", None)
    assert shopper.balance == balance
    # And no sweep sends it again
    assert refunds_sweep(now=timezone.now() + dt.timedelta(days=1)) == 0
    assert len(sandbox.requests) == 1


def test_the_sandbox_confirms_a_refund_by_its_own_signed_webhook(
    provider_order, manager, shopper, django_capture_on_commit_callbacks
):
    # Given the sandbox as registered (not a test's stand-in): it confirms by itself
    assert gateways.PROVIDER_CLIENTS["sandbox"].confirms
    balance = shopper.balance

    # When a manager refunds 10.00 of an order paid through it
    refund = refund_by_manager(
        manager, provider_order, "10.00", django_capture_on_commit_callbacks
    )

    # Then its signed refund.succeeded webhook was handled and settled the refund
    confirmation = WebhookEvent.objects.get(event_type="refund.succeeded")
    assert (confirmation.provider, confirmation.payload["data"]) == (
        "sandbox",
        {"reference": str(refund.uuid)},
    )
    refund.refresh_from_db()
    assert (refund.state, refund.attempts, refund.next_attempt_at) == (
        "succeeded",
        1,
        None,
    )
    assert refund.provider_refund_id.startswith("re_")
    # And the money went back to the provider, not into the wallet, once
    assert shopper.balance == balance
    assert refunds_sweep(now=timezone.now() + dt.timedelta(days=1)) == 0


def test_the_sandboxs_confirmation_is_refused_while_the_sandbox_is_off(
    provider_order, manager, settings, django_capture_on_commit_callbacks
):
    refund = refund_by_manager(
        manager, provider_order, "10.00", django_capture_on_commit_callbacks
    )
    settings.HEMA_PAYMENT_PROVIDERS = {}
    before = snapshot()

    with pytest.raises(PaymentMethodUnknown):
        sandbox_refund_confirm(reference=str(refund.uuid))

    assert snapshot() == before


def test_a_refund_the_provider_never_confirmed_is_sent_again_under_the_same_key(
    sandbox, provider_order, manager, django_capture_on_commit_callbacks
):
    refund = refund_by_manager(
        manager, provider_order, "10.00", django_capture_on_commit_callbacks
    )
    refund.refresh_from_db()
    first_id = refund.provider_refund_id

    # Before the hour is up nothing is sent; after it the refund is sent again
    assert refunds_sweep(now=timezone.now() + dt.timedelta(minutes=30)) == 0
    assert refunds_sweep(now=timezone.now() + dt.timedelta(minutes=61)) == 1

    # Under the same idempotency key: the provider acts on it once
    refund.refresh_from_db()
    assert (refund.state, refund.attempts) == ("submitted", 2)
    assert (refund.provider_key, refund.provider_refund_id) == (
        f"{refund.uuid.hex}-1",
        first_id,
    )
    assert list(sandbox.requests) == [f"{refund.uuid.hex}-1"]


def test_a_provider_that_is_down_is_retried_with_exponential_backoff(
    monkeypatch, sandbox, provider_order, manager, django_capture_on_commit_callbacks
):
    # Given the provider cannot be reached
    down = DownProvider()
    monkeypatch.setitem(gateways.PROVIDER_CLIENTS, "sandbox", down)
    start = timezone.now()

    # When a refund is made, and the sweep runs as time passes
    refund = refund_by_manager(
        manager, provider_order, "10.00", django_capture_on_commit_callbacks
    )
    refund.refresh_from_db()
    assert (refund.state, refund.attempts) == ("failed", 1)
    assert refund.last_error == "ProviderError: timed out after 10 s"
    delays = [refund.next_attempt_at - start]
    for _ in range(2):
        due = refund.next_attempt_at
        # Not a second before it is due
        assert refunds_sweep(now=due - dt.timedelta(seconds=1)) == 0
        assert refunds_sweep(now=due) == 0  # sent, and failed again
        refund.refresh_from_db()
        delays.append(refund.next_attempt_at - due)

    # Then each wait doubles: 1, 2 and 4 minutes
    assert [round(d.total_seconds() / 60) for d in delays] == [1, 2, 4]
    assert (refund.state, refund.attempts) == ("failed", 3)
    # And every attempt repeated one request (its outcome was unknown)
    assert down.keys == [f"{refund.uuid.hex}-1"] * 3

    # When the provider is back, the next due sweep sends it
    monkeypatch.setitem(gateways.PROVIDER_CLIENTS, "sandbox", sandbox)
    assert refunds_sweep(now=refund.next_attempt_at) == 1
    refund.refresh_from_db()
    assert (refund.state, refund.attempts, refund.last_error) == ("submitted", 4, "")
    assert list(sandbox.requests) == [f"{refund.uuid.hex}-1"]


def test_a_refund_the_provider_declined_is_retried_as_a_new_request(
    sandbox, provider_order, manager, django_capture_on_commit_callbacks
):
    refund = refund_by_manager(
        manager, provider_order, "10.00", django_capture_on_commit_callbacks
    )

    response = send_webhook(event("refund.failed", str(refund.uuid)))

    assert response.json() == {"result": "processed"}
    refund.refresh_from_db()
    assert (refund.state, refund.provider_key) == ("failed", "")
    assert refund.last_error == "the provider reported it failed"
    assert refunds_sweep(now=refund.next_attempt_at) == 1
    refund.refresh_from_db()
    assert list(sandbox.requests) == [f"{refund.uuid.hex}-1", f"{refund.uuid.hex}-2"]


@pytest.fixture
def exhausted_refund(
    settings,
    monkeypatch,
    sandbox,
    provider_order,
    manager,
    caplog,
    django_capture_on_commit_callbacks,
) -> Refund:
    """A 10.00 refund to a provider with no client configured, out of attempts."""
    settings.HEMA_REFUND_MAX_ATTEMPTS = 3
    monkeypatch.delitem(gateways.PROVIDER_CLIENTS, "sandbox")
    refund = refund_by_manager(
        manager, provider_order, "10.00", django_capture_on_commit_callbacks
    )
    for _ in range(2):
        refund.refresh_from_db()
        refunds_sweep(now=refund.next_attempt_at)
    refund.refresh_from_db()
    assert (refund.state, refund.attempts) == ("needs_attention", 3)
    return refund


def test_a_refund_that_fails_every_attempt_needs_attention_and_is_never_dropped(
    exhausted_refund, caplog
):
    refund = exhausted_refund
    assert refund.last_error == (
        "ProviderError: No client is configured for provider 'sandbox'."
    )
    assert refund.next_attempt_at is None
    # Logged at ERROR, naming the refund and its order
    errors = caplog.get_records("setup")
    [record] = [r for r in errors if r.levelno == logging.ERROR]
    assert record.name == "orders.refunds"
    assert record.getMessage() == (
        f"refund {refund.pk} of 10.00 on order {refund.order.number} needs "
        "attention after 3 attempts: ProviderError: No client is configured "
        "for provider 'sandbox'."
    )
    # And it stays: no sweep or late task drops it or sends it on its own
    before = snapshot()
    later = timezone.now() + dt.timedelta(days=30)
    assert refunds_sweep(now=later) == 0
    assert refund_pay(refund_id=refund.pk, now=later) == "needs_attention"
    assert snapshot() == before
    order = Order.objects.get()
    assert (order.refund_status, order.refunded_total) == (
        "partially_refunded",
        D("10.00"),
    )


def test_a_late_confirmation_settles_a_refund_that_needed_attention(
    exhausted_refund,
):
    response = send_webhook(event("refund.succeeded", str(exhausted_refund.uuid)))

    assert response.json() == {"result": "processed"}
    exhausted_refund.refresh_from_db()
    assert exhausted_refund.state == "succeeded"


def staff_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_managers_see_refunds_needing_attention_in_their_stores_only(
    store, exhausted_refund
):
    manager = UserFactory(is_staff=True)
    StoreStaffFactory(user=manager, store=store, role="manager")
    other = UserFactory(is_staff=True)
    StoreStaffFactory(user=other, store=StoreFactory(code="BJ01"), role="manager")

    mine = staff_client(manager).get(
        "/admin/orders/refund/?state__exact=needs_attention"
    )
    theirs = staff_client(other).get("/admin/orders/refund/")

    assert mine.status_code == 200
    page = mine.content.decode()
    assert exhausted_refund.order.number in page
    assert (
        '<strong style="color:#ba2121">Needs attention (retries used up)</strong>'
        in page
    )
    assert theirs.status_code == 200
    assert exhausted_refund.order.number not in theirs.content.decode()
    # Another store's refund page answers 403
    detail = f"/admin/orders/refund/{exhausted_refund.pk}/change/"
    assert staff_client(other).get(detail).status_code == 403
    assert staff_client(manager).get(detail).status_code == 200


def test_a_manager_retries_a_refund_that_needed_attention(
    store, monkeypatch, sandbox, exhausted_refund, django_capture_on_commit_callbacks
):
    # Given the provider's client is back
    monkeypatch.setitem(gateways.PROVIDER_CLIENTS, "sandbox", sandbox)
    manager = UserFactory(is_staff=True)
    StoreStaffFactory(user=manager, store=store, role="manager")

    # When the manager runs the retry action on it
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client(manager).post(
            "/admin/orders/refund/",
            {"action": "retry_refunds", "_selected_action": [exhausted_refund.pk]},
            follow=True,
        )

    # Then it is sent again with a fresh set of attempts
    assert response.status_code == 200
    refund = Refund.objects.get()
    assert (refund.state, refund.attempts) == ("submitted", 1)
    assert list(sandbox.requests) == [refund.provider_key]
    note = OrderEvent.objects.filter(order=refund.order).last()
    assert (note.actor, note.note) == (
        manager,
        "refund 10.00 retried after: ProviderError: No client is configured "
        "for provider 'sandbox'.",
    )


def test_retrying_a_refund_that_did_not_fail_changes_nothing(
    store, sandbox, provider_order, manager, django_capture_on_commit_callbacks
):
    refund = refund_by_manager(
        manager, provider_order, "10.00", django_capture_on_commit_callbacks
    )
    staff = UserFactory(is_staff=True)
    StoreStaffFactory(user=staff, store=store, role="manager")
    before = snapshot()

    response = staff_client(staff).post(
        "/admin/orders/refund/",
        {"action": "retry_refunds", "_selected_action": [refund.pk]},
        follow=True,
    )

    assert "This refund is submitted: only a failed one is retried." in (
        response.content.decode()
    )
    assert snapshot() == before
    assert len(sandbox.requests) == 1


@requires_postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_task_and_a_sweep_racing_send_a_refund_once(
    sandbox, provider_order, manager, django_capture_on_commit_callbacks
):
    # Given five refunds whose tasks were lost (pending, due)
    with django_capture_on_commit_callbacks(execute=False):
        for _ in range(5):
            post(
                manager,
                f"/api/v1/orders/{provider_order.uuid}/refunds/",
                {"amount": "1.00", "reason": "bruised"},
            )
    later = timezone.now() + dt.timedelta(minutes=2)

    # When, for each, a late task and the sweep send it at the same moment
    for refund in Refund.objects.order_by("pk"):
        outcomes = race(
            lambda refund=refund: refund_pay(refund_id=refund.pk, now=later),
            lambda: refunds_sweep(now=later),
        )
        assert not [o for o in outcomes if isinstance(o, Exception)], outcomes

    # Then each was sent once, in one attempt
    assert (
        sorted(Refund.objects.values_list("state", "attempts"))
        == [("submitted", 1)] * 5
    )
    assert sorted(sandbox.requests) == sorted(
        f"{uuid.hex}-1" for uuid in Refund.objects.values_list("uuid", flat=True)
    )


def test_a_late_failure_of_an_earlier_attempt_does_not_renew_the_one_in_flight(
    sandbox, provider_order, manager, django_capture_on_commit_callbacks
):
    # Given a refund whose first attempt the provider declined, sent again
    refund = refund_by_manager(
        manager, provider_order, "10.00", django_capture_on_commit_callbacks
    )
    first_attempt = refund.provider_refund_id
    declined = event("refund.failed", str(refund.uuid))
    declined["data"]["refund_id"] = first_attempt
    assert send_webhook(declined).json() == {"result": "processed"}
    refund.refresh_from_db()
    assert refunds_sweep(now=refund.next_attempt_at) == 1
    refund.refresh_from_db()
    second_attempt = refund.provider_refund_id
    assert (refund.state, refund.provider_key) == ("submitted", f"{refund.uuid.hex}-2")
    assert second_attempt != first_attempt

    # When the provider's failure of the first attempt arrives again, late (a new
    # event id: its own retry of the notification)
    late = event("refund.failed", str(refund.uuid))
    late["data"]["refund_id"] = first_attempt
    response = send_webhook(late)

    # Then the attempt in flight keeps its key: if it succeeds, nothing is sent
    # under a new key that could refund the shopper twice
    assert response.json() == {"result": "ignored"}
    refund.refresh_from_db()
    assert (refund.state, refund.provider_key) == ("submitted", f"{refund.uuid.hex}-2")
    assert refunds_sweep(now=timezone.now() + dt.timedelta(minutes=59)) == 0
    assert len(sandbox.requests) == 2
    # And a failure naming the attempt in flight is still a failure
    current = event("refund.failed", str(refund.uuid))
    current["data"]["refund_id"] = second_attempt
    assert send_webhook(current).json() == {"result": "processed"}
    refund.refresh_from_db()
    assert (refund.state, refund.provider_key) == ("failed", "")
