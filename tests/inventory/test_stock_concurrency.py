"""Real concurrency on the one stock count: threads, each with its own connection.

Every race starts at a barrier so that the transactions really overlap. The
ledger is the witness: a transaction that changes a store product holds that
row's lock from its first write until it commits, and writes its ledger rows
while holding it, so one product's ledger in primary-key order is the order in
which PostgreSQL serialised the changes. Replaying it checks the invariants at
every step, not only at the end.
"""

import threading
import time
import uuid
from collections.abc import Callable, Sequence
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client

from accounts.models import User
from hema.errors import InvalidInput
from inventory.errors import InsufficientStock, ReservationNotHeld
from inventory.models import (
    MovementKind,
    Reservation,
    ReservationState,
    StockMovement,
    StoreProduct,
)
from inventory.services import (
    ReservationLine,
    reservation_pick,
    reservation_release,
    stock_receive,
    stock_reserve,
    stock_sell_in_store,
    store_product_create,
)
from tests.conftest import assert_ledger_matches, requires_postgres
from tests.factories import ProductFactory

pytestmark = [
    requires_postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

D = Decimal
PRICE = D("12.80")
WAIT_SECONDS = 60
ENDS_A_HOLD = {MovementKind.PICK, MovementKind.RELEASE, MovementKind.SHORT}


def race(calls: Sequence[Callable[[int], object]], *, rounds: int = 1) -> list[list]:
    """Run each call in its own thread and connection, ``rounds`` times over.

    All threads connect first, then wait at a barrier before every round, so the
    calls of one round start together. Returns, per thread, what each round's call
    returned or the exception it raised.
    """
    barrier = threading.Barrier(len(calls), timeout=WAIT_SECONDS)
    outcomes: list[list] = [[] for _ in calls]

    def run(index: int, call: Callable[[int], object]) -> None:
        try:
            connection.ensure_connection()
            for round_no in range(rounds):
                barrier.wait()
                try:
                    outcomes[index].append(call(round_no))
                except Exception as exc:
                    outcomes[index].append(exc)
        except Exception as exc:  # a broken barrier or no connection
            outcomes[index].append(exc)
            barrier.abort()
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=(i, call), name=f"race-{i}")
        for i, call in enumerate(calls)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_SECONDS)
    assert not [t.name for t in threads if t.is_alive()], "threads hung"
    return outcomes


def flat(outcomes: list[list]) -> list:
    return [outcome for per_thread in outcomes for outcome in per_thread]


def receive(make_store_product, *, on_hand: int, buffer: int = 0) -> StoreProduct:
    sp = make_store_product(online_buffer=D(buffer))
    stock_receive(store_product=sp, quantity=on_hand)
    return StoreProduct.objects.select_related("product", "store").get(pk=sp.pk)


def reserve_one(sp: StoreProduct, quantity: int, reference: str) -> Reservation:
    [reservation] = stock_reserve(
        lines=[ReservationLine(sp, quantity)], reference=reference
    )
    return reservation


def loaded(reservation: Reservation) -> Reservation:
    """A fresh, fully loaded copy, so that each thread races with its own object."""
    return Reservation.objects.select_related("store_product__product").get(
        pk=reservation.pk
    )


def replay_ledger(sp: StoreProduct) -> list[StockMovement]:
    """Replay one product's ledger in commit order and check every step.

    * on hand never negative, reserved never negative nor above on hand;
    * a reservation only ever took ``on_hand - reserved - online_buffer``;
    * a reservation flagged short was the newest one held, and only when the
      in-store sale in the same transaction needed its room;
    * reserved is always the sum of the reservations still held.
    """
    rows = list(StockMovement.objects.filter(store_product=sp).order_by("pk"))
    on_hand = reserved = D(0)
    held: dict[int, Decimal] = {}
    for position, row in enumerate(rows):
        if row.kind == MovementKind.RESERVE:
            available = on_hand - reserved - sp.online_buffer
            assert available >= row.reserved_delta, (
                f"row {row.pk} reserved {row.reserved_delta} "
                f"with only {available} outside the buffer"
            )
            held[row.reservation_id] = row.reserved_delta
        elif row.kind == MovementKind.SHORT:
            sale = next(r for r in rows[position:] if r.kind != MovementKind.SHORT)
            assert sale.kind == MovementKind.SALE_IN_STORE
            assert row.reservation_id == max(held), "not the newest held"
            assert reserved > on_hand + sale.on_hand_delta, "flagged without need"
        if row.kind in ENDS_A_HOLD:
            del held[row.reservation_id]
        on_hand += row.on_hand_delta
        reserved += row.reserved_delta
        assert on_hand >= 0
        assert D(0) <= reserved <= on_hand
        assert reserved == sum(held.values(), D(0))
    return rows


def test_fifty_shoppers_race_for_twenty_units_and_exactly_twenty_win(
    make_store_product,
):
    for scenario in range(3):
        # Given 22 on the shelf, 2 of them kept for the aisle: 20 for the app.
        sp = receive(make_store_product, on_hand=22, buffer=2)

        # When 50 shoppers reserve one each at the same moment
        outcomes = flat(
            race(
                [
                    lambda _, ref=f"S{scenario}-{i}", sp=sp: reserve_one(sp, 1, ref)
                    for i in range(50)
                ]
            )
        )

        # Then exactly 20 hold a unit and 30 are told there is no stock
        won = [o for o in outcomes if isinstance(o, Reservation)]
        refused = [o for o in outcomes if isinstance(o, InsufficientStock)]
        assert (len(won), len(refused)) == (20, 30), [
            repr(o)
            for o in outcomes
            if not isinstance(o, Reservation | InsufficientStock)
        ]
        assert {line["available"] for r in refused for line in r.extra["lines"]} == {
            "0.000"
        }
        sp.refresh_from_db()
        assert (sp.on_hand, sp.reserved) == (D(22), D(20))
        assert (
            StockMovement.objects.filter(
                store_product=sp, kind=MovementKind.RESERVE
            ).count()
            == 20
        )
        assert Reservation.objects.filter(store_product=sp, state="held").count() == 20
        assert_ledger_matches(sp)
        replay_ledger(sp)


def test_in_store_sales_racing_online_reservations_keep_every_promise(
    make_store_product,
):
    # Given 40 on the shelf and 3 kept for shoppers in the aisle
    sp = receive(make_store_product, on_hand=40, buffer=3)

    # When 20 app orders reserve 2 each while 20 shoppers pay for 1 each at the till
    calls: list[Callable[[int], object]] = []
    for i in range(20):
        calls.append(lambda _, i=i: reserve_one(sp, 2, f"APP-{i}"))
        calls.append(
            lambda _, i=i: stock_sell_in_store(
                store_product=sp, quantity=1, unit_price=PRICE, reference=f"TILL-{i}"
            )
        )
    outcomes = flat(race(calls))

    # Then no sale at the till was refused, and orders either hold or were refused
    sales = [o for o in outcomes if isinstance(o, StockMovement)]
    won = [o for o in outcomes if isinstance(o, Reservation)]
    refused = [o for o in outcomes if isinstance(o, InsufficientStock)]
    assert len(sales) == 20
    assert {s.kind for s in sales} == {MovementKind.SALE_IN_STORE}
    assert len(won) + len(refused) == 20, [repr(o) for o in outcomes]

    # and the shelf count is exactly what the tills took, never corrected
    sp.refresh_from_db()
    assert sp.on_hand == D(20)
    assert not StockMovement.objects.filter(
        store_product=sp, kind=MovementKind.CORRECTION
    ).exists()

    # and what is reserved is what the orders still held hold
    states = dict(
        Reservation.objects.filter(store_product=sp).values_list("pk", "state")
    )
    assert sorted(states) == sorted(r.pk for r in won)
    still_held = [pk for pk, state in states.items() if state == ReservationState.HELD]
    flagged = [pk for pk, state in states.items() if state == ReservationState.SHORT]
    assert len(still_held) + len(flagged) == len(won)
    assert sp.reserved == 2 * len(still_held)
    assert sp.reserved <= sp.on_hand

    # and, step by step, the app never reserved into the buffer; a reservation was
    # flagged short only when a till sale needed its units, newest first
    rows = replay_ledger(sp)
    assert sorted(r.reservation_id for r in rows if r.kind == MovementKind.SHORT) == (
        sorted(flagged)
    )
    # The counter may now be inside the buffer only because the tills ate into it
    # after the last reservation: the app never takes those units itself.
    if sp.reserved > sp.on_hand - sp.online_buffer:
        last_reserve = max(r.pk for r in rows if r.kind == MovementKind.RESERVE)
        last_sale = max(r.pk for r in rows if r.kind == MovementKind.SALE_IN_STORE)
        assert last_sale > last_reserve
    assert_ledger_matches(sp)


def test_multi_line_orders_in_opposite_orders_never_deadlock_and_are_all_or_nothing(
    make_store_product,
):
    # Given apples for 30 orders and pears for 50
    apples = receive(make_store_product, on_hand=30)
    pears = receive(make_store_product, on_hand=100)
    rounds = 20

    def order(first: ReservationLine, second: ReservationLine, thread: int):
        return lambda round_no: stock_reserve(
            lines=[first, second], reference=f"T{thread}-{round_no}"
        )

    # When four checkouts, two listing [apples, pears] and two [pears, apples],
    # reserve at the same moment, 20 times over
    outcomes = race(
        [
            order(ReservationLine(apples, 1), ReservationLine(pears, 2), 0),
            order(ReservationLine(pears, 2), ReservationLine(apples, 1), 1),
            order(ReservationLine(apples, 1), ReservationLine(pears, 2), 2),
            order(ReservationLine(pears, 2), ReservationLine(apples, 1), 3),
        ],
        rounds=rounds,
    )

    # Then nothing deadlocked or failed: every order holds both lines or nothing
    for thread, per_thread in enumerate(outcomes):
        assert len(per_thread) == rounds
        for round_no, outcome in enumerate(per_thread):
            reference = f"T{thread}-{round_no}"
            held = dict(
                Reservation.objects.filter(reference=reference).values_list(
                    "store_product_id", "quantity"
                )
            )
            if isinstance(outcome, InsufficientStock):
                assert held == {}
                assert not StockMovement.objects.filter(reference=reference).exists()
            else:
                assert isinstance(outcome, list), repr(outcome)
                assert held == {apples.pk: D(1), pears.pk: D(2)}
    won = sum(isinstance(o, list) for o in flat(outcomes))
    assert won == 30
    apples.refresh_from_db()
    pears.refresh_from_db()
    assert (apples.reserved, pears.reserved) == (D(30), D(60))
    assert_ledger_matches(apples)
    assert_ledger_matches(pears)


def test_two_pickers_picking_one_reservation_only_one_takes_the_goods(
    make_store_product,
):
    sp = receive(make_store_product, on_hand=20)
    for round_no in range(5):
        # Given an order holding 2
        reservation = reserve_one(sp, 2, f"PICK-{round_no}")
        first, second = loaded(reservation), loaded(reservation)

        # When two pickers pick it at the same moment
        outcomes = flat(
            race(
                [
                    lambda _, r=r: reservation_pick(
                        reservation=r, quantity=2, unit_price=PRICE
                    )
                    for r in (first, second)
                ]
            )
        )

        # Then one picks it and the other is told it is no longer held
        assert sorted(type(o).__name__ for o in outcomes) == [
            "Reservation",
            "ReservationNotHeld",
        ], [repr(o) for o in outcomes]
        reservation.refresh_from_db()
        assert (reservation.state, reservation.quantity_picked) == ("picked", D(2))
        assert reservation.movements.filter(kind=MovementKind.PICK).count() == 1

    sp.refresh_from_db()
    assert (sp.on_hand, sp.reserved) == (D(10), D(0))
    assert_ledger_matches(sp)
    replay_ledger(sp)


def test_release_racing_a_pick_of_one_reservation_has_one_winner(make_store_product):
    sp = receive(make_store_product, on_hand=20)
    picked = 0
    for round_no in range(6):
        # Given an order holding 2
        reservation = reserve_one(sp, 2, f"RACE-{round_no}")
        for_release, for_pick = loaded(reservation), loaded(reservation)

        # When the expiry job releases it while a picker picks it
        released_outcome, picked_outcome = flat(
            race(
                [
                    lambda _, r=for_release: reservation_release(reservation=r),
                    lambda _, r=for_pick: reservation_pick(
                        reservation=r, quantity=2, unit_price=PRICE
                    ),
                ]
            )
        )

        # Then exactly one of them wins; the other is told it is no longer held
        reservation.refresh_from_db()
        kinds = set(reservation.movements.values_list("kind", flat=True))
        if isinstance(released_outcome, Reservation):
            assert isinstance(picked_outcome, ReservationNotHeld), repr(picked_outcome)
            assert reservation.state == ReservationState.RELEASED
            assert kinds == {MovementKind.RESERVE, MovementKind.RELEASE}
        else:
            assert isinstance(released_outcome, ReservationNotHeld), repr(
                released_outcome
            )
            assert isinstance(picked_outcome, Reservation), repr(picked_outcome)
            assert reservation.state == ReservationState.PICKED
            assert kinds == {MovementKind.RESERVE, MovementKind.PICK}
            picked += 1

        # and the counts agree with whoever won
        sp.refresh_from_db()
        assert (sp.on_hand, sp.reserved) == (D(20 - 2 * picked), D(0))

    assert_ledger_matches(sp)
    replay_ledger(sp)


def test_admin_edits_racing_reservations_lose_no_reserved_unit(make_store_product):
    # Given 100 on the shelf and a manager signed in to the admin
    sp = receive(make_store_product, on_hand=100)
    manager = User.objects.create_superuser(email="root@hema.test", password="x-9-l")
    client = Client()
    client.force_login(manager)
    url = f"/admin/inventory/storeproduct/{sp.pk}/change/"
    rounds = 20

    def edit(round_no: int) -> int:
        form = {
            "is_active": "on",
            "list_price": f"{13 + round_no % 2}.00",
            "unit_cost": "8.00",
            "online_buffer": "0",
            "lots-TOTAL_FORMS": "0",
            "lots-INITIAL_FORMS": "0",
        }
        return client.post(url, form).status_code

    def order(quantity: int, prefix: str) -> Callable[[int], object]:
        def call(round_no: int) -> Reservation:
            # Each round lands at another moment of the admin's request.
            time.sleep(round_no * 0.0015)
            return reserve_one(sp, quantity, f"{prefix}-{round_no}")

        return call

    # When the manager saves the list price while orders reserve, 20 times over
    outcomes = race([edit, order(1, "A"), order(2, "B")], rounds=rounds)

    # Then every save went through and every reserved unit is still reserved
    assert outcomes[0] == [302] * rounds
    assert all(isinstance(o, Reservation) for o in outcomes[1] + outcomes[2])
    sp.refresh_from_db()
    assert (sp.on_hand, sp.reserved) == (D(100), D(3 * rounds))
    assert sp.list_price == D("14.00")  # the last round's price
    assert_ledger_matches(sp)
    replay_ledger(sp)


def test_two_creations_of_one_store_product_at_once_make_one_and_refuse_one(store):
    """A double-clicked "Save" on the admin's add form: both pass the existence
    check before either inserts; the loser is refused as the store already
    selling the product, not an IntegrityError."""
    product = ProductFactory(sku="TWICE1")

    outcomes = flat(
        race(
            [
                lambda _: store_product_create(
                    store=store, product=product, list_price="5.50", unit_cost="3.00"
                )
            ]
            * 2,
            rounds=1,
        )
    )

    made = [o for o in outcomes if isinstance(o, StoreProduct)]
    refused = [o for o in outcomes if isinstance(o, InvalidInput)]
    assert (len(made), len(refused)) == (1, 1), outcomes
    assert refused[0].extra == {"field": "product", "sku": "TWICE1"}
    assert StoreProduct.objects.filter(product=product).count() == 1


def test_a_double_clicked_add_form_ends_at_one_store_product(store):
    """Both posts of the admin's add form end well (the second lands on the row
    the first made, or is told the store sells it already): never an error."""
    manager = User.objects.create_superuser(email="root@hema.test", password="x-9-l")
    rounds = 10
    products = [ProductFactory(sku=f"DBL{n:03}") for n in range(rounds)]

    def add(round_no: int) -> int:
        client = Client()
        client.force_login(manager)
        form = {
            "store": str(store.pk),
            "product": str(products[round_no].pk),
            "is_active": "on",
            "list_price": "5.50",
            "unit_cost": "3.00",
            "online_buffer": "0",
            "lots-TOTAL_FORMS": "0",
            "lots-INITIAL_FORMS": "0",
        }
        return client.post("/admin/inventory/storeproduct/add/", form).status_code

    outcomes = flat(race([add, add], rounds=rounds))

    assert all(o in (200, 302) for o in outcomes), outcomes
    assert outcomes.count(302) >= rounds
    for product in products:
        sp = StoreProduct.objects.get(store=store, product=product)
        assert (sp.on_hand, sp.reserved, sp.shelf_price) == (0, 0, D("5.50"))


@pytest.mark.parametrize(
    ("slug", "form", "on_hand"),
    [
        ("receive", {"quantity": "5"}, D(105)),
        ("write-off", {"quantity": "3", "reason": "bruised"}, D(97)),
    ],
)
def test_a_double_clicked_stock_form_changes_the_stock_once(
    make_store_product, slug, form, on_hand
):
    """Both posts of one stock form (one page, one token) land at once: the
    second waits for the first's row lock, then finds its movement."""
    sp = receive(make_store_product, on_hand=100)
    manager = User.objects.create_superuser(email="root@hema.test", password="x-9-l")
    rounds = 5
    tokens = [uuid.uuid4().hex for _ in range(rounds)]

    def post(round_no: int) -> int:
        client = Client()
        client.force_login(manager)
        url = f"/admin/inventory/storeproduct/{sp.pk}/{slug}/"
        return client.post(url, {**form, "token": tokens[round_no]}).status_code

    outcomes = flat(race([post, post], rounds=rounds))

    assert outcomes == [302] * (2 * rounds)
    sp.refresh_from_db()
    assert sp.on_hand == D(100) + (on_hand - D(100)) * rounds
    assert_ledger_matches(sp)
