import datetime as dt
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from hema.errors import InvalidInput
from inventory import services as inventory_services
from inventory.errors import (
    InsufficientStock,
    InvalidQuantity,
    MoreThanOnHand,
    ReservationNotHeld,
)
from inventory.models import (
    MovementKind,
    Reservation,
    ReservationState,
    SaleUnit,
    StockLot,
    StockMovement,
    StoreProduct,
)
from inventory.services import (
    ReservationLine,
    SaleLine,
    reservation_mark_short,
    reservation_pick,
    reservation_release,
    reservations_confirm,
    reservations_release_expired,
    stock_correct,
    stock_receive,
    stock_reserve,
    stock_sell_in_store,
    stock_sell_in_store_lines,
    stock_write_off,
    store_product_create,
    store_product_update,
)
from inventory.signals import reservation_short
from tests.conftest import assert_ledger_matches
from tests.factories import ProductFactory, ZoneFactory

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.fixture
def apples(make_store_product):
    sp = make_store_product(online_buffer=D("2"))
    stock_receive(store_product=sp, quantity=10)
    sp.refresh_from_db()
    return sp


@pytest.fixture
def salmon(make_store_product):
    product = ProductFactory(sale_unit=SaleUnit.KILOGRAM, shelf_life_days=2)
    sp = make_store_product(product=product, list_price=D("168.00"))
    stock_receive(store_product=sp, quantity="5.250")
    sp.refresh_from_db()
    return sp


def test_receive_adds_to_on_hand_with_a_ledger_row(apples):
    assert apples.on_hand == D("10.000")
    movement = StockMovement.objects.get(store_product=apples)
    assert movement.kind == MovementKind.RECEIVE
    assert movement.on_hand_delta == D("10.000")


def test_receive_of_a_perishable_creates_a_lot_with_its_best_before(salmon):
    lot = StockLot.objects.get(store_product=salmon)
    today = timezone.localtime(timezone.now(), salmon.store.tz).date()
    assert lot.best_before == today + dt.timedelta(days=2)
    assert lot.quantity_left == D("5.250")


@pytest.mark.parametrize(
    ("quantity", "reason"),
    [
        ("1.5", "whole number"),
        ("0", "more than zero"),
        ("-3", "more than zero"),
        ("abc", "must be a number"),
        ("NaN", "must be a number"),
        ("1.0001", "three decimal places"),
        ("1e30", "too large"),
        ("1e100", "too large"),
    ],
)
def test_receive_refuses_bad_quantities_and_changes_nothing(apples, quantity, reason):
    with pytest.raises(InvalidQuantity, match=reason) as caught:
        stock_receive(store_product=apples, quantity=quantity)
    assert caught.value.extra["field"] == "quantity"
    apples.refresh_from_db()
    assert apples.on_hand == D("10.000")
    assert StockMovement.objects.filter(store_product=apples).count() == 1


def test_weighed_products_take_grams(salmon):
    stock_receive(store_product=salmon, quantity="0.125")
    salmon.refresh_from_db()
    assert salmon.on_hand == D("5.375")


def test_weighed_sales_that_empty_a_lot_leave_exactly_zero(make_store_product):
    # 0.3 kg sold as 0.1 then 0.2: in binary floats (SQLite, the embedded
    # default) 0.3 - 0.1 - 0.2 is -2.8e-17, below the lot's zero floor.
    product = ProductFactory(sale_unit=SaleUnit.KILOGRAM, shelf_life_days=2)
    sp = make_store_product(product=product, list_price=D("168.00"))
    stock_receive(store_product=sp, quantity="0.300")
    for grams in ("0.100", "0.200"):
        stock_sell_in_store(store_product=sp, quantity=grams, unit_price=D("168.00"))
    sp.refresh_from_db()
    assert sp.on_hand == D("0.000")
    assert StockLot.objects.get(store_product=sp).quantity_left == D("0.000")
    assert_ledger_matches(sp)


def test_reserve_takes_only_what_is_outside_the_buffer(apples):
    stock_reserve(lines=[ReservationLine(apples, 8)], reference="A1")
    apples.refresh_from_db()
    assert apples.reserved == D("8.000")
    with pytest.raises(InsufficientStock) as caught:
        stock_reserve(lines=[ReservationLine(apples, 1)], reference="A2")
    assert caught.value.extra["lines"] == [
        {"sku": apples.product.sku, "requested": "1.000", "available": "0.000"}
    ]
    apples.refresh_from_db()
    assert apples.reserved == D("8.000")
    assert_ledger_matches(apples)


def test_multi_line_reservation_with_one_short_line_reserves_nothing(
    apples, make_store_product
):
    pears = make_store_product()
    stock_receive(store_product=pears, quantity=3)
    with pytest.raises(InsufficientStock) as caught:
        stock_reserve(
            lines=[ReservationLine(apples, 2), ReservationLine(pears, 4)],
            reference="ORDER-9",
        )
    assert [line["sku"] for line in caught.value.extra["lines"]] == [pears.product.sku]
    assert caught.value.extra["lines"][0]["available"] == "3.000"
    for sp in (apples, pears):
        sp.refresh_from_db()
        assert sp.reserved == 0
    assert not Reservation.objects.exists()
    assert not StockMovement.objects.filter(kind=MovementKind.RESERVE).exists()


def test_multi_line_reservation_lists_every_short_line(apples, make_store_product):
    pears = make_store_product()
    with pytest.raises(InsufficientStock) as caught:
        stock_reserve(
            lines=[ReservationLine(apples, 9), ReservationLine(pears, 1)],
            reference="ORDER-10",
        )
    assert {line["sku"] for line in caught.value.extra["lines"]} == {
        apples.product.sku,
        pears.product.sku,
    }


def test_multi_line_reservation_merges_repeated_products(apples, make_store_product):
    pears = make_store_product()
    stock_receive(store_product=pears, quantity=3)
    reservations = stock_reserve(
        lines=[
            ReservationLine(pears, 1),
            ReservationLine(apples, 2),
            ReservationLine(pears, 2),
        ],
        reference="ORDER-11",
        reserved_until=timezone.now() + dt.timedelta(minutes=15),
    )
    assert sorted((r.store_product_id, r.quantity) for r in reservations) == sorted(
        [(apples.pk, D("2.000")), (pears.pk, D("3.000"))]
    )
    pears.refresh_from_db()
    assert pears.reserved == D("3.000")
    assert_ledger_matches(pears)
    assert_ledger_matches(apples)


def test_reserve_refuses_an_empty_order(apples):
    with pytest.raises(InvalidQuantity):
        stock_reserve(lines=[], reference="X")


def test_release_gives_units_back_and_is_safe_to_repeat(apples):
    [reservation] = stock_reserve(lines=[ReservationLine(apples, 5)], reference="R")
    reservation_release(reservation=reservation)
    reservation_release(reservation=Reservation.objects.get(pk=reservation.pk))
    apples.refresh_from_db()
    assert apples.reserved == 0
    assert StockMovement.objects.filter(kind=MovementKind.RELEASE).count() == 1
    assert Reservation.objects.get(pk=reservation.pk).state == ReservationState.RELEASED
    assert_ledger_matches(apples)


def test_pick_sells_what_was_picked_and_releases_the_rest(salmon):
    [reservation] = stock_reserve(
        lines=[ReservationLine(salmon, "1.000")], reference="W1"
    )
    reservation_pick(reservation=reservation, quantity="0.950", unit_price=D("168.00"))
    salmon.refresh_from_db()
    assert salmon.on_hand == D("4.300")
    assert salmon.reserved == 0
    pick = StockMovement.objects.get(kind=MovementKind.PICK)
    assert (pick.on_hand_delta, pick.reserved_delta, pick.unit_price) == (
        D("-0.950"),
        D("-1.000"),
        D("168.00"),
    )
    assert StockLot.objects.get(store_product=salmon).quantity_left == D("4.300")
    reservation.refresh_from_db()
    assert (reservation.state, reservation.quantity_picked) == ("picked", D("0.950"))
    assert_ledger_matches(salmon)


def test_a_picked_reservation_cannot_be_picked_or_released_again(apples):
    [reservation] = stock_reserve(lines=[ReservationLine(apples, 2)], reference="P")
    reservation_pick(reservation=reservation, quantity=2, unit_price=D("12.80"))
    with pytest.raises(ReservationNotHeld):
        reservation_pick(reservation=reservation, quantity=2, unit_price=D("12.80"))
    with pytest.raises(ReservationNotHeld):
        reservation_release(reservation=Reservation.objects.get(pk=reservation.pk))
    apples.refresh_from_db()
    assert (apples.on_hand, apples.reserved) == (D("8.000"), 0)
    assert_ledger_matches(apples)


def test_mark_short_frees_the_units_and_tells_listeners(apples):
    heard = []

    def listener(sender, reservation, **kwargs):
        heard.append(reservation.pk)

    reservation_short.connect(listener)
    try:
        [reservation] = stock_reserve(lines=[ReservationLine(apples, 3)], reference="S")
        reservation_mark_short(reservation=reservation)
    finally:
        reservation_short.disconnect(listener)
    assert heard == [reservation.pk]
    apples.refresh_from_db()
    assert apples.reserved == 0
    assert_ledger_matches(apples)


def test_in_store_sale_is_never_refused_and_flags_newest_reservations_short(apples):
    [first] = stock_reserve(lines=[ReservationLine(apples, 4)], reference="FIRST")
    [second] = stock_reserve(lines=[ReservationLine(apples, 4)], reference="SECOND")
    # The shopper carries 5 to the counter; on hand 10 - 5 = 5 no longer holds 8.
    stock_sell_in_store(store_product=apples, quantity=5, unit_price=D("12.80"))
    apples.refresh_from_db()
    assert (apples.on_hand, apples.reserved) == (D("5.000"), D("4.000"))
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.state, second.state) == ("held", "short")
    assert_ledger_matches(apples)


def test_in_store_sale_beyond_the_count_corrects_it_to_zero(apples):
    stock_reserve(lines=[ReservationLine(apples, 2)], reference="R")
    stock_sell_in_store(
        store_product=apples, quantity=13, unit_price=D("12.80"), reference="TILL-1"
    )
    apples.refresh_from_db()
    assert (apples.on_hand, apples.reserved) == (0, 0)
    correction = StockMovement.objects.get(kind=MovementKind.CORRECTION)
    assert correction.on_hand_delta == D("3.000")
    sale = StockMovement.objects.get(kind=MovementKind.SALE_IN_STORE)
    assert (sale.on_hand_delta, sale.unit_price) == (D("-13.000"), D("12.80"))
    assert Reservation.objects.get().state == ReservationState.SHORT
    assert_ledger_matches(apples)


def test_pick_heavier_than_reserved_but_within_on_hand_sells_what_was_picked(salmon):
    [reservation] = stock_reserve(
        lines=[ReservationLine(salmon, "5.000")], reference="W"
    )
    reservation_pick(reservation=reservation, quantity="5.250", unit_price=D("168"))
    salmon.refresh_from_db()
    assert (salmon.on_hand, salmon.reserved) == (0, 0)
    assert not StockMovement.objects.filter(kind=MovementKind.CORRECTION).exists()
    assert_ledger_matches(salmon)


def test_pick_beyond_on_hand_is_refused_naming_it_and_changes_nothing(salmon):
    # Given 5.250 kg on hand, 5.000 of it reserved
    [reservation] = stock_reserve(
        lines=[ReservationLine(salmon, "5.000")], reference="W"
    )
    before = list(StockMovement.objects.values_list("pk", flat=True))

    # When the picker weighs 5.400 kg, more than the count says is there
    with pytest.raises(MoreThanOnHand) as refused:
        reservation_pick(reservation=reservation, quantity="5.400", unit_price=D("168"))

    # Then it is refused naming what is on hand, and nothing changed
    sku = salmon.product.sku
    assert refused.value.message == (
        f"Cannot pick 5.400 of {sku}: only 5.250 on hand. "
        "If the shelf holds more, correct the count first."
    )
    assert refused.value.extra == {
        "field": "quantity",
        "sku": sku,
        "requested": "5.400",
        "on_hand": "5.250",
    }
    assert reservation.state == ReservationState.HELD
    reservation.refresh_from_db()
    assert (reservation.state, reservation.quantity_picked) == ("held", 0)
    salmon.refresh_from_db()
    assert (salmon.on_hand, salmon.reserved) == (D("5.250"), D("5.000"))
    assert list(StockMovement.objects.values_list("pk", flat=True)) == before
    assert StockLot.objects.get(store_product=salmon).quantity_left == D("5.250")

    # and a count correction is how the picker says the shelf held more
    stock_correct(store_product=salmon, counted="5.400", reason="weighed on the scale")
    reservation_pick(reservation=reservation, quantity="5.400", unit_price=D("168"))
    salmon.refresh_from_db()
    assert (salmon.on_hand, salmon.reserved) == (0, 0)
    assert_ledger_matches(salmon)


def test_sales_take_the_oldest_lot_first(make_store_product):
    product = ProductFactory(shelf_life_days=3)
    sp = make_store_product(product=product)
    today = timezone.now().date()
    stock_receive(
        store_product=sp, quantity=4, best_before=today + dt.timedelta(days=3)
    )
    stock_receive(
        store_product=sp, quantity=4, best_before=today + dt.timedelta(days=1)
    )
    stock_sell_in_store(store_product=sp, quantity=5, unit_price=D("3.00"))
    lots = list(StockLot.objects.filter(store_product=sp).order_by("best_before"))
    assert [lot.quantity_left for lot in lots] == [D("0.000"), D("3.000")]


def test_a_till_payment_sells_every_line_each_from_its_oldest_lots(
    apples, make_store_product, django_assert_num_queries
):
    # Given two perishables with two lots each, and apples without lots
    today = timezone.now().date()
    fish, bread = (
        make_store_product(product=ProductFactory(shelf_life_days=3)) for _ in range(2)
    )
    for sp in (fish, bread):
        for days in (3, 1):
            stock_receive(
                store_product=sp, quantity=4, best_before=today + dt.timedelta(days)
            )

    apples = StoreProduct.objects.select_related("product").get(pk=apples.pk)

    # When one payment sells 5 fish, 1 apple and 2 bread (lines in any order)
    lines = [
        SaleLine(fish, 5, D("30.00")),
        SaleLine(apples, 1, D("12.80")),
        SaleLine(bread, "2", D("6.50")),
    ]
    # (one UPDATE of each count; the lots read and updated once; one INSERT)
    with django_assert_num_queries(6):
        movements = stock_sell_in_store_lines(lines=lines, reference="TILL-7")

    # Then each line has its ledger row, in the order given
    assert [(m.store_product_id, m.on_hand_delta, m.unit_price) for m in movements] == [
        (fish.pk, D("-5.000"), D("30.00")),
        (apples.pk, D("-1.000"), D("12.80")),
        (bread.pk, D("-2.000"), D("6.50")),
    ]
    assert {m.kind for m in movements} == {MovementKind.SALE_IN_STORE}
    assert {m.reference for m in movements} == {"TILL-7"}

    # and each product's oldest lot went first
    def lots(sp):
        return list(
            StockLot.objects.filter(store_product=sp)
            .order_by("best_before")
            .values_list("quantity_left", flat=True)
        )

    assert lots(fish) == [D("0.000"), D("3.000")]
    assert lots(bread) == [D("2.000"), D("4.000")]
    for sp in (fish, apples, bread):
        assert_ledger_matches(sp)


def test_a_till_payment_with_a_line_beyond_the_count_corrects_that_line_only(
    apples, make_store_product
):
    # Given pears with a lot, and apples holding a reservation of 2
    pears = make_store_product(product=ProductFactory(shelf_life_days=3))
    stock_receive(store_product=pears, quantity=6)
    stock_reserve(lines=[ReservationLine(apples, 2)], reference="R")

    # When one payment takes 13 apples (3 more than counted) and 2 pears
    movements = stock_sell_in_store_lines(
        lines=[SaleLine(pears, 2, D("5.00")), SaleLine(apples, 13, D("12.80"))],
        reference="TILL-8",
    )

    # Then the apples are corrected to zero and their reservation flagged short,
    assert [m.on_hand_delta for m in movements] == [D("-2.000"), D("-13.000")]
    apples.refresh_from_db()
    assert (apples.on_hand, apples.reserved) == (0, 0)
    correction = StockMovement.objects.get(kind=MovementKind.CORRECTION)
    assert (correction.store_product_id, correction.on_hand_delta) == (
        apples.pk,
        D("3.000"),
    )
    assert Reservation.objects.get().state == ReservationState.SHORT
    # and the pears sold as any line does
    assert StockLot.objects.get(store_product=pears).quantity_left == D("4.000")
    for sp in (apples, pears):
        assert_ledger_matches(sp)


@pytest.mark.django_db(transaction=True)
def test_a_till_sale_outside_a_transaction_is_all_or_nothing(
    make_store_product, monkeypatch
):
    # Given 5 on hand, and a ledger that fails once the count has changed
    sp = make_store_product()
    stock_receive(store_product=sp, quantity=5)

    def ledger_down(sold):
        raise RuntimeError("the ledger is down")

    monkeypatch.setattr(inventory_services, "_sales_recorded", ledger_down)

    # When a sale is called in autocommit mode (no caller's transaction)
    with pytest.raises(RuntimeError):
        stock_sell_in_store(store_product=sp, quantity=2, unit_price=D("3.00"))

    # Then its count change was rolled back with it
    sp.refresh_from_db()
    assert sp.on_hand == D("5.000")
    assert_ledger_matches(sp)


def test_count_correction_sets_the_counted_value_and_needs_a_reason(apples):
    with pytest.raises(InvalidQuantity, match="reason"):
        stock_correct(store_product=apples, counted=7, reason=" ")
    movement = stock_correct(store_product=apples, counted=7, reason="weekly count")
    assert movement.on_hand_delta == D("-3.000")
    assert stock_correct(store_product=apples, counted=7, reason="again") is None
    apples.refresh_from_db()
    assert apples.on_hand == D("7.000")
    assert_ledger_matches(apples)


def test_count_below_reservations_flags_them_short(apples):
    stock_reserve(lines=[ReservationLine(apples, 3)], reference="A")
    stock_reserve(lines=[ReservationLine(apples, 3)], reference="B")
    stock_correct(store_product=apples, counted=4, reason="crushed box found")
    apples.refresh_from_db()
    assert (apples.on_hand, apples.reserved) == (D("4.000"), D("3.000"))
    states = dict(Reservation.objects.values_list("reference", "state"))
    assert states == {"A": "held", "B": "short"}
    assert_ledger_matches(apples)


def test_write_off_needs_a_reason_and_removes_stock(apples):
    with pytest.raises(InvalidQuantity, match="reason"):
        stock_write_off(store_product=apples, quantity=1, reason="")
    stock_write_off(store_product=apples, quantity=2, reason="bruised")
    apples.refresh_from_db()
    assert apples.on_hand == D("8.000")
    assert_ledger_matches(apples)


def test_write_off_beyond_on_hand_is_refused_naming_it_and_changes_nothing(apples):
    # Given 10 on hand, 2 of them reserved
    [reservation] = stock_reserve(lines=[ReservationLine(apples, 2)], reference="R")
    before = list(StockMovement.objects.values_list("pk", flat=True))

    # When a write-off of 11 is typed
    with pytest.raises(MoreThanOnHand) as refused:
        stock_write_off(store_product=apples, quantity=11, reason="spoiled")

    # Then it is refused naming what is on hand, and nothing changed: no
    # invented count correction, the reservation still held
    sku = apples.product.sku
    assert refused.value.message == (
        f"Cannot write off 11.000 of {sku}: only 10.000 on hand. "
        "If the shelf holds more, correct the count first."
    )
    assert refused.value.extra == {
        "field": "quantity",
        "sku": sku,
        "requested": "11.000",
        "on_hand": "10.000",
    }
    apples.refresh_from_db()
    assert (apples.on_hand, apples.reserved) == (D("10.000"), D("2.000"))
    assert list(StockMovement.objects.values_list("pk", flat=True)) == before
    reservation.refresh_from_db()
    assert reservation.state == ReservationState.HELD


def test_write_off_of_everything_on_hand_flags_what_it_held_short(apples):
    [reservation] = stock_reserve(lines=[ReservationLine(apples, 2)], reference="R")

    stock_write_off(store_product=apples, quantity=10, reason="freezer failed")

    apples.refresh_from_db()
    assert (apples.on_hand, apples.reserved) == (0, 0)
    reservation.refresh_from_db()
    assert reservation.state == ReservationState.SHORT
    assert not StockMovement.objects.filter(kind=MovementKind.CORRECTION).exists()
    assert_ledger_matches(apples)


def test_expired_reservations_are_released(apples):
    now = timezone.now()
    stock_reserve(
        lines=[ReservationLine(apples, 2)],
        reference="OLD",
        reserved_until=now - dt.timedelta(minutes=1),
    )
    stock_reserve(
        lines=[ReservationLine(apples, 3)],
        reference="NEW",
        reserved_until=now + dt.timedelta(minutes=10),
    )
    stock_reserve(lines=[ReservationLine(apples, 1)], reference="PAID")
    assert reservations_release_expired(now=now) == 1
    assert reservations_release_expired(now=now) == 0
    apples.refresh_from_db()
    assert apples.reserved == D("4.000")
    states = dict(Reservation.objects.values_list("reference", "state"))
    assert states == {"OLD": "released", "NEW": "held", "PAID": "held"}


def test_the_database_refuses_a_negative_count_whatever_the_code_does(apples):
    with pytest.raises(IntegrityError), transaction.atomic():
        StoreProduct.objects.filter(pk=apples.pk).update(on_hand=-1)
    with pytest.raises(IntegrityError), transaction.atomic():
        StoreProduct.objects.filter(pk=apples.pk).update(reserved=11)


def test_a_reservation_paid_while_the_sweep_runs_is_not_released(apples):
    """The sweep loads the expired holds, then releases them one by one; an order
    paid in between (its hold cleared) keeps its units."""
    now = timezone.now()
    [paid] = stock_reserve(
        lines=[ReservationLine(apples, 2)],
        reference="PAID-LATE",
        reserved_until=now - dt.timedelta(minutes=1),
    )
    fired = []

    def pay_before_the_first_store_product_read(execute, sql, params, many, context):
        if not fired and 'FROM "inventory_storeproduct"' in sql:
            fired.append(sql)
            reservations_confirm(reservations=[paid])
        return execute(sql, params, many, context)

    with connection.execute_wrapper(pay_before_the_first_store_product_read):
        released = reservations_release_expired(now=now)

    assert fired
    assert released == 0
    paid.refresh_from_db()
    apples.refresh_from_db()
    assert (paid.state, paid.reserved_until) == ("held", None)
    assert apples.reserved == D("2.000")
    assert_ledger_matches(apples)


# --- Store product settings ------------------------------------------------------


def test_a_new_store_product_has_no_stock_and_starts_at_its_list_price(store):
    product = ProductFactory(sku="NEW001")

    sp = store_product_create(
        store=store, product=product, list_price="5.50", unit_cost=D("3.00")
    )

    sp.refresh_from_db()
    assert (sp.list_price, sp.shelf_price, sp.unit_cost) == (
        D("5.50"),
        D("5.50"),
        D("3.00"),
    )
    assert (sp.on_hand, sp.reserved, sp.online_buffer) == (0, 0, 0)
    with pytest.raises(InvalidInput) as refused:
        store_product_create(
            store=store, product=product, list_price="6.00", unit_cost="3.00"
        )
    assert refused.value.extra == {"field": "product", "sku": "NEW001"}
    assert StoreProduct.objects.filter(product=product).count() == 1


def test_update_writes_only_the_named_settings(apples):
    # Given a row loaded before an order reserved and pricing set a shelf price
    stale = StoreProduct.objects.select_related("product").get(pk=apples.pk)
    stock_reserve(lines=[ReservationLine(apples, 3)], reference="LATE")
    StoreProduct.objects.filter(pk=apples.pk).update(shelf_price=D("11.00"))

    # When a manager's edit of the stale row changes the list price
    updated = store_product_update(
        store_product=stale, data={"list_price": D("13.50"), "shelf_location": " B-2 "}
    )

    # Then only those fields were written
    assert (updated.list_price, updated.shelf_location) == (D("13.50"), "B-2")
    apples.refresh_from_db()
    assert (apples.list_price, apples.shelf_location) == (D("13.50"), "B-2")
    assert (apples.on_hand, apples.reserved, apples.shelf_price) == (
        D("10.000"),
        D("3.000"),
        D("11.00"),
    )
    assert_ledger_matches(apples)


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"on_hand": 999}, "on_hand", "on_hand cannot be set here"),
        ({"reserved": 0}, "reserved", "reserved cannot be set here"),
        ({"shelf_price": "0.01"}, "shelf_price", "shelf_price cannot be set here"),
        ({"store": 1}, "store", "store cannot be set here"),
        ({"list_price": "-1"}, "list_price", "list_price must be an amount of zero"),
        ({"unit_cost": "1.005"}, "unit_cost", "unit_cost has more than two decimal"),
        ({"online_buffer": "-1"}, "online_buffer", "online_buffer must be zero or"),
        ({"online_buffer": "0.5"}, "online_buffer", "must be a whole number"),
    ],
)
def test_update_refuses_counts_the_shelf_price_and_bad_values(
    apples, data, field, message
):
    before = StoreProduct.objects.values().get(pk=apples.pk)

    with pytest.raises(InvalidInput, match=message) as refused:
        store_product_update(store_product=apples, data=data)

    assert refused.value.extra["field"] == field
    assert StoreProduct.objects.values().get(pk=apples.pk) == before


def test_update_refuses_a_zone_of_another_store(apples):
    elsewhere = ZoneFactory(code="FISH")
    before = StoreProduct.objects.values().get(pk=apples.pk)

    with pytest.raises(InvalidInput, match=r"Zone FISH belongs to another store\."):
        store_product_update(store_product=apples, data={"zone": elsewhere})

    assert StoreProduct.objects.values().get(pk=apples.pk) == before
