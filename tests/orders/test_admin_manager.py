"""An order's page as the demo manager (seed_demo's group and role): lines,
payments, refunds and the timeline of their own store's orders, a member link
that leads somewhere, no Save buttons, and a refund of one line."""

from decimal import Decimal

import pytest
from django.utils.html import escape

from inventory.services import stock_receive
from orders import refunds
from orders.admin import event_summary
from orders.models import Order, OrderEvent, Refund
from tests.demo_manager import demo_manager, signed_in
from tests.factories import StoreFactory, UserFactory
from tests.orders.test_admin import form_token

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def shopper(make_shopper):
    return make_shopper(balance="500.00")


@pytest.fixture
def order(store, stocked, shopper) -> Order:
    apples, salmon = stocked
    return shopper.order(store, [(apples, "2"), (salmon, "1.25")])


@pytest.fixture
def manager_client(store):
    return signed_in(demo_manager(store))


def page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.content.decode()


def test_the_manager_sees_lines_payments_refunds_and_timeline(
    manager_client, order, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        refunds.order_refund(order=order, amount=D("12.80"), reason="bruised")

    html = page(manager_client, f"/admin/orders/order/{order.pk}/change/")

    # Lines, with pieces whole, weights in kg and money with its currency.
    assert "CNY 12.80 / piece" in html
    assert "1.250 kg" in html
    assert "CNY 168.00 / kg" in html
    assert "CNY 210.00" in html  # 1.25 kg of salmon
    assert "CNY 235.60" in html  # the order's total
    assert "2.000" not in html
    # The payment and the refund.
    assert "Payments" in html
    assert "bruised" in html
    assert "CNY 12.80" in html
    # The timeline says what happened.
    assert "created \u2192 paid" in html
    assert escape("Refund 12.80: bruised (order stays paid)") in html
    assert "paid \u2192 paid" not in html
    assert "paid -&gt; paid" not in html  # nor in the rows' own labels
    # Read-only: no Save buttons, but the actions.
    assert 'name="_save"' not in html
    assert 'name="_continue"' not in html
    assert "Refund</a>" in html


def test_another_stores_order_is_refused_with_its_parts(store, stocked, make_shopper):
    other = StoreFactory(code="BJ01", name="Beijing")
    client = signed_in(demo_manager(other))
    apples, _ = stocked
    order = make_shopper().order(store, [(apples, "1")])

    assert client.get(f"/admin/orders/order/{order.pk}/change/").status_code == 403
    assert order.number not in page(client, "/admin/orders/order/")


def test_the_member_link_opens_the_members_page_at_the_managers_stores(
    manager_client, order, make_store_product, make_shopper
):
    html = page(manager_client, f"/admin/orders/order/{order.pk}/change/")
    member_url = f"/admin/orders/member/{order.member_id}/change/"
    assert f'href="{member_url}"' in html

    member_page = page(manager_client, member_url)
    assert order.number in member_page
    assert 'name="_save"' not in member_page

    # A member who never ordered at the manager's stores is not theirs.
    elsewhere = StoreFactory(code="BJ01", name="Beijing")
    apples_bj = make_store_product(store=elsewhere, list_price=D("12.80"))
    stock_receive(store_product=apples_bj, quantity=5)
    stranger = make_shopper().order(elsewhere, [(apples_bj, "1")])
    stranger_url = f"/admin/orders/member/{stranger.member_id}/change/"
    assert manager_client.get(stranger_url).status_code == 403
    listing = page(manager_client, "/admin/orders/member/")
    assert str(order.member) in listing
    assert str(stranger.member) not in listing


def test_the_manager_refunds_one_line_through_the_refund_form(
    manager_client, order, shopper, django_capture_on_commit_callbacks
):
    salmon_line = order.lines.get(sale_unit="kg")
    url = f"/admin/orders/order/{order.pk}/refund/"
    form_page = page(manager_client, url)
    assert "CNY 210.00" in form_page  # the line offered with its total
    balance = shopper.balance

    with django_capture_on_commit_callbacks(execute=True):
        response = manager_client.post(
            url,
            {
                "line": salmon_line.pk,
                "amount": "",
                "reason": "smelled off",
                "token": form_token(manager_client, url),
            },
            follow=True,
        )

    assert response.status_code == 200
    assert "Refund of CNY 210.00 on" in response.content.decode()
    refund = Refund.objects.get(order=order)
    assert (refund.amount, refund.line, refund.state) == (
        D("210.00"),
        salmon_line,
        "succeeded",
    )
    assert shopper.balance == balance + D("210.00")


def test_a_refund_needs_an_amount_or_a_line(manager_client, order):
    url = f"/admin/orders/order/{order.pk}/refund/"
    response = manager_client.post(
        url,
        {
            "line": "",
            "amount": "",
            "reason": "why",
            "token": form_token(manager_client, url),
        },
    )
    assert response.status_code == 200
    assert "Give an amount, or choose a line." in response.content.decode()
    assert not Refund.objects.exists()


def test_a_timeline_reads_the_real_transition_of_a_carried_out_purchase(
    order,
):
    OrderEvent.objects.create(
        order=order, from_state="paid", to_state="completed", note="carried out"
    )
    OrderEvent.objects.create(
        order=order, from_state="completed", to_state="completed", note=""
    )
    summaries = [event_summary(e) for e in order.events.order_by("pk")]
    assert summaries[-2:] == [
        "paid \u2192 completed: carried out",
        "Note (order stays completed)",
    ]


def test_refunds_and_wallets_read_with_their_currency(
    manager_client, order, shopper, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        refunds.order_refund(order=order, amount=D("12.8"), reason="bruised")

    refund_list = page(manager_client, "/admin/orders/refund/")
    assert "CNY 12.80" in refund_list
    boss = signed_in(UserFactory(is_staff=True, is_superuser=True))
    wallet = page(boss, f"/admin/orders/wallet/{shopper.member.wallet.pk}/change/")
    # 500.00 topped up, 235.60 paid, 12.80 refunded.
    assert "CNY 277.20" in wallet
    assert "CNY -235.60" in wallet
