"""A one-store manager runs the store in a real browser (Debian's Chromium).

The data is the demo store (``seed_demo``, ``seed_demo_prices``) plus a manager
of SH01 only and an app order placed through the API, so every screen the
README names has something real on it.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from accounts.models import User
from inventory import demo_catalogue as demo
from inventory.models import StaffRole, Store, StoreProduct, StoreStaff
from orders.models import Order, Refund
from tests.conftest import requires_postgres
from tests.orders.conftest import make_shopper  # noqa: F401 (a fixture)

pytestmark = [
    pytest.mark.slow,
    requires_postgres,
    pytest.mark.django_db(transaction=True),
]

PASSWORD = "sh01-manager-pass-2026"
EMAIL = "sh01.manager@hema.demo"
PHONE = "+8613900000001"
PHONE_AS_TYPED = "13900000001"  # no country code: the store's country is assumed


@pytest.fixture
def demo_store(make_shopper):  # noqa: F811
    call_command("seed_demo", verbosity=0)
    call_command("seed_demo_prices", verbosity=0)
    sh01 = Store.objects.get(code="SH01")
    user = User.objects.create_user(
        email=EMAIL, phone=PHONE, password=PASSWORD, is_staff=True
    )
    user.groups.add(Group.objects.get(name=demo.MANAGER_GROUP))
    StoreStaff.objects.create(user=user, store=sh01, role=StaffRole.MANAGER)

    shopper = make_shopper(balance="500.00")
    lines = list(
        StoreProduct.objects.filter(
            store=sh01, on_hand__gte=5, product__sale_unit="piece"
        )
        .select_related("product")
        .order_by("product__sku")[:2]
    )
    order = shopper.order(sh01, [(sp, "2") for sp in lines])
    return {"store": sh01, "order": order, "lines": lines}


def sign_in(page, login: str, password: str = PASSWORD) -> None:
    page.goto("/admin/login/")
    page.fill("#id_username", login)
    page.fill("#id_password", password)
    page.click("input[type=submit]")


def test_manager_signs_in_by_email_and_by_phone(page, shot, demo_store):
    sign_in(page, EMAIL, "wrong-password")
    shot(page, "wrong password")
    assert page.locator(".errornote").is_visible()
    assert "e-mail or phone" in page.locator(".errornote").inner_text()

    sign_in(page, EMAIL)
    page.wait_for_url(re.compile(r"/admin/$"))
    shot(page, "signed in by e-mail")
    page.click("#logout-form button")
    page.wait_for_url(re.compile(r"/admin/logout/"))

    sign_in(page, PHONE_AS_TYPED)
    page.wait_for_url(re.compile(r"/admin/$"))
    shot(page, "signed in by phone without +86")
    assert page.get_by_role("link", name="Store products").first.is_visible()


def test_manager_opens_every_screen_and_refunds_a_line(page, shot, demo_store):
    store = demo_store["store"]
    sign_in(page, EMAIL)
    page.wait_for_url(re.compile(r"/admin/$"))
    shot(page, "index")

    # Store products, and one of them.
    page.get_by_role("link", name="Store products").first.click()
    page.wait_for_url(re.compile(r"/admin/inventory/storeproduct/"))
    assert "SH02" not in page.locator("#result_list").inner_text()
    shot(page, "store products")

    sp = StoreProduct.objects.select_related("product").get(
        store=store, product__sku="FRU-0001"
    )
    on_hand = sp.on_hand
    page.goto(f"/admin/inventory/storeproduct/{sp.pk}/change/")
    shot(page, "store product")

    # Receive goods, count correction, write-off: each changes the count.
    page.goto(f"/admin/inventory/storeproduct/{sp.pk}/receive/")
    page.fill("#id_quantity", "10")
    if page.locator("#id_best_before").count():
        page.fill("#id_best_before", "2030-01-31")
    shot(page, "receive goods form")
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(rf"/admin/inventory/storeproduct/{sp.pk}/change/"))
    shot(page, "received")
    sp.refresh_from_db()
    assert sp.on_hand == on_hand + 10

    page.goto(f"/admin/inventory/storeproduct/{sp.pk}/correct/")
    page.fill("#id_counted", str(sp.on_hand - 1))
    page.fill("#id_reason", "counted one less on the shelf")
    shot(page, "count correction form")
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(rf"/admin/inventory/storeproduct/{sp.pk}/change/"))
    sp.refresh_from_db()
    assert sp.on_hand == on_hand + 9

    page.goto(f"/admin/inventory/storeproduct/{sp.pk}/write-off/")
    page.fill("#id_quantity", "2")
    page.fill("#id_reason", "bruised")
    shot(page, "write-off form")
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(rf"/admin/inventory/storeproduct/{sp.pk}/change/"))
    shot(page, "written off")
    sp.refresh_from_db()
    assert sp.on_hand == on_hand + 7

    # Prices: rules, the preview and the chart.
    page.goto("/admin/pricing/pricerule/")
    assert page.locator("#result_list tbody tr").count() > 0
    shot(page, "price rules")
    page.locator("#result_list tbody tr a").first.click()
    shot(page, "price rule")

    # The preview, typed by hand in lower case, and both linked from the store product.
    page.goto("/admin/pricing/pricerule/preview/")
    page.get_by_label("Store code").fill("sh01")
    page.get_by_label("SKU").fill(sp.product.sku.lower())
    page.get_by_role("button", name="Preview").click()
    assert page.locator("svg path").count() > 0  # the chart is drawn
    shot(page, "price preview typed in lower case")

    page.goto(f"/admin/inventory/storeproduct/{sp.pk}/change/")
    page.locator(".object-tools").get_by_role("link", name="Price preview").click()
    page.wait_for_url(re.compile(r"/admin/pricing/pricerule/preview/"))
    assert page.locator("svg path").count() > 0  # the chart is drawn
    shot(page, "price preview")
    page.get_by_role("link", name="Price chart").first.click()
    page.wait_for_url(re.compile(rf"/admin/pricing/pricechange/product/{sp.pk}/"))
    assert page.locator("svg path").count() > 0  # the chart is drawn
    shot(page, "price chart")

    # The label sheet: select two store products and print.
    page.goto("/admin/inventory/storeproduct/?q=FRU-000")
    page.locator("#result_list tbody input.action-select").nth(0).check()
    page.locator("#result_list tbody input.action-select").nth(1).check()
    page.select_option("select[name=action]", "print_shelf_labels")
    with page.expect_download() as download:
        page.click("button[name=index]")
    pdf = download.value.path().read_bytes()
    assert pdf.startswith(b"%PDF")
    shot(page, "label sheet printed")

    # Orders with their lines; refund a line.
    order: Order = demo_store["order"]
    page.goto("/admin/orders/order/")
    assert order.number in page.locator("#result_list").inner_text()
    shot(page, "orders")
    page.get_by_role("link", name=order.number).click()
    # The whole page (wait_for_url waits for its load event), not what has
    # arrived of it: the click returns once the navigation starts, and a long
    # change page renders while it streams in.
    page.wait_for_url(re.compile(rf"/admin/orders/order/{order.pk}/change/"))
    body = page.locator("#content").inner_text()
    for sp_line in demo_store["lines"]:
        assert sp_line.product.sku in body or sp_line.product.name in body
    shot(page, "order with its lines")

    line = order.lines.order_by("pk").first()
    page.locator(".object-tools").get_by_role("link", name="Refund", exact=True).click()
    if page.locator("#id_line").count():
        page.select_option("#id_line", str(line.pk))
    if page.locator("#id_amount").count():
        page.fill("#id_amount", str(line.line_total))
    page.fill("#id_reason", "bruised on arrival")
    shot(page, "refund form")
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(rf"/admin/orders/order/{order.pk}/change/"))
    shot(page, "refunded")
    refund = Refund.objects.get(order=order)
    assert refund.amount == Decimal(line.line_total)

    # The other store is refused, in the admin's own style, with a way back.
    other = StoreProduct.objects.get(store__code="SH02", product__sku="FRU-0001")
    response = page.goto(f"/admin/inventory/storeproduct/{other.pk}/change/")
    assert response.status == 403
    shot(page, "other store refused")
    assert page.get_by_role(
        "link", name=re.compile("home|back", re.I)
    ).first.is_visible()
