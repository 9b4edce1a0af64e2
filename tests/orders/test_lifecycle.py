"""The order's life: its paths, cancellation, refunds, shortages and substitutes,
the unpaid-checkout expiry, late provider payments, and the order numbers."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db.models import F
from django.utils import timezone
from rest_framework.test import APIClient

from delivery import signals as delivery_signals
from delivery.models import Fulfilment
from inventory.models import Reservation, SaleUnit, StockMovement
from inventory.services import (
    reservation_mark_short,
    reservations_release_expired,
    shelf_prices_set,
    stock_receive,
    stock_sell_in_store,
)
from orders.errors import InvalidTransition, RefundRefused
from orders.lifecycle import order_transition, orders_expire_unpaid
from orders.models import (
    CartLine,
    Order,
    OrderEvent,
    OrderLine,
    Payment,
    Refund,
    Wallet,
    WalletEntry,
    WebhookEvent,
)
from orders.numbering import order_number_next
from orders.refunds import order_refund, refund_pay
from orders.tasks import expire_unpaid_orders_task, sweep_refunds_task
from orders.wallet import wallet_ledger_total
from tests.conftest import assert_ledger_matches, requires_postgres
from tests.factories import (
    CategoryFactory,
    ProductFactory,
    StoreFactory,
    StoreStaffFactory,
    UserFactory,
)
from tests.orders.conftest import event, post, race, send_webhook, snapshot

pytestmark = pytest.mark.django_db
D = Decimal
UTC = dt.UTC


def timeline(order: Order) -> list[tuple[str, str, object]]:
    return list(
        OrderEvent.objects.filter(order=order)
        .exclude(note__startswith="refund ")
        .order_by("pk")
        .values_list("from_state", "to_state", "actor")
    )


def line_of(order: Order, store_product) -> OrderLine:
    return order.lines.get(store_product=store_product, substitute_for=None)


# --- Paths ----------------------------------------------------------------------------


def test_an_app_delivery_moves_along_its_path_and_records_each_step(
    store, stocked, shopper
):
    # Given a paid app order for delivery (its fulfilment opened with payment)
    apples, _ = stocked
    address = shopper.add_address()
    order = shopper.order(store, [(apples, "2")], mode="delivery", address_id=address)
    picker, rider = UserFactory(), UserFactory()
    fulfilment = Fulfilment.objects.get(order=order)
    [line] = fulfilment.lines.all()

    # When delivery reports each step (the only way past paid)
    delivery_signals.line_picked.send(
        sender=None, line=line, quantity=D("2"), actor=picker
    )
    delivery_signals.packed.send(sender=None, fulfilment=fulfilment, actor=picker)
    delivery_signals.out_for_delivery.send(
        sender=None, fulfilment=fulfilment, actor=rider
    )
    delivery_signals.delivered.send(sender=None, fulfilment=fulfilment, actor=rider)

    # Then each step is recorded in order, with its actor and time
    member_user = shopper.member.user.pk
    assert timeline(order) == [
        ("", "created", member_user),
        ("created", "paid", member_user),
        ("paid", "picking", picker.pk),
        ("picking", "packed", picker.pk),
        ("packed", "out_for_delivery", rider.pk),
        ("out_for_delivery", "delivered", rider.pk),
    ]
    times = list(order.events.order_by("pk").values_list("created_at", flat=True))
    assert times == sorted(times)
    assert all(times)
    order.refresh_from_db()
    assert order.state == "delivered"
    detail = shopper.client.get(f"/api/v1/orders/{order.uuid}/").json()
    assert [e["to_state"] for e in detail["timeline"]] == [
        "created",
        "paid",
        "picking",
        "packed",
        "out_for_delivery",
        "delivered",
    ]


def test_a_pickup_order_is_ready_then_collected(store, stocked, shopper):
    apples, _ = stocked
    order = shopper.order(store, [(apples, "1")], mode="pickup")
    fulfilment = Fulfilment.objects.get(order=order)

    delivery_signals.line_picked.send(
        sender=None, line=fulfilment.lines.get(), quantity=D("1")
    )
    delivery_signals.packed.send(sender=None, fulfilment=fulfilment)
    delivery_signals.ready.send(sender=None, fulfilment=fulfilment, code="123456")
    delivery_signals.collected.send(sender=None, fulfilment=fulfilment)

    assert [step[1] for step in timeline(order)] == [
        "created",
        "paid",
        "picking",
        "packed",
        "ready",
        "collected",
    ]


def test_an_in_store_purchase_carried_out_is_completed_when_paid(
    store, stocked, shopper
):
    apples, _ = stocked
    cart_uuid = shopper.cart_with(store, [(apples, "2")], channel="in_store")

    response = shopper.pay_in_store(cart_uuid, mode="carry_out")

    order = Order.objects.get(uuid=response.json()["order"]["id"])
    member_user = shopper.member.user.pk
    assert timeline(order) == [
        ("", "created", member_user),
        ("created", "paid", member_user),
        ("paid", "completed", member_user),
    ]


def test_an_in_store_purchase_delivered_home_skips_picking(store, stocked, shopper):
    # Given an in-store purchase to be delivered home (packed at the counter)
    apples, _ = stocked
    address = shopper.add_address()
    cart_uuid = shopper.cart_with(store, [(apples, "2")], channel="in_store")
    response = post(
        shopper.client,
        f"/api/v1/carts/{cart_uuid}/pay/",
        {
            "fulfilment_mode": "delivery",
            "payment_method": "wallet",
            "address_id": address,
        },
    )
    assert response.status_code == 201, response.json()
    order = Order.objects.get(uuid=response.json()["order"]["id"])
    assert order.state == "paid"

    # When someone tries to open picking, it is refused: the goods were in hand
    with pytest.raises(InvalidTransition):
        order_transition(order=order, to_state="picking")

    # And the counter path goes packed, out for delivery, delivered
    for to_state in ("packed", "out_for_delivery", "delivered"):
        order_transition(order=order, to_state=to_state)
    assert [step[1] for step in timeline(order)][-3:] == [
        "packed",
        "out_for_delivery",
        "delivered",
    ]


@pytest.mark.parametrize(
    ("mode", "walk", "refused"),
    [
        ("delivery", [], "packed"),  # an app order is picked before it is packed
        ("delivery", [], "delivered"),
        ("delivery", ["picking"], "out_for_delivery"),
        ("delivery", [], "ready"),
        ("pickup", ["picking", "packed"], "out_for_delivery"),
        ("pickup", [], "completed"),
        (
            "delivery",
            ["picking", "packed", "out_for_delivery", "delivered"],
            "cancelled",
        ),
    ],
)
def test_a_step_off_the_path_is_refused_and_changes_nothing(
    store, stocked, shopper, mode, walk, refused
):
    apples, _ = stocked
    address = shopper.add_address()
    order = shopper.order(
        store,
        [(apples, "1")],
        mode=mode,
        address_id=address if mode == "delivery" else None,
    )
    for to_state in walk:
        order_transition(order=order, to_state=to_state)
    state = order.state
    before = snapshot()

    with pytest.raises(InvalidTransition) as refusal:
        order_transition(order=order, to_state=refused)

    assert refusal.value.extra == {"state": state, "requested": refused}
    assert refusal.value.message == (
        f"Order {order.number} is {state}; it cannot become {refused}."
    )
    assert snapshot() == before


def test_a_move_from_a_stale_state_is_refused(store, stocked, shopper):
    apples, _ = stocked
    order = shopper.order(store, [(apples, "1")])
    stale = Order.objects.get(pk=order.pk)
    order_transition(order=order, to_state="picking")

    with pytest.raises(InvalidTransition) as refusal:
        order_transition(order=stale, to_state="picking")

    assert refusal.value.extra == {"state": "picking", "requested": "picking"}
    assert order.events.filter(to_state="picking").count() == 1


# --- The price hold at checkout -------------------------------------------------------


def test_a_line_scanned_16_minutes_ago_is_repriced_at_payment_and_the_answer_says_so(
    store, stocked, shopper
):
    # Given apples scanned 16 minutes ago at 12.80 and salmon scanned just now at 168.00
    apples, salmon = stocked
    cart_uuid = shopper.cart_with(
        store, [(apples, "2"), (salmon, "0.500")], channel="in_store"
    )
    sixteen_minutes = dt.timedelta(minutes=16)
    CartLine.objects.filter(store_product=apples).update(
        created_at=F("created_at") - sixteen_minutes,
        updated_at=F("updated_at") - sixteen_minutes,
        price_held_until=F("price_held_until") - sixteen_minutes,
    )
    # And both shelf prices changed since
    shelf_prices_set(
        store=store, prices={apples.pk: D("13.90"), salmon.pk: D("158.00")}
    )
    cart = shopper.client.get(f"/api/v1/carts/{cart_uuid}/").json()
    assert [(x["price_hold_active"], x["price"]) for x in cart["lines"]] == [
        (False, "13.90"),
        (True, "168.00"),
    ]

    # When the shopper pays
    response = shopper.pay_in_store(cart_uuid)

    # Then the apples cost the price now and the answer says so; the salmon keeps
    # the price it was scanned at
    assert response.status_code == 201, response.json()
    assert response.json()["repriced"] == [
        {"sku": apples.product.sku, "scanned_price": "12.80", "price": "13.90"}
    ]
    order = response.json()["order"]
    assert [
        (x["sku"], x["unit_price"], x["line_total"], x["repriced_from"])
        for x in order["lines"]
    ] == [
        (apples.product.sku, "13.90", "27.80", "12.80"),
        (salmon.product.sku, "168.00", "84.00", None),
    ]
    assert order["total"] == "111.80"
    assert shopper.balance == D("88.20")
    sales = StockMovement.objects.filter(kind="sale_in_store").order_by("store_product")
    assert [(m.store_product_id, m.unit_price) for m in sales] == [
        (apples.pk, D("13.90")),
        (salmon.pk, D("168.00")),
    ]


def test_a_lapsed_hold_at_an_unchanged_price_is_not_reported_as_repriced(
    store, stocked, shopper
):
    apples, _ = stocked
    cart_uuid = shopper.cart_with(store, [(apples, "2")], channel="in_store")
    CartLine.objects.update(price_held_until=timezone.now() - dt.timedelta(minutes=1))

    response = shopper.pay_in_store(cart_uuid)

    assert response.json()["repriced"] == []
    assert response.json()["order"]["lines"][0]["repriced_from"] is None
    assert response.json()["order"]["total"] == "25.60"


def test_an_app_order_is_charged_the_shelf_price_at_checkout(store, stocked, shopper):
    apples, _ = stocked
    cart_uuid = shopper.cart_with(store, [(apples, "2")])
    shelf_prices_set(store=store, prices={apples.pk: D("11.90")})

    response = shopper.checkout(cart_uuid)

    assert response.json()["order"]["lines"][0]["unit_price"] == "11.90"
    assert response.json()["order"]["total"] == "23.80"
    assert shopper.balance == D("176.20")


# --- Cancel ---------------------------------------------------------------------------


def test_cancel_before_picking_releases_the_stock_and_refunds_the_wallet_in_full(
    store, stocked, shopper, django_capture_on_commit_callbacks
):
    # Given a paid order of 3 apples and 0.5 kg of salmon (122.40 from 200.00)
    apples, salmon = stocked
    order = shopper.order(store, [(apples, "3"), (salmon, "0.500")])
    assert shopper.balance == D("77.60")

    # When the member cancels it (the refund task runs after commit)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = post(
            shopper.client,
            f"/api/v1/orders/{order.uuid}/cancel/",
            {"reason": "changed mind"},
        )

    # Then the order is cancelled and refunded in full
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (
        body["state"],
        body["refund_status"],
        body["total"],
        body["refunded_total"],
    ) == (
        "cancelled",
        "refunded",
        "122.40",
        "122.40",
    )
    assert [line["state"] for line in body["lines"]] == ["cancelled", "cancelled"]
    assert len(callbacks) == 1
    # And the stock is back on the shelf for the app
    for store_product in (apples, salmon):
        store_product.refresh_from_db()
        assert store_product.reserved == D("0.000")
        assert_ledger_matches(store_product)
    assert set(Reservation.objects.values_list("state", flat=True)) == {"released"}
    # And the pending refund was paid to the wallet by the task
    refund = Refund.objects.get()
    assert (refund.amount, refund.state, refund.reason, refund.attempts) == (
        D("122.40"),
        "succeeded",
        "changed mind",
        1,
    )
    assert shopper.balance == D("200.00")
    entry = WalletEntry.objects.get(kind="refund")
    assert (entry.amount, entry.reference) == (D("122.40"), str(refund.uuid))
    wallet = Wallet.objects.get(member=shopper.member)
    assert wallet_ledger_total(wallet) == wallet.balance
    # And the cancel is recorded with the member as actor
    assert timeline(order)[-1] == ("paid", "cancelled", shopper.member.user.pk)


def test_a_refund_whose_task_was_lost_is_paid_by_the_sweep_once(
    store, stocked, shopper, django_capture_on_commit_callbacks
):
    # Given a cancelled order whose refund task never ran (the broker was down)
    apples, _ = stocked
    order = shopper.order(store, [(apples, "2")])
    with django_capture_on_commit_callbacks(execute=False):
        post(shopper.client, f"/api/v1/orders/{order.uuid}/cancel/", {})
    refund = Refund.objects.get()
    assert (refund.state, shopper.balance) == ("pending", D("174.40"))

    # When the sweep runs a minute later, twice
    Refund.objects.update(created_at=timezone.now() - dt.timedelta(minutes=2))
    paid = sweep_refunds_task.delay().get()
    again = sweep_refunds_task.delay().get()

    # Then the refund is paid once
    assert (paid, again) == (1, 0)
    refund.refresh_from_db()
    assert refund.state == "succeeded"
    assert shopper.balance == D("200.00")
    assert refund_pay(refund_id=refund.pk) == "succeeded"  # a late task does nothing
    assert WalletEntry.objects.filter(kind="refund").count() == 1
    assert shopper.balance == D("200.00")


def test_cancel_of_an_unpaid_order_releases_its_stock_without_a_refund(
    store, stocked, shopper
):
    apples, _ = stocked
    order = shopper.order(store, [(apples, "4")], method="sandbox")
    apples.refresh_from_db()
    assert apples.reserved == D("4.000")

    response = post(shopper.client, f"/api/v1/orders/{order.uuid}/cancel/", {})

    assert response.status_code == 200, response.json()
    assert (response.json()["state"], response.json()["refund_status"]) == (
        "cancelled",
        "none",
    )
    apples.refresh_from_db()
    assert apples.reserved == D("0.000")
    assert_ledger_matches(apples)
    assert Refund.objects.count() == 0
    assert shopper.balance == D("200.00")


def test_cancel_once_picking_started_is_refused(store, stocked, shopper):
    apples, _ = stocked
    order = shopper.order(store, [(apples, "2")])
    order_transition(order=order, to_state="picking")
    before = snapshot()

    response = post(shopper.client, f"/api/v1/orders/{order.uuid}/cancel/", {})

    assert (response.status_code, response.json()) == (
        409,
        {
            "error": "invalid_transition",
            "message": f"Order {order.number} is picking; it cannot become cancelled.",
            "extra": {"state": "picking", "requested": "cancelled"},
        },
    )
    assert snapshot() == before
    assert shopper.balance == D("174.40")


def test_a_cancelled_order_cannot_be_cancelled_again(
    store, stocked, shopper, django_capture_on_commit_callbacks
):
    apples, _ = stocked
    order = shopper.order(store, [(apples, "2")])
    with django_capture_on_commit_callbacks(execute=True):
        post(shopper.client, f"/api/v1/orders/{order.uuid}/cancel/", {})
    before = snapshot()

    again = post(shopper.client, f"/api/v1/orders/{order.uuid}/cancel/", {})

    assert again.status_code == 409
    assert again.json()["extra"] == {"state": "cancelled", "requested": "cancelled"}
    assert snapshot() == before
    assert shopper.balance == D("200.00")


# --- Manager refunds ------------------------------------------------------------------


def test_a_manager_refunds_part_then_the_rest_but_never_more(
    store, stocked, shopper, manager, django_capture_on_commit_callbacks
):
    # Given a paid order of 3 apples (38.40)
    apples, _ = stocked
    order = shopper.order(store, [(apples, "3")])
    url = f"/api/v1/orders/{order.uuid}/refunds/"

    # When the manager refunds 18.00 for bruised apples
    with django_capture_on_commit_callbacks(execute=True):
        first = post(manager, url, {"amount": "18.00", "reason": "bruised"})

    # Then the order is partially refunded and the wallet credited
    assert first.status_code == 201, first.json()
    assert (first.json()["amount"], first.json()["reason"]) == ("18.00", "bruised")
    order.refresh_from_db()
    assert (order.refund_status, order.refunded_total) == (
        "partially_refunded",
        D("18.00"),
    )
    assert shopper.balance == D("179.60")
    assert (
        order.events.filter(note="refund 18.00: bruised", actor=manager.user).count()
        == 1
    )

    # When the manager tries to refund more than is left
    before = snapshot()
    too_much = post(manager, url, {"amount": "30.00", "reason": "goodwill"})

    # Then 422 says how much is left, and nothing changed
    assert (too_much.status_code, too_much.json()) == (
        422,
        {
            "error": "refund_refused",
            "message": f"At most 20.40 is left to refund on {order.number}.",
            "extra": {"field": "amount", "refundable": "20.40", "requested": "30.00"},
        },
    )
    assert snapshot() == before

    # And exactly what is left is refunded
    with django_capture_on_commit_callbacks(execute=True):
        rest = post(manager, url, {"amount": "20.40", "reason": "goodwill"})
    assert rest.status_code == 201, rest.json()
    order.refresh_from_db()
    assert (order.refund_status, order.refunded_total) == ("refunded", D("38.40"))
    assert shopper.balance == D("200.00")
    assert list(Refund.objects.order_by("pk").values_list("amount", "state")) == [
        (D("18.00"), "succeeded"),
        (D("20.40"), "succeeded"),
    ]
    # And not a cent more
    extra_cent = post(manager, url, {"amount": "0.01", "reason": "goodwill"})
    assert extra_cent.status_code == 422
    assert extra_cent.json()["extra"]["refundable"] == "0.00"


@pytest.mark.parametrize(
    "who",
    ["the_shopper", "picker_here", "manager_elsewhere", "former_manager", "stranger"],
)
def test_only_a_manager_of_the_store_may_refund_others_get_404(
    store, stocked, shopper, who
):
    apples, _ = stocked
    order = shopper.order(store, [(apples, "3")])
    elsewhere = StoreFactory(code="SH02")
    if who == "the_shopper":
        client = shopper.client
    else:
        user = UserFactory()
        roles = {
            "picker_here": {"store": store, "role": "picker"},
            "manager_elsewhere": {"store": elsewhere, "role": "manager"},
            "former_manager": {"store": store, "role": "manager", "is_active": False},
            "stranger": None,
        }[who]
        if roles:
            StoreStaffFactory(user=user, **roles)
        client = APIClient()
        client.force_authenticate(user)
    before = snapshot()

    response = post(
        client,
        f"/api/v1/orders/{order.uuid}/refunds/",
        {"amount": "5.00", "reason": "x"},
    )

    assert (response.status_code, response.json()) == (
        404,
        {
            "error": "order_not_found",
            "message": "No such order.",
            "extra": {"field": "order"},
        },
    )
    assert snapshot() == before


def test_a_superuser_may_refund_any_order(
    store, stocked, shopper, django_capture_on_commit_callbacks
):
    apples, _ = stocked
    order = shopper.order(store, [(apples, "3")])
    admin = APIClient()
    admin.force_authenticate(UserFactory(is_superuser=True, is_staff=True))

    with django_capture_on_commit_callbacks(execute=True):
        response = post(
            admin,
            f"/api/v1/orders/{order.uuid}/refunds/",
            {"amount": "5.00", "reason": "x"},
        )

    assert response.status_code == 201, response.json()
    assert shopper.balance == D("166.60")  # 200.00 - 38.40 + 5.00


def test_an_unpaid_order_cannot_be_refunded(store, stocked, shopper, manager):
    apples, _ = stocked
    order = shopper.order(store, [(apples, "3")], method="sandbox")
    before = snapshot()

    response = post(
        manager,
        f"/api/v1/orders/{order.uuid}/refunds/",
        {"amount": "5.00", "reason": "x"},
    )

    assert (response.status_code, response.json()) == (
        422,
        {
            "error": "refund_refused",
            "message": f"Order {order.number} is created: nothing was paid.",
            "extra": {"field": "order", "state": "created"},
        },
    )
    assert snapshot() == before


def test_a_refund_needs_a_reason(store, stocked, shopper, manager):
    apples, _ = stocked
    order = shopper.order(store, [(apples, "3")])
    before = snapshot()

    response = post(
        manager,
        f"/api/v1/orders/{order.uuid}/refunds/",
        {"amount": "5.00", "reason": " "},
    )
    with pytest.raises(RefundRefused) as refusal:
        order_refund(order=order, amount=D("5.00"), reason="  ")

    assert (response.status_code, response.json()["extra"]) == (
        400,
        {
            "field": "reason",
            "fields": {"reason": ["This field may not be blank."]},
        },
    )
    assert refusal.value.extra == {"field": "reason"}
    assert snapshot() == before


@requires_postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_two_refunds_racing_never_return_more_than_was_paid(
    store, stocked, make_shopper
):
    # Given five paid orders of 38.40, and two managers refunding 30.00 of each at once
    apples, _ = stocked
    shopper = make_shopper(balance="200.00")
    orders = [shopper.order(store, [(apples, "3")]) for _ in range(5)]
    managers = [UserFactory(is_superuser=True) for _ in range(2)]

    for order in orders:
        outcomes = race(
            *(
                lambda manager=manager, order=order: order_refund(
                    order=order, amount=D("30.00"), reason="race", actor=manager
                )
                for manager in managers
            )
        )

        # Then exactly one refund is written and the other is refused
        assert sorted(type(outcome).__name__ for outcome in outcomes) == [
            "Refund",
            "RefundRefused",
        ]
        order.refresh_from_db()
        assert (order.refunded_total, order.refund_status) == (
            D("30.00"),
            "partially_refunded",
        )
    assert Refund.objects.filter(state="succeeded").count() == 5
    assert shopper.balance == D("158.00")  # 200.00 - 5 x 38.40 + 5 x 30.00
    wallet = Wallet.objects.get(member=shopper.member)
    assert wallet_ledger_total(wallet) == wallet.balance


# --- Shortages and substitutes --------------------------------------------------------


@pytest.fixture
def fish():
    return CategoryFactory(slug="fish", name="Fish")


def stocked_product(make_store_product, price: str, on_hand: int = 10, **product):
    store_product = make_store_product(
        product=ProductFactory(**product), list_price=D(price)
    )
    stock_receive(store_product=store_product, quantity=on_hand)
    return store_product


def test_a_short_line_without_substitution_is_refunded(
    store, stocked, make_store_product, shopper, django_capture_on_commit_callbacks
):
    # Given a paid order: 3 apples (no substitute wanted) and 0.5 kg salmon
    apples, salmon = stocked
    stocked_product(make_store_product, "11.50")  # a substitute the shopper refused
    order = shopper.order(
        store, [(apples, "3"), (salmon, "0.500")], substitution="none"
    )
    order_transition(order=order, to_state="picking")
    apples_line = line_of(order, apples)

    # When the picker finds no apples on the shelf
    with django_capture_on_commit_callbacks(execute=True):
        reservation_mark_short(reservation=apples_line.reservation)

    # Then the apples line is short and refunded; the salmon line goes on
    apples_line.refresh_from_db()
    assert apples_line.state == "short"
    assert line_of(order, salmon).state == "open"
    refund = Refund.objects.get()
    assert (refund.amount, refund.line, refund.state, refund.reason) == (
        D("38.40"),
        apples_line,
        "succeeded",
        f"{apples.product.sku} out of stock",
    )
    order.refresh_from_db()
    assert (order.state, order.refund_status, order.refunded_total, order.total) == (
        "picking",
        "partially_refunded",
        D("38.40"),
        D("122.40"),
    )
    assert shopper.balance == D("116.00")  # 200.00 - 122.40 + 38.40
    apples.refresh_from_db()
    assert apples.reserved == D("0.000")
    assert_ledger_matches(apples)
    assert order.lines.count() == 2


def test_a_short_line_takes_a_cheaper_substitute_and_refunds_the_difference(
    store, stocked, make_store_product, shopper, django_capture_on_commit_callbacks
):
    # Given a paid order of 3 apples at 12.80, substitutes allowed, and pears at 11.50
    apples, _ = stocked
    pears = stocked_product(make_store_product, "11.50")
    order = shopper.order(store, [(apples, "3")])
    apples_line = line_of(order, apples)

    # When the apples are short at pick time
    with django_capture_on_commit_callbacks(execute=True):
        reservation_mark_short(reservation=apples_line.reservation)

    # Then pears replace them at their own lower price and the difference is refunded
    apples_line.refresh_from_db()
    assert apples_line.state == "substituted"
    substitute = OrderLine.objects.get(substitute_for=apples_line)
    assert (
        substitute.store_product,
        substitute.quantity,
        substitute.unit_price,
        substitute.line_total,
        substitute.tax_amount,
        substitute.state,
        substitute.substitution,
    ) == (pears, D("3.000"), D("11.50"), D("34.50"), D("2.85"), "open", "none")
    assert Refund.objects.get().amount == D("3.90")
    order.refresh_from_db()
    assert (order.refund_status, order.refunded_total) == (
        "partially_refunded",
        D("3.90"),
    )
    assert shopper.balance == D("165.50")  # 200.00 - 38.40 + 3.90
    # And the pears are held for the order
    pears.refresh_from_db()
    assert pears.reserved == D("3.000")
    assert substitute.reservation.state == "held"
    assert substitute.reservation.reserved_until is None
    assert_ledger_matches(pears)
    assert order.events.filter(
        note=f"{apples.product.sku} -> {pears.product.sku}"
    ).exists()


def test_a_dearer_substitute_within_a_fifth_costs_the_shopper_nothing_more(
    store, stocked, make_store_product, shopper, django_capture_on_commit_callbacks
):
    apples, _ = stocked
    pears = stocked_product(make_store_product, "15.36")  # 12.80 x 1.2
    order = shopper.order(store, [(apples, "3")])

    with django_capture_on_commit_callbacks(execute=True):
        reservation_mark_short(reservation=line_of(order, apples).reservation)

    substitute = OrderLine.objects.get(substitute_for__isnull=False)
    assert (substitute.store_product, substitute.unit_price, substitute.line_total) == (
        pears,
        D("12.80"),
        D("38.40"),
    )
    assert Refund.objects.count() == 0
    order.refresh_from_db()
    assert (order.refund_status, order.total) == ("none", D("38.40"))
    assert shopper.balance == D("161.60")


def test_the_substitute_closest_in_price_wins(
    store, stocked, make_store_product, shopper, django_capture_on_commit_callbacks
):
    apples, _ = stocked
    stocked_product(make_store_product, "10.00")
    closest = stocked_product(make_store_product, "13.50")
    stocked_product(make_store_product, "12.00")
    order = shopper.order(store, [(apples, "3")])

    with django_capture_on_commit_callbacks(execute=True):
        reservation_mark_short(reservation=line_of(order, apples).reservation)

    substitute = OrderLine.objects.get(substitute_for__isnull=False)
    assert (substitute.store_product, substitute.unit_price) == (closest, D("12.80"))


@pytest.mark.parametrize(
    "unfit",
    [
        "dearer_than_a_fifth",
        "other_category",
        "too_few_for_the_app",
        "not_sold",
        "weighed",
    ],
)
def test_without_a_fitting_substitute_the_short_line_is_refunded(
    store,
    stocked,
    make_store_product,
    shopper,
    fish,
    django_capture_on_commit_callbacks,
    unfit,
):
    # Given a candidate that fails exactly one of the rules
    apples, _ = stocked
    candidate = {
        "dearer_than_a_fifth": lambda: stocked_product(make_store_product, "15.37"),
        "other_category": lambda: stocked_product(
            make_store_product, "12.00", category=fish
        ),
        "too_few_for_the_app": lambda: stocked_product(
            make_store_product, "12.00", on_hand=2
        ),
        "not_sold": lambda: stocked_product(make_store_product, "12.00"),
        "weighed": lambda: stocked_product(
            make_store_product, "12.00", sale_unit=SaleUnit.KILOGRAM
        ),
    }[unfit]()
    if unfit == "not_sold":
        candidate.is_active = False
        candidate.save(update_fields=["is_active"])
    order = shopper.order(store, [(apples, "3")])

    # When the apples are short
    with django_capture_on_commit_callbacks(execute=True):
        reservation_mark_short(reservation=line_of(order, apples).reservation)

    # Then no substitute: the line is refunded in full
    assert line_of(order, apples).state == "short"
    assert OrderLine.objects.filter(substitute_for__isnull=False).count() == 0
    assert Refund.objects.get().amount == D("38.40")
    candidate.refresh_from_db()
    assert candidate.reserved == D("0.000")
    assert shopper.balance == D("200.00")


def test_a_short_line_of_an_unpaid_order_is_dropped_from_what_it_will_charge(
    store, stocked, shopper
):
    # Given an order awaiting the provider's payment: 3 apples and 0.5 kg salmon
    apples, salmon = stocked
    order = shopper.order(store, [(apples, "3"), (salmon, "0.500")], method="sandbox")

    # When the salmon reservation is found short
    reservation_mark_short(reservation=line_of(order, salmon).reservation)

    # Then the line is dropped, the total shrinks, and nothing is refunded
    order.refresh_from_db()
    assert (order.state, order.total, order.subtotal, order.tax_total) == (
        "created",
        D("38.40"),
        D("38.40"),
        D("3.17"),
    )
    assert line_of(order, salmon).state == "short"
    assert Refund.objects.count() == 0
    # And paying it now charges the smaller total
    paid = post(
        shopper.client,
        f"/api/v1/orders/{order.uuid}/pay/",
        {"payment_method": "wallet"},
    )
    assert paid.status_code == 201, paid.json()
    assert paid.json()["amount"] == "38.40"
    assert shopper.balance == D("161.60")


def test_a_provider_payment_started_before_a_shortage_refunds_what_it_took_beyond(
    store, stocked, shopper, django_capture_on_commit_callbacks
):
    # Given a provider payment of 122.40 started for 3 apples and 0.5 kg salmon
    apples, salmon = stocked
    order = shopper.order(store, [(apples, "3"), (salmon, "0.500")], method="sandbox")
    payment = Payment.objects.get(order=order)
    assert payment.amount == D("122.40")
    # And the salmon found short before the money arrived (the total is now 38.40)
    reservation_mark_short(reservation=line_of(order, salmon).reservation)

    # When the provider reports the 122.40 paid
    with django_capture_on_commit_callbacks(execute=True):
        response = send_webhook(event("payment.succeeded", payment.provider_reference))

    # Then the order is paid at 38.40 and the 84.00 taken beyond it goes back
    assert response.json() == {"result": "processed"}
    order.refresh_from_db()
    assert (order.state, order.total, order.refunded_total, order.refund_status) == (
        "paid",
        D("38.40"),
        D("0.00"),
        "none",
    )
    refund = Refund.objects.get()
    assert (refund.payment, refund.amount, refund.state, refund.reason) == (
        payment,
        D("84.00"),
        "succeeded",
        "lines short before the payment arrived",
    )


def test_when_every_line_is_short_before_payment_the_order_is_cancelled(
    store, stocked, shopper, django_capture_on_commit_callbacks
):
    # Given an order of 3 apples awaiting the provider's payment
    apples, _ = stocked
    order = shopper.order(store, [(apples, "3")], method="sandbox")
    payment = Payment.objects.get(order=order)

    # When its only line is found short
    reservation_mark_short(reservation=line_of(order, apples).reservation)

    # Then nothing is left to sell: the order is cancelled and cannot be paid
    order.refresh_from_db()
    assert (order.state, order.total) == ("cancelled", D("0.00"))
    assert timeline(order)[-1] == ("created", "cancelled", None)
    before = snapshot()
    pay = post(
        shopper.client,
        f"/api/v1/orders/{order.uuid}/pay/",
        {"payment_method": "wallet"},
    )
    assert (pay.status_code, pay.json()["extra"]) == (
        409,
        {"field": "order", "state": "cancelled"},
    )
    assert snapshot() == before
    # And if the shopper paid the provider anyway, all of it goes back
    with django_capture_on_commit_callbacks(execute=True):
        late = send_webhook(event("payment.succeeded", payment.provider_reference))
    assert late.json() == {"result": "processed"}
    refund = Refund.objects.get()
    assert (refund.payment, refund.amount, refund.state) == (
        payment,
        D("38.40"),
        "succeeded",
    )
    assert shopper.balance == D("200.00")


# --- Unpaid checkouts expire ----------------------------------------------------------


def test_unpaid_checkouts_are_cancelled_after_their_due_time_and_release_stock(
    store, stocked, shopper
):
    # Given an order checked out with the provider (unpaid) and a paid one
    apples, _ = stocked
    unpaid = shopper.order(store, [(apples, "4")], method="sandbox")
    paid = shopper.order(store, [(apples, "2")])
    apples.refresh_from_db()
    assert apples.reserved == D("6.000")
    due = unpaid.payment_due_at
    assert due is not None

    # When the job runs just before the due time, nothing happens
    assert orders_expire_unpaid(now=due - dt.timedelta(seconds=1)) == 0

    # When it runs just after
    assert orders_expire_unpaid(now=due + dt.timedelta(seconds=1)) == 1

    # Then the unpaid order is cancelled by the system and its units are back
    unpaid.refresh_from_db()
    assert (unpaid.state, unpaid.refund_status) == ("cancelled", "none")
    assert timeline(unpaid)[-1] == ("created", "cancelled", None)
    assert unpaid.events.last().note == "not paid in time"
    apples.refresh_from_db()
    assert apples.reserved == D("2.000")
    assert_ledger_matches(apples)
    paid.refresh_from_db()
    assert paid.state == "paid"
    assert Refund.objects.count() == 0


def test_the_expiry_task_cancels_what_is_due(store, stocked, shopper):
    apples, _ = stocked
    order = shopper.order(store, [(apples, "4")], method="sandbox")
    Order.objects.filter(pk=order.pk).update(
        payment_due_at=timezone.now() - dt.timedelta(minutes=1)
    )

    assert expire_unpaid_orders_task.delay().get() == 1
    assert expire_unpaid_orders_task.delay().get() == 0

    order.refresh_from_db()
    assert order.state == "cancelled"
    apples.refresh_from_db()
    assert apples.reserved == D("0.000")


# --- Late provider payments -----------------------------------------------------------


def test_a_late_payment_for_an_expired_order_is_refunded(
    store, stocked, shopper, django_capture_on_commit_callbacks
):
    # Given an order cancelled because its payment did not arrive in time
    apples, _ = stocked
    order = shopper.order(store, [(apples, "4")], method="sandbox")
    payment = Payment.objects.get(order=order)
    orders_expire_unpaid(now=order.payment_due_at + dt.timedelta(seconds=1))

    # When the provider reports the payment after all
    with django_capture_on_commit_callbacks(execute=True):
        response = send_webhook(event("payment.succeeded", payment.provider_reference))

    # Then the money goes back to the provider; the order stays cancelled
    assert response.json() == {"result": "processed"}
    payment.refresh_from_db()
    assert payment.state == "succeeded"
    refund = Refund.objects.get()
    assert (refund.payment, refund.amount, refund.state) == (
        payment,
        D("51.20"),
        "succeeded",
    )
    order.refresh_from_db()
    assert (order.state, order.refund_status, order.refunded_total) == (
        "cancelled",
        "refunded",
        D("51.20"),
    )
    apples.refresh_from_db()
    assert apples.reserved == D("0.000")


def test_a_late_payment_when_the_stock_is_gone_is_refunded_and_the_order_cancelled(
    store, stocked, shopper, django_capture_on_commit_callbacks
):
    # Given an unpaid order whose hold lapsed, and the apples then sold in store
    apples, _ = stocked
    order = shopper.order(store, [(apples, "4")], method="sandbox")
    payment = Payment.objects.get(order=order)
    assert (
        reservations_release_expired(now=order.payment_due_at + dt.timedelta(seconds=1))
        == 1
    )
    stock_sell_in_store(store_product=apples, quantity=18, unit_price=D("12.80"))

    # When the provider reports the payment
    with django_capture_on_commit_callbacks(execute=True):
        response = send_webhook(event("payment.succeeded", payment.provider_reference))

    # Then the money goes back, and the order is cancelled so it cannot be paid twice
    assert response.json() == {"result": "processed"}
    refund = Refund.objects.get()
    assert (refund.amount, refund.state) == (D("51.20"), "succeeded")
    order.refresh_from_db()
    assert (order.state, order.refund_status) == ("cancelled", "refunded")
    apples.refresh_from_db()
    assert (apples.on_hand, apples.reserved) == (D("2.000"), D("0.000"))
    retry = post(
        shopper.client,
        f"/api/v1/orders/{order.uuid}/pay/",
        {"payment_method": "wallet"},
    )
    assert retry.status_code == 409
    assert shopper.balance == D("200.00")


def test_a_provider_payment_for_an_order_paid_from_the_wallet_meanwhile_is_refunded(
    store, stocked, shopper, django_capture_on_commit_callbacks
):
    # Given an order started with the provider, then paid from the wallet instead
    apples, _ = stocked
    order = shopper.order(store, [(apples, "2")], method="sandbox")
    provider_payment = Payment.objects.get(order=order)
    paid = post(
        shopper.client,
        f"/api/v1/orders/{order.uuid}/pay/",
        {"payment_method": "wallet"},
    )
    assert paid.status_code == 201, paid.json()

    # When the provider reports that the shopper paid there too (twice, as it retries)
    with django_capture_on_commit_callbacks(execute=True):
        first = send_webhook(
            event("payment.succeeded", provider_payment.provider_reference)
        )
        again = send_webhook(
            event("payment.succeeded", provider_payment.provider_reference)
        )

    # Then the extra money goes back to the provider in full, once
    assert (first.json(), again.json()) == ({"result": "processed"},) * 2
    provider_payment.refresh_from_db()
    assert provider_payment.state == "duplicate"
    refund = Refund.objects.get()
    assert (refund.payment, refund.amount, refund.state, refund.reason) == (
        provider_payment,
        D("25.60"),
        "succeeded",
        "paid twice: the order was already paid",
    )
    # And the order stays paid by the wallet, with all of its total still refundable
    order.refresh_from_db()
    assert (order.state, order.refund_status, order.refunded_total) == (
        "paid",
        "none",
        D("0.00"),
    )
    assert shopper.balance == D("174.40")
    # The sandbox confirmed the refund by its own webhook, once
    assert WebhookEvent.objects.filter(event_type="refund.succeeded").count() == 1


def test_a_provider_payment_in_time_pays_the_order_and_keeps_its_stock(
    store, stocked, shopper
):
    apples, _ = stocked
    order = shopper.order(store, [(apples, "4")], method="sandbox")
    payment = Payment.objects.get(order=order)

    response = send_webhook(event("payment.succeeded", payment.provider_reference))

    assert response.json() == {"result": "processed"}
    order.refresh_from_db()
    assert (order.state, order.payment_due_at) == ("paid", None)
    assert timeline(order)[-1] == ("created", "paid", None)
    reservation = line_of(order, apples).reservation
    assert (reservation.state, reservation.reserved_until) == ("held", None)
    assert orders_expire_unpaid(now=timezone.now() + dt.timedelta(hours=1)) == 0


# --- Order numbers --------------------------------------------------------------------


def test_order_numbers_count_per_store_and_local_day():
    # Given two stores in Shanghai (UTC+8): 15:59:59 UTC is 23:59:59 local
    sh01 = StoreFactory(code="SH01")
    sh02 = StoreFactory(code="SH02")
    late_on_the_24th = dt.datetime(2026, 11, 24, 15, 59, 59, tzinfo=UTC)
    midnight_local = dt.datetime(2026, 11, 24, 16, 0, 0, tzinfo=UTC)

    numbers = [
        order_number_next(store=sh01, at=late_on_the_24th),
        order_number_next(store=sh01, at=late_on_the_24th),
        order_number_next(store=sh02, at=late_on_the_24th),
        order_number_next(store=sh01, at=midnight_local),
        order_number_next(store=sh01, at=late_on_the_24th - dt.timedelta(hours=20)),
    ]

    assert numbers == [
        "SH01-20261124-0001",
        "SH01-20261124-0002",
        "SH02-20261124-0001",
        "SH01-20261125-0001",
        "SH01-20261124-0003",
    ]


def test_checkouts_are_numbered_in_order_of_the_stores_local_day(
    store, stocked, make_shopper
):
    apples, _ = stocked
    first = make_shopper().order(store, [(apples, "1")])
    second = make_shopper().order(store, [(apples, "1")])

    day = timezone.localtime(first.created_at, store.tz).strftime("%Y%m%d")
    assert (first.number, second.number) == (f"SH01-{day}-0001", f"SH01-{day}-0002")
