"""Checkout under real concurrency, through the API.

Every race runs each request in its own thread with its own database connection,
and the threads start together at a barrier so that the transactions overlap.
Whatever the interleaving: the stock is never oversold nor negative, a refused
checkout leaves nothing behind (no order, no payment, no debit, the cart still
open), one idempotency key or one cart makes one order, a wallet is never
overdrawn, and every wallet's ledger sums to its balance as the stock ledger sums
to the counts. No request ever fails: in particular a till sale that shorts app
orders (locking the stock row, then those orders) deadlocks neither with app
checkouts nor with cancellations.

The stock ledger of one product is also the order in which PostgreSQL serialised
its changes: each change writes its ledger row while it holds the product row's
lock. Replaying it checks the counts at every step, not only at the end.
"""

import json
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from inventory.models import MovementKind, Reservation, StockMovement, StoreProduct
from inventory.services import stock_receive
from orders.carts import cart_line_add, cart_open
from orders.checkout import checkout_app
from orders.members import member_sign_up
from orders.models import (
    Cart,
    CartState,
    IdempotencyKey,
    Member,
    Order,
    OrderLineState,
    Payment,
    PaymentPurpose,
    PaymentState,
    Refund,
    RefundState,
    Wallet,
    WalletEntryKind,
)
from orders.payments import ProviderGateway, top_up_start, webhook_handle
from orders.wallet import wallet_ledger_total
from tests.conftest import assert_ledger_matches, requires_postgres
from tests.factories import StoreFactory, StoreProductFactory

pytestmark = [
    requires_postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

D = Decimal
PRICE = D("12.80")
WAIT_SECONDS = 60
APP_PICKUP = {"fulfilment_mode": "pickup", "payment_method": "wallet"}
CARRY_OUT = {"fulfilment_mode": "carry_out", "payment_method": "wallet"}


# --- Given: members, wallets, carts --------------------------------------------


@dataclass(frozen=True)
class Shopper:
    member: Member
    token: str
    topped_up: Decimal


def shopper(amount: str) -> Shopper:
    """A signed-up member whose wallet was topped up through the signed webhook."""
    member, token = member_sign_up(
        password="fresh-fish-2026", email=f"{uuid.uuid4().hex[:12]}@hema.test"
    )
    payment = top_up_start(member=member, amount=D(amount), method="sandbox")
    body = json.dumps(
        {
            "id": f"evt_{uuid.uuid4().hex}",
            "type": "payment.succeeded",
            "data": {"reference": payment.provider_reference},
        }
    ).encode()
    gateway = ProviderGateway("sandbox", settings.HEMA_PAYMENT_PROVIDERS["sandbox"])
    signature = gateway.sign(body, int(time.time()))
    assert webhook_handle(provider="sandbox", body=body, signature=signature) == (
        "processed"
    )
    return Shopper(member=member, token=token, topped_up=D(amount))


def stocked(store, *, on_hand: int, buffer: int = 0, price: Decimal = PRICE):
    sp = StoreProductFactory(store=store, list_price=price, online_buffer=D(buffer))
    stock_receive(store_product=sp, quantity=on_hand)
    return StoreProduct.objects.select_related("product", "store").get(pk=sp.pk)


def cart_with(who: Shopper, sp: StoreProduct, channel: str, quantity: int = 1) -> Cart:
    cart = cart_open(member=who.member, store=sp.store, channel=channel)
    if channel == "app":
        cart_line_add(
            cart=cart, sku=sp.product.sku, quantity=quantity, substitution="none"
        )
    else:
        cart_line_add(cart=cart, code=sp.product.sku, quantity=quantity)
    return cart


# --- When: requests racing -------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict
    replayed: bool

    @property
    def error(self) -> str | None:
        return self.body.get("error")


Call = Callable[[APIClient], Any]


def checkout(cart: Cart, key: str | None = None) -> Call:
    """The app checkout, paid from the wallet, picked up in store."""
    return lambda client: client.post(
        f"/api/v1/carts/{cart.uuid}/checkout/",
        APP_PICKUP,
        format="json",
        HTTP_IDEMPOTENCY_KEY=key or uuid.uuid4().hex,
    )


def pay_in_store(cart: Cart) -> Call:
    return lambda client: client.post(
        f"/api/v1/carts/{cart.uuid}/pay/",
        CARRY_OUT,
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )


def race(calls: Sequence[tuple[Shopper, Call]]) -> list[Answer]:
    """Send every request from its own thread, client and connection at once."""
    barrier = threading.Barrier(len(calls), timeout=WAIT_SECONDS)
    outcomes: list[Answer | BaseException | None] = [None] * len(calls)

    def run(index: int, who: Shopper, call: Call) -> None:
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Token {who.token}")
            connection.ensure_connection()
            barrier.wait()
            response = call(client)
            outcomes[index] = Answer(
                status=response.status_code,
                body=response.json(),
                replayed=response.headers.get("Idempotent-Replayed") == "true",
            )
        except Exception as exc:  # a view that raised, or a broken barrier
            outcomes[index] = exc
            barrier.abort()
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=(i, who, call), name=f"race-{i}")
        for i, (who, call) in enumerate(calls)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_SECONDS)
    assert not [t.name for t in threads if t.is_alive()], "threads hung"
    failed = [repr(o) for o in outcomes if not isinstance(o, Answer)]
    assert not failed, failed
    return outcomes  # type: ignore[return-value]


# --- Then: what must hold ----------------------------------------------------------


def assert_wallets_match_their_ledgers(shoppers: Sequence[Shopper]) -> None:
    for who in shoppers:
        wallet = Wallet.objects.get(member=who.member)
        assert wallet_ledger_total(wallet) == wallet.balance, who.member
        assert wallet.balance >= 0


def balance(who: Shopper) -> Decimal:
    return Wallet.objects.get(member=who.member).balance


def assert_left_nothing_behind(who: Shopper, cart: Cart) -> None:
    """A refused checkout: no order, no payment, no debit, the cart still open."""
    assert not Order.objects.filter(member=who.member).exists()
    assert not Payment.objects.filter(
        member=who.member, purpose=PaymentPurpose.ORDER
    ).exists()
    wallet = Wallet.objects.get(member=who.member)
    assert wallet.balance == who.topped_up
    assert list(wallet.entries.values_list("kind", "amount")) == [
        (WalletEntryKind.TOP_UP, who.topped_up)
    ]
    cart.refresh_from_db()
    assert cart.state == CartState.OPEN


def replay_stock_ledger(sp: StoreProduct) -> list[StockMovement]:
    """Replay one product's ledger in commit order: on hand never negative,
    reserved never above on hand, and no reservation ever took more than
    ``on_hand - reserved - online_buffer``."""
    rows = list(StockMovement.objects.filter(store_product=sp).order_by("pk"))
    on_hand = reserved = D(0)
    for row in rows:
        if row.kind == MovementKind.RESERVE:
            available = on_hand - reserved - sp.online_buffer
            assert available >= row.reserved_delta, f"row {row.pk} oversold"
        on_hand += row.on_hand_delta
        reserved += row.reserved_delta
        assert on_hand >= 0, f"row {row.pk}"
        assert D(0) <= reserved <= on_hand, f"row {row.pk}"
    return rows


# --- Tests -------------------------------------------------------------------------


def test_thirty_app_checkouts_for_ten_units_while_the_tills_sell_the_same_product(
    store,
):
    # Given 15 on the shelf with 5 kept for shoppers in the aisle: 10 for the app;
    # 30 members with an app cart of 1 each and 10 shoppers with 1 in hand
    sp = stocked(store, on_hand=15, buffer=5)
    online = [shopper("50.00") for _ in range(30)]
    tills = [shopper("50.00") for _ in range(10)]
    app_carts = [cart_with(who, sp, "app") for who in online]
    till_carts = [cart_with(who, sp, "in_store") for who in tills]

    # When the 30 check out in the app while the 10 pay at the same moment
    answers = race(
        [(who, checkout(cart)) for who, cart in zip(online, app_carts, strict=True)]
        + [
            (who, pay_in_store(cart))
            for who, cart in zip(tills, till_carts, strict=True)
        ]
    )
    app_answers, till_answers = answers[:30], answers[30:]

    # Then every till payment went through: goods in hand are never refused
    assert [(a.status, a.body["order"]["state"]) for a in till_answers] == [
        (201, "completed")
    ] * 10
    for who in tills:
        assert balance(who) == who.topped_up - PRICE

    # and each app checkout was either paid or refused for stock. Not exactly 10
    # are paid: every till sale that commits before the app runs out lowers what
    # the app may take (on hand - reserved - buffer), so 10 minus those sales.
    paid = [who for who, a in zip(online, app_answers, strict=True) if a.status == 201]
    refused = [
        (who, cart)
        for who, cart, a in zip(online, app_carts, app_answers, strict=True)
        if a.status != 201
    ]
    assert {(a.status, a.error) for a in app_answers if a.status != 201} <= {
        (409, "insufficient_stock")
    }
    assert {a.body["order"]["state"] for a in app_answers if a.status == 201} <= {
        "paid"
    }
    won = len(paid)
    assert won <= 10
    assert len(refused) == 30 - won

    # and a refused checkout left nothing behind
    for who, cart in refused:
        assert_left_nothing_behind(who, cart)

    # and the units add up: 15 - 10 sold at the tills leaves 5 on the shelf. A
    # till sale that finds every unit left reserved flags the newest held
    # reservation short (its order is refunded in full), so whatever the
    # interleaving exactly max(0, won - 5) paid orders went short and the others
    # still hold their unit
    sp.refresh_from_db()
    short = [
        who
        for who in paid
        if Order.objects.get(member=who.member).lines.get().state
        == OrderLineState.SHORT
    ]
    assert len(short) == max(0, won - 5)
    assert (sp.on_hand, sp.reserved) == (D(5), D(won - len(short)))
    assert Reservation.objects.filter(store_product=sp, state="held").count() == (
        won - len(short)
    )
    assert not StockMovement.objects.filter(
        store_product=sp, kind=MovementKind.CORRECTION
    ).exists()
    for who in paid:
        order = Order.objects.get(member=who.member)
        # An order whose only line went short has nothing left to deliver: it
        # is closed as cancelled (refunded in full), not left waiting as paid.
        expected_state = "cancelled" if who in short else "paid"
        assert (order.state, order.total) == (expected_state, PRICE)
        if who in short:
            refund = Refund.objects.get(order=order)
            assert (refund.amount, refund.state) == (PRICE, RefundState.SUCCEEDED)
            assert (order.refund_status, order.refunded_total) == ("refunded", PRICE)
            assert balance(who) == who.topped_up
        else:
            assert not order.refunds.exists()
            assert order.lines.get().reservation.state == "held"
            assert balance(who) == who.topped_up - PRICE
        assert order.payments.get().state == PaymentState.SUCCEEDED

    # and the ledgers agree: wallets with their balances, stock with its counts,
    # and at every step on hand never negative nor below what was reserved
    assert_wallets_match_their_ledgers(online + tills)
    assert_ledger_matches(sp)
    rows = replay_stock_ledger(sp)
    kinds = [row.kind for row in rows]
    assert kinds.count(MovementKind.RESERVE) == won
    assert kinds.count(MovementKind.SALE_IN_STORE) == 10
    assert kinds.count(MovementKind.SHORT) == len(short)
    assert Order.objects.count() == won + 10


def test_one_idempotency_key_sent_twice_at_once_makes_one_order(store):
    sp = stocked(store, on_hand=100)
    who = shopper("200.00")
    rounds = 8
    for round_no in range(rounds):
        # Given an app cart and one key for its checkout
        cart = cart_with(who, sp, "app")
        key = f"checkout-{round_no}-{uuid.uuid4().hex}"

        # When the app sends the same checkout twice at the same moment
        first, second = race([(who, checkout(cart, key)), (who, checkout(cart, key))])

        # Then one ran and made the order; the other was told the first is still
        # running, or got the first's answer replayed
        ran = [a for a in (first, second) if a.status == 201 and not a.replayed]
        assert len(ran) == 1, (first, second)
        other = second if ran[0] is first else first
        if other.status == 201:
            assert other.replayed
            assert other.body == ran[0].body
        else:
            assert (other.status, other.error) == (409, "idempotency_key_in_flight")
        orders = Order.objects.filter(member=who.member)
        assert orders.count() == round_no + 1
        order = orders.get(uuid=ran[0].body["order"]["id"])
        assert order.state == "paid"
        assert order.payments.count() == 1
        record = IdempotencyKey.objects.get(user=who.member.user, key=key)
        assert record.response_status == 201
        cart.refresh_from_db()
        assert cart.state == CartState.CHECKED_OUT

        # and a retry once both have answered replays the first answer exactly
        [retry] = race([(who, checkout(cart, key))])
        assert (retry.status, retry.replayed, retry.body) == (201, True, ran[0].body)
        assert orders.count() == round_no + 1

    # and the wallet and the stock were charged once per round
    assert balance(who) == who.topped_up - rounds * PRICE
    assert Payment.objects.filter(member=who.member, purpose="order").count() == rounds
    assert_wallets_match_their_ledgers([who])
    sp.refresh_from_db()
    assert (sp.on_hand, sp.reserved) == (D(100), D(rounds))
    assert_ledger_matches(sp)


def test_one_cart_checked_out_twice_at_once_with_two_keys_makes_one_order(store):
    sp = stocked(store, on_hand=100)
    who = shopper("200.00")
    rounds = 6
    for round_no in range(rounds):
        # Given an app cart of 2
        cart = cart_with(who, sp, "app", quantity=2)

        # When two checkouts of it, with different keys, arrive at the same moment
        answers = race([(who, checkout(cart)), (who, checkout(cart))])

        # Then one is paid and the other is answered with that order (one order
        # per cart: the second found the cart checked out as the same request)
        assert sorted((a.status, a.error) for a in answers) == [
            (200, None),
            (201, None),
        ], answers
        assert answers[0].body["order"]["id"] == answers[1].body["order"]["id"]
        assert Order.objects.filter(member=who.member).count() == round_no + 1
        cart.refresh_from_db()
        assert cart.state == CartState.CHECKED_OUT

    # and each cart was charged and reserved once
    assert balance(who) == who.topped_up - rounds * 2 * PRICE
    assert Payment.objects.filter(member=who.member, purpose="order").count() == rounds
    assert_wallets_match_their_ledgers([who])
    sp.refresh_from_db()
    assert (sp.on_hand, sp.reserved) == (D(100), D(2 * rounds))
    assert Reservation.objects.filter(store_product=sp).count() == rounds
    assert_ledger_matches(sp)
    replay_stock_ledger(sp)


def test_concurrent_wallet_payments_never_overdraw(store):
    # Given five stores, each with a product at 30.00
    stores = [store, *(StoreFactory(code=f"SH0{n}") for n in range(2, 6))]
    products = [stocked(s, on_hand=10, price=D("30.00")) for s in stores]
    members = []
    for _ in range(3):
        # and a member holding 100.00 with a cart of one at each store
        who = shopper("100.00")
        carts = [cart_with(who, sp, "app") for sp in products]
        members.append(who)

        # When the five carts are checked out at the same moment
        answers = race([(who, checkout(cart)) for cart in carts])

        # Then three are paid and two are refused for funds: 10.00 is left
        assert sorted((a.status, a.error) for a in answers) == [
            (201, None),
            (201, None),
            (201, None),
            (402, "insufficient_funds"),
            (402, "insufficient_funds"),
        ], answers
        assert balance(who) == D("10.00")
        wallet = Wallet.objects.get(member=who.member)
        assert sorted(wallet.entries.values_list("amount", flat=True)) == [
            D("-30.00"),
            D("-30.00"),
            D("-30.00"),
            D("100.00"),
        ]
        # and a refused checkout kept nothing: no order, no hold, the cart open
        assert Order.objects.filter(member=who.member, state="paid").count() == 3
        assert Order.objects.filter(member=who.member).count() == 3
        assert Payment.objects.filter(member=who.member, purpose="order").count() == 3
        for cart, answer in zip(carts, answers, strict=True):
            cart.refresh_from_db()
            expected = CartState.CHECKED_OUT if answer.status == 201 else CartState.OPEN
            assert cart.state == expected

    assert_wallets_match_their_ledgers(members)
    for sp in products:
        sp.refresh_from_db()
        held = Reservation.objects.filter(store_product=sp, state="held").count()
        assert (sp.on_hand, sp.reserved) == (D(10), D(held))
        assert_ledger_matches(sp)
    assert sum(sp.reserved for sp in products) == D(9)


def test_one_bad_checkout_sent_three_times_at_once_is_refused_never_an_error(store):
    # A bad request's key is forgotten as its answer leaves, possibly while a
    # retry is between its refused claim and reading the earlier record.
    sp = stocked(store, on_hand=10)
    who = shopper("50.00")
    cart = cart_with(who, sp, "app")
    for round_no in range(20):
        # Given one key for a checkout with an unknown fulfilment mode
        key = f"bad-{round_no}"

        def bad(client: APIClient, key: str = key) -> Any:
            return client.post(
                f"/api/v1/carts/{cart.uuid}/checkout/",
                {"fulfilment_mode": "teleport", "payment_method": "wallet"},
                format="json",
                HTTP_IDEMPOTENCY_KEY=key,
            )

        # When the app sends it three times at the same moment
        answers = race([(who, bad)] * 3)

        # Then each is refused as bad input or told the first is still running
        outcomes = [(a.status, a.error) for a in answers]
        assert set(outcomes) <= {
            (400, "invalid_input"),
            (409, "idempotency_key_in_flight"),
        }, outcomes
        assert (400, "invalid_input") in outcomes
        assert answers[outcomes.index((400, "invalid_input"))].body["extra"][
            "fields"
        ].keys() == {"fulfilment_mode"}

    # and nothing was ordered, charged or reserved
    assert_left_nothing_behind(who, cart)
    sp.refresh_from_db()
    assert (sp.on_hand, sp.reserved) == (D(10), D(0))


def test_till_sales_that_short_app_orders_never_deadlock_with_app_checkouts(store):
    # Given pears and apples alike (a pear may replace an apple), the pears' row
    # first in primary-key order; every apple held by a paid app order that
    # allows a substitute
    pears = stocked(store, on_hand=200)
    apples = stocked(store, on_hand=10)
    assert pears.pk < apples.pk
    online = [shopper("50.00") for _ in range(10)]
    app_carts = []
    for who in online:
        cart = cart_with(who, pears, "app")
        cart_line_add(cart=cart, sku=apples.product.sku, quantity=1)
        app_carts.append(cart)
    holders = [shopper("50.00") for _ in range(10)]
    for who in holders:
        cart = cart_open(member=who.member, store=store, channel="app")
        cart_line_add(cart=cart, sku=apples.product.sku, quantity=1)
        checkout_app(
            member=who.member,
            cart_uuid=cart.uuid,
            fulfilment_mode="pickup",
            payment_method="wallet",
        )
    tills = [shopper("50.00") for _ in range(10)]
    till_carts = [cart_with(who, apples, "in_store") for who in tills]

    # When 10 shoppers pay for the apples in their hands (each sale shorts an app
    # order, which then reserves a pear) while 10 app checkouts of a pear and an
    # apple lock the pears, then wait for the apples
    answers = race(
        [(who, pay_in_store(cart)) for who, cart in zip(tills, till_carts, strict=True)]
        + [(who, checkout(cart)) for who, cart in zip(online, app_carts, strict=True)]
    )

    # Then no request failed: every till sale went through and every app checkout
    # was refused for apples, leaving nothing behind
    assert [(a.status, a.body["order"]["state"]) for a in answers[:10]] == [
        (201, "completed")
    ] * 10
    assert [(a.status, a.error) for a in answers[10:]] == [
        (409, "insufficient_stock")
    ] * 10
    for who, cart in zip(online, app_carts, strict=True):
        assert_left_nothing_behind(who, cart)

    # and every held apple gave way: its line was replaced by a pear, or (the
    # pears' row busy at that moment) refunded in full
    substituted = 0
    for who in holders:
        order = Order.objects.get(member=who.member)
        original = order.lines.get(substitute_for__isnull=True)
        assert original.state in {OrderLineState.SUBSTITUTED, OrderLineState.SHORT}
        if original.state == OrderLineState.SUBSTITUTED:
            substituted += 1
            pear = order.lines.get(substitute_for=original)
            assert (pear.store_product_id, pear.line_total) == (pears.pk, PRICE)
            assert pear.reservation.state == "held"
            assert not order.refunds.exists()
            assert balance(who) == who.topped_up - PRICE
        else:
            refund = order.refunds.get()
            assert (refund.amount, refund.state) == (PRICE, RefundState.SUCCEEDED)
            assert balance(who) == who.topped_up
    apples.refresh_from_db()
    pears.refresh_from_db()
    assert (apples.on_hand, apples.reserved) == (D(0), D(0))
    assert (pears.on_hand, pears.reserved) == (D(200), D(substituted))
    assert_ledger_matches(apples)
    assert_ledger_matches(pears)
    replay_stock_ledger(apples)
    assert_wallets_match_their_ledgers(online + holders + tills)


def cancel(order: Order) -> Call:
    return lambda client: client.post(
        f"/api/v1/orders/{order.uuid}/cancel/",
        {"reason": "changed my mind"},
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )


def test_cancelling_app_orders_while_the_tills_short_them_never_deadlocks(store):
    for _ in range(3):
        # Given every apple held by a paid app order (a substitute allowed, none
        # in the store), and 10 apples in shoppers' hands
        apples = stocked(store, on_hand=10)
        holders = [shopper("50.00") for _ in range(10)]
        orders = []
        for who in holders:
            cart = cart_open(member=who.member, store=store, channel="app")
            cart_line_add(cart=cart, sku=apples.product.sku, quantity=1)
            paid = checkout_app(
                member=who.member,
                cart_uuid=cart.uuid,
                fulfilment_mode="pickup",
                payment_method="wallet",
            )
            orders.append(paid.order)
        tills = [shopper("50.00") for _ in range(10)]
        till_carts = [cart_with(who, apples, "in_store") for who in tills]

        # When the 10 pay at the tills (each sale shorts the newest order still
        # holding an apple) while the 10 app shoppers cancel, oldest last
        sales = [
            (who, pay_in_store(c)) for who, c in zip(tills, till_carts, strict=True)
        ]
        cancels = [(who, cancel(o)) for who, o in zip(holders, orders, strict=True)]
        answers = race(sales + cancels[::-1])

        # Then every till sale and every cancellation went through
        assert [(a.status, a.body["order"]["state"]) for a in answers[:10]] == [
            (201, "completed")
        ] * 10
        assert [(a.status, a.body["state"]) for a in answers[10:]] == [
            (200, "cancelled")
        ] * 10

        # and each app order was refunded in full exactly once, by whichever
        # came first: its cancellation or the sale that shorted it
        for who, order in zip(holders, orders, strict=True):
            order.refresh_from_db()
            assert (order.state, order.refund_status, order.refunded_total) == (
                "cancelled",
                "refunded",
                PRICE,
            )
            refund = order.refunds.get()
            assert (refund.amount, refund.state) == (PRICE, RefundState.SUCCEEDED)
            assert balance(who) == who.topped_up
        apples.refresh_from_db()
        assert (apples.on_hand, apples.reserved) == (D(0), D(0))
        kinds = [row.kind for row in replay_stock_ledger(apples)]
        assert kinds.count(MovementKind.SHORT) + kinds.count(MovementKind.RELEASE) == 10
        assert_ledger_matches(apples)
        assert_wallets_match_their_ledgers(holders + tills)
