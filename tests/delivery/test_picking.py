"""Pick tasks through the staff API: claiming (concurrently too), scan to
confirm, weighed lines within tolerance, shortages, and the refusals."""

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from delivery import signals
from delivery.models import Fulfilment, FulfilmentLine, PickTask, RecountRequest
from delivery.picking import pick_line_confirm, pick_task_claim
from inventory.models import Reservation
from inventory.services import stock_receive, stock_sell_in_store
from orders.models import Order, OrderLine, Refund
from tests.conftest import requires_postgres
from tests.delivery.conftest import (
    claim,
    confirm,
    delivery_snapshot,
    shelf_code,
    short,
    staff_client,
)
from tests.factories import StoreFactory
from tests.orders.conftest import race

pytestmark = pytest.mark.django_db
D = Decimal


def order_fulfilment(order: Order) -> Fulfilment:
    return Fulfilment.objects.get(order_id=order.pk)


def line_for(task: dict, store_product) -> dict:
    return next(x for x in task["lines"] if x["sku"] == store_product.product.sku)


# --- Claiming -------------------------------------------------------------------------


def test_a_picker_claims_the_earliest_deadline_of_the_zone_first(
    floor, make_shopper, picker
):
    first = make_shopper().order(floor.store, [(floor.apples, "1")])
    second = make_shopper().order(floor.store, [(floor.pears, "1")])
    PickTask.objects.filter(fulfilment__order=first).update(
        deadline=second.paid_at.replace(year=2099)
    )

    response = claim(picker, floor.store, "produce")

    assert response.status_code == 200, response.json()
    task = response.json()
    assert (task["order"], task["zone"], task["state"]) == (
        second.number,
        "PRODUCE",
        "claimed",
    )
    assert task["hang_station"] == "H-PRODUCE"
    assert [
        (x["sku"], x["quantity"], x["shelf_location"], x["state"])
        for x in task["lines"]
    ] == [(floor.pears.product.sku, "1.000", "A1-02", "open")]


def test_claiming_again_returns_the_task_in_hand_and_an_empty_zone_answers_204(
    floor, shopper, picker
):
    shopper.order(floor.store, [(floor.apples, "1")])
    first = claim(picker, floor.store, "PRODUCE")

    again = claim(picker, floor.store, "PRODUCE")  # a new key: a lost answer
    other = staff_client(floor.store, "picker")
    nothing = claim(other, floor.store, "PRODUCE")

    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert nothing.status_code == 204
    assert PickTask.objects.get().picker_id == picker.user.pk


def test_claiming_an_unknown_zone_is_refused_naming_the_zones(floor, picker):
    response = claim(picker, floor.store, "BAKERY")

    assert response.status_code == 400
    assert response.json()["extra"]["field"] == "zone"
    assert response.json()["extra"]["zones"] == ["PRODUCE", "SEAFOOD"]


@requires_postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_claims_on_ten_tasks_give_ten_distinct_assignments(
    floor, make_shopper
):
    # Given ten paid orders waiting in the produce zone and twenty pickers
    shopper = make_shopper(balance="500.00")
    for _ in range(10):
        shopper.order(floor.store, [(floor.apples, "1")])
    pickers = [staff_client(floor.store, "picker") for _ in range(20)]
    tokens = [p._credentials["HTTP_AUTHORIZATION"] for p in pickers]

    def claim_as(token: str):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=token)
        response = claim(client, floor.store, "PRODUCE")
        return response.status_code, (
            response.json()["id"] if response.status_code == 200 else None
        )

    # When all twenty claim at once
    outcomes = race(*[lambda t=t: claim_as(t) for t in tokens])

    # Then ten got ten different tasks, ten were told none waits
    assert sorted(code for code, _ in outcomes) == [200] * 10 + [204] * 10, outcomes
    claimed = [task for code, task in outcomes if code == 200]
    assert len(set(claimed)) == 10
    assert PickTask.objects.filter(state="claimed").count() == 10
    assert PickTask.objects.values("picker").distinct().count() == 10


# --- Scan to confirm ------------------------------------------------------------------


def test_confirming_a_piece_line_picks_it_and_starts_picking(floor, shopper, picker):
    order = shopper.order(floor.store, [(floor.apples, "3")])
    task = claim(picker, floor.store, "PRODUCE").json()

    response = confirm(
        picker,
        floor.store,
        task,
        line_for(task, floor.apples),
        code=shelf_code(floor.apples),
    )

    assert response.status_code == 200, response.json()
    assert response.json()["line"]["state"] == "picked"
    floor.apples.refresh_from_db()
    assert (floor.apples.on_hand, floor.apples.reserved) == (D("17.000"), D("0.000"))
    order.refresh_from_db()
    assert order.state == "picking"
    assert order.lines.get().state == "picked"
    assert order.events.filter(to_state="picking", actor=picker.user).exists()
    assert order.fulfilment.state == "picking"
    assert order.fulfilment.first_pick_at is not None
    assert not Refund.objects.exists()


def test_a_wrong_product_is_refused_naming_the_expected_one(floor, shopper, picker):
    shopper.order(floor.store, [(floor.apples, "3")])
    task = claim(picker, floor.store, "PRODUCE").json()
    before = delivery_snapshot()

    response = confirm(
        picker,
        floor.store,
        task,
        line_for(task, floor.apples),
        code=shelf_code(floor.pears),
    )

    assert response.status_code == 409
    body = response.json()
    assert body["error"] == "wrong_product"
    assert body["extra"]["field"] == "code"
    assert body["extra"]["expected_sku"] == floor.apples.product.sku
    assert body["extra"]["shelf_location"] == "A1-01"
    assert floor.apples.product.name in body["message"]
    assert delivery_snapshot() == before


def test_a_shelf_code_of_another_store_is_refused(floor, shopper, picker):
    shopper.order(floor.store, [(floor.apples, "3")])
    task = claim(picker, floor.store, "PRODUCE").json()
    before = delivery_snapshot()

    response = confirm(
        picker,
        floor.store,
        task,
        line_for(task, floor.apples),
        code=f"https://hema.test/q/SH02/{floor.apples.product.sku}",
    )

    assert response.status_code == 409
    assert delivery_snapshot() == before


def test_a_weight_outside_tolerance_is_refused_telling_the_picker_to_adjust(
    floor, shopper, picker
):
    shopper.order(floor.store, [(floor.salmon, "0.500")])
    task = claim(picker, floor.store, "SEAFOOD").json()
    before = delivery_snapshot()

    heavy = confirm(
        picker,
        floor.store,
        task,
        line_for(task, floor.salmon),
        code=shelf_code(floor.salmon),
        weight_kg="0.560",
    )
    missing = confirm(
        picker,
        floor.store,
        task,
        line_for(task, floor.salmon),
        code=shelf_code(floor.salmon),
    )

    assert heavy.status_code == 422
    assert heavy.json()["extra"] == {
        "field": "weight_kg",
        "weight_kg": "0.560",
        "min_kg": "0.450",
        "max_kg": "0.550",
    }
    assert "take some out" in heavy.json()["message"]
    assert missing.status_code == 400
    assert missing.json()["extra"]["field"] == "weight_kg"
    assert delivery_snapshot() == before


def test_a_lighter_weighed_line_refunds_exactly_the_difference(
    floor, shopper, picker, django_capture_on_commit_callbacks
):
    # Given 0.500 kg of salmon at 168.00/kg (84.00 paid)
    order = shopper.order(floor.store, [(floor.salmon, "0.500")])
    task = claim(picker, floor.store, "SEAFOOD").json()
    balance = shopper.balance

    # When the picker weighs 0.460 kg (within 10%)
    with django_capture_on_commit_callbacks(execute=True):
        response = confirm(
            picker,
            floor.store,
            task,
            line_for(task, floor.salmon),
            code=shelf_code(floor.salmon),
            weight_kg="0.460",
        )

    # Then 0.460 kg is charged (77.28) and 6.72 goes back through the outbox
    assert response.status_code == 200, response.json()
    refund = Refund.objects.get()
    assert refund.amount == D("6.72")
    assert refund.line == order.lines.get()
    order.refresh_from_db()
    assert (order.total, order.refunded_total, order.refund_status) == (
        D("84.00"),
        D("6.72"),
        "partially_refunded",
    )
    assert shopper.balance == balance + D("6.72")
    floor.salmon.refresh_from_db()
    assert floor.salmon.on_hand == D("3.540")


def test_a_heavier_weighed_line_costs_the_shopper_nothing_more(floor, shopper, picker):
    order = shopper.order(floor.store, [(floor.salmon, "0.500")])
    task = claim(picker, floor.store, "SEAFOOD").json()

    response = confirm(
        picker,
        floor.store,
        task,
        line_for(task, floor.salmon),
        code=shelf_code(floor.salmon),
        weight_kg="0.540",
    )

    assert response.status_code == 200, response.json()
    order.refresh_from_db()
    assert (order.total, order.refunded_total) == (D("84.00"), D("0.00"))
    assert not Refund.objects.exists()
    floor.salmon.refresh_from_db()
    assert floor.salmon.on_hand == D("3.460")


def test_a_task_claimed_by_another_picker_is_refused(floor, shopper, picker):
    shopper.order(floor.store, [(floor.apples, "3")])
    task = claim(picker, floor.store, "PRODUCE").json()
    other = staff_client(floor.store, "picker")
    before = delivery_snapshot()

    response = confirm(
        other,
        floor.store,
        task,
        line_for(task, floor.apples),
        code=shelf_code(floor.apples),
    )
    shown = other.get(f"/api/v1/stores/{floor.store.code}/pick-tasks/{task['id']}")

    assert response.status_code == 409
    assert response.json()["error"] == "task_not_yours"
    assert shown.status_code == 409
    assert delivery_snapshot() == before


@pytest.mark.parametrize("who", ["other_store_picker", "packer", "shopper"])
def test_staff_without_the_role_at_this_store_get_403_and_see_nothing(
    floor, shopper, picker, who
):
    shopper.order(floor.store, [(floor.apples, "3")])
    task = claim(picker, floor.store, "PRODUCE").json()
    if who == "other_store_picker":
        client = staff_client(StoreFactory(code="SH02"), "picker")
    elif who == "packer":
        client = staff_client(floor.store, "packer")
    else:
        client = shopper.client
    before = delivery_snapshot()
    base = f"/api/v1/stores/{floor.store.code}"

    answers = [
        client.get(f"{base}/pick-tasks/{task['id']}"),
        claim(client, floor.store, "PRODUCE"),
        confirm(client, floor.store, task, line_for(task, floor.apples), code="x"),
        short(client, floor.store, task, line_for(task, floor.apples)),
    ]

    for answer in answers:
        assert answer.status_code == 403, answer.json()
        assert answer.json()["error"] == "forbidden"
        assert task["order"] not in str(answer.json())
    assert delivery_snapshot() == before


def test_a_retried_confirm_with_the_same_key_replays_and_picks_once(
    floor, shopper, picker
):
    order = shopper.order(floor.store, [(floor.apples, "3")])
    task = claim(picker, floor.store, "PRODUCE").json()
    line = line_for(task, floor.apples)
    url = (
        f"/api/v1/stores/{floor.store.code}/pick-tasks/{task['id']}"
        f"/lines/{line['id']}/confirm"
    )
    body = {"code": shelf_code(floor.apples)}

    first = picker.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="scan-1")
    again = picker.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="scan-1")
    no_key = picker.post(url, body, format="json")

    assert first.status_code == 200
    assert (again.status_code, again.json()) == (200, first.json())
    assert again["Idempotent-Replayed"] == "true"
    assert no_key.status_code == 400
    assert no_key.json()["extra"]["field"] == "Idempotency-Key"
    floor.apples.refresh_from_db()
    assert floor.apples.on_hand == D("17.000")
    assert order.events.filter(to_state="picking").count() == 1


def test_a_failure_in_the_orders_handler_rolls_the_pick_back(floor, shopper, picker):
    # Given a claimed task, and an orders listener that fails
    order = shopper.order(floor.store, [(floor.apples, "3")])
    task_id = claim(picker, floor.store, "PRODUCE").json()["id"]
    before = delivery_snapshot()

    def broken(**kwargs):
        raise RuntimeError("orders is down")

    signals.line_picked.connect(broken, dispatch_uid="test.broken")
    try:
        with pytest.raises(RuntimeError):
            pick_line_confirm(
                task=PickTask.objects.get(pk=task_id),
                line_id=FulfilmentLine.objects.get().pk,
                code=shelf_code(floor.apples),
                picker=picker.user,
            )
    finally:
        signals.line_picked.disconnect(dispatch_uid="test.broken")

    # Then the units are still reserved, not sold; the line and order unchanged
    assert delivery_snapshot() == before
    assert Reservation.objects.get().state == "held"
    order.refresh_from_db()
    assert order.state == "paid"


# --- Shortages ------------------------------------------------------------------------


def test_a_short_line_with_a_substitute_allowed_is_replaced_and_recounted(
    floor, shopper, picker
):
    # Given apples ordered (substitutes allowed) and pears on the same aisle
    order = shopper.order(floor.store, [(floor.apples, "2")], substitution="allow")
    task = claim(picker, floor.store, "PRODUCE").json()

    # When the picker finds no apples
    response = short(picker, floor.store, task, line_for(task, floor.apples))

    # Then pears join the same task, the shelf goes on the recount list
    assert response.status_code == 200, response.json()
    lines = response.json()["task"]["lines"]
    assert [(x["sku"], x["state"]) for x in lines] == [
        (floor.apples.product.sku, "short"),
        (floor.pears.product.sku, "open"),
    ]
    order.refresh_from_db()
    assert order.state == "picking"
    assert sorted(order.lines.values_list("sku", "state")) == sorted(
        [(floor.apples.product.sku, "substituted"), (floor.pears.product.sku, "open")]
    )
    # pears at 11.50 cost less than apples at 12.80: the difference goes back
    assert list(Refund.objects.values_list("amount", flat=True)) == [D("2.60")]
    recount = RecountRequest.objects.get()
    assert (recount.store_product, recount.reported_by) == (floor.apples, picker.user)
    floor.apples.refresh_from_db()
    assert (floor.apples.on_hand, floor.apples.reserved) == (D("20.000"), D("0.000"))
    assert Reservation.objects.get(store_product=floor.apples).state == "short"


def test_a_short_line_without_a_substitute_is_refunded(floor, shopper, picker):
    order = shopper.order(
        floor.store, [(floor.apples, "2"), (floor.pears, "1")], substitution="none"
    )
    task = claim(picker, floor.store, "PRODUCE").json()

    response = short(picker, floor.store, task, line_for(task, floor.apples))

    assert response.status_code == 200, response.json()
    refund = Refund.objects.get()
    assert (refund.amount, refund.line.sku) == (D("25.60"), floor.apples.product.sku)
    assert OrderLine.objects.get(pk=refund.line_id).state == "short"
    order.refresh_from_db()
    assert order.state == "picking"


@requires_postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_till_sale_racing_a_pick_never_shorts_a_confirmed_line(floor, make_shopper):
    shopper = make_shopper(balance="500.00")
    picker = staff_client(floor.store, "picker")
    for round_no in range(6):
        # Given 5 apples ordered from a shelf the count says holds exactly 5
        floor.apples.refresh_from_db()
        available = floor.apples.on_hand - floor.apples.reserved
        if available < 5:
            stock_receive(store_product=floor.apples, quantity=5 - available)
        elif available > 5:
            stock_sell_in_store(
                store_product=floor.apples,
                quantity=available - 5,
                unit_price=D("12.80"),
            )
        order = shopper.order(floor.store, [(floor.apples, "5")], substitution="none")
        task = pick_task_claim(
            store=floor.store, zone=floor.produce, picker=picker.user
        )
        line = FulfilmentLine.objects.get(task=task)

        # When the picker confirms while a shopper pays for one more at the till
        outcomes = race(
            lambda task=task, line=line: pick_line_confirm(
                task=task,
                line_id=line.pk,
                code=shelf_code(floor.apples),
                picker=picker.user,
            ),
            lambda: stock_sell_in_store(
                store_product=floor.apples, quantity=1, unit_price=D("12.80")
            ),
        )

        # Then a confirmed line stays picked and charged; else it went short
        line.refresh_from_db()
        order.refresh_from_db()
        order_line = order.lines.get(substitute_for=None)
        if not isinstance(outcomes[0], Exception):
            assert line.state == "picked", round_no
            assert order_line.state == "picked"
            assert Reservation.objects.get(pk=line.reservation_id).state == "picked"
            assert not order.refunds.exists()
        else:
            assert line.state == "short", (round_no, outcomes)
            assert order_line.state == "short"
            assert order.refunds.get().amount == D("64.00")
        assert not isinstance(outcomes[1], Exception), outcomes
        PickTask.objects.filter(pk=task.pk).update(state="cancelled")


def test_everything_on_an_order_leaves_the_ledger_consistent(floor, shopper, picker):
    from tests.conftest import assert_ledger_matches

    shopper.order(floor.store, [(floor.apples, "2"), (floor.pears, "1")])
    task = claim(picker, floor.store, "PRODUCE").json()
    confirm(
        picker,
        floor.store,
        task,
        line_for(task, floor.apples),
        code=shelf_code(floor.apples),
    )
    short(picker, floor.store, task, line_for(task, floor.pears))

    for store_product in (floor.apples, floor.pears):
        assert_ledger_matches(store_product)
    assert Order.objects.get().state == "picking"


def test_an_order_whose_every_line_is_short_is_closed_not_left_picking(
    floor, shopper, picker
):
    order = shopper.order(
        floor.store, [(floor.apples, "2"), (floor.pears, "1")], substitution="none"
    )
    task = claim(picker, floor.store, "PRODUCE").json()

    short(picker, floor.store, task, line_for(task, floor.apples))
    order.refresh_from_db()
    assert order.state == "picking"  # one line still to pick

    response = short(picker, floor.store, task, line_for(task, floor.pears))

    assert response.status_code == 200, response.json()
    order.refresh_from_db()
    assert order.state == "cancelled"
    assert order.refund_status == "refunded"
    assert sum(r.amount for r in Refund.objects.filter(order=order)) == order.total
    fulfilment = order_fulfilment(order)
    assert fulfilment.state == "cancelled"
    assert (
        not PickTask.objects.filter(fulfilment=fulfilment)
        .exclude(state="cancelled")
        .exists()
    )
    assert order.events.order_by("pk").last().note == (
        "every line short: nothing to deliver"
    )
    # Nothing waits for it: the zone has no task left to claim.
    assert claim(picker, floor.store, "PRODUCE").status_code == 204


def test_a_paid_order_emptied_by_till_sales_is_closed(floor, shopper):
    order = shopper.order(floor.store, [(floor.apples, "2")], substitution="none")
    floor.apples.refresh_from_db()

    # The in-store shoppers take every apple on the shelf before picking starts.
    stock_sell_in_store(
        store_product=floor.apples, quantity=floor.apples.on_hand, unit_price=D("1")
    )

    order.refresh_from_db()
    assert order.state == "cancelled"
    assert order.refund_status == "refunded"
    assert order_fulfilment(order).state == "cancelled"
