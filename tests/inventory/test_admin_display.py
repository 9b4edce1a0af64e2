"""What a store manager reads on the inventory screens: pieces without ``.000``,
kilograms with their unit, prices with currency and unit, the zones of the
chosen store only, and the links to the product's price preview and chart."""

import re
import uuid
from decimal import Decimal

import pytest

from inventory.models import SaleUnit, Store, Zone
from inventory.services import (
    ReservationLine,
    stock_receive,
    stock_reserve,
    stock_sell_in_store,
)
from tests.factories import (
    ProductFactory,
    StoreFactory,
    StoreProductFactory,
    StoreStaffFactory,
    UserFactory,
    ZoneFactory,
)

pytestmark = pytest.mark.django_db

D = Decimal
ADMIN = "/admin/inventory"


@pytest.fixture
def shop(store):
    """SH01 with pears by the piece and salmon by the kilogram, in stock, one
    pear held online and one sold in store; SH02 with zones of its own."""
    produce = ZoneFactory(store=store, code="PROD", name="Produce")
    ZoneFactory(store=store, code="FISH", name="Seafood")
    pudong = StoreFactory(code="SH02", name="Hema Test Pudong")
    ZoneFactory(store=pudong, code="DELI", name="Deli")
    pears = StoreProductFactory(
        store=store,
        product=ProductFactory(sku="PEAR01", name="Pears"),
        zone=produce,
        list_price=D("6.50"),
        unit_cost=D("3.00"),
    )
    salmon = StoreProductFactory(
        store=store,
        product=ProductFactory(
            sku="SALM01", name="Salmon", sale_unit=SaleUnit.KILOGRAM, shelf_life_days=3
        ),
        zone=produce,
        list_price=D("128.00"),
        unit_cost=D("80.00"),
    )
    stock_receive(store_product=pears, quantity=12)
    stock_receive(store_product=salmon, quantity=D("2.5"))
    stock_reserve(lines=[ReservationLine(pears, 3)], reference="ORDER-7")
    stock_sell_in_store(store_product=pears, quantity=1, unit_price=D("6.50"))
    pears.refresh_from_db()
    salmon.refresh_from_db()
    return {"pears": pears, "salmon": salmon, "pudong": pudong}


@pytest.fixture
def manager_client(client, store):
    user = UserFactory(email="manager@hema.test", is_staff=True)
    StoreStaffFactory(user=user, store=store, role="manager")
    client.force_login(user)
    return client


def _text(cell: str) -> str:
    return re.sub(r"<[^>]+>", "", cell).strip()


def row_of(html: str, row_text: str) -> dict[str, str]:
    """The result row containing ``row_text``, as {column header: cell text}."""
    table = re.search(r'<table id="result_list">(.*?)</table>', html, flags=re.S)
    assert table, "no result list"
    head, body = table.group(1).split("</thead>")
    headers = [_text(h) for h in re.findall(r"<th[^>]*>(.*?)</th>", head, flags=re.S)]
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, flags=re.S):
        if row_text in row:
            found = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, flags=re.S)
            return dict(zip(headers, map(_text, found), strict=True))
    raise AssertionError(f"no row with {row_text!r}")


def columns(row: dict[str, str], *names: str) -> list[str]:
    return [row[name] for name in names]


def test_store_products_list_reads_pieces_kilograms_and_prices(manager_client, shop):
    response = manager_client.get(f"{ADMIN}/storeproduct/")

    html = response.content.decode()
    counts = ("Shelf price", "On hand", "Reserved", "Online available")
    pears = row_of(html, "PEAR01")
    assert columns(pears, *counts) == ["CNY 6.50 / piece", "11", "3", "8"]
    salmon = row_of(html, "SALM01")
    assert columns(salmon, *counts) == [
        "CNY 128.00 / kg",
        "2.500 kg",
        "0.000 kg",
        "2.500 kg",
    ]
    assert ".000<" not in html.replace("0.000 kg", "")


def test_store_product_page_reads_prices_and_counts(manager_client, shop):
    pears = shop["pears"]

    html = manager_client.get(f"{ADMIN}/storeproduct/{pears.pk}/change/").content
    html = html.decode()

    assert "CNY 6.50 / piece" in html  # shelf price
    assert re.search(r"On hand:</label>\s*<div class=\"readonly\">11</div>", html)
    assert re.search(r"Reserved:</label>\s*<div class=\"readonly\">3</div>", html)
    assert "List price (CNY / piece)" in html
    assert "Unit cost (CNY / piece)" in html
    assert "Online buffer (pieces)" in html
    salmon = shop["salmon"]
    html = manager_client.get(f"{ADMIN}/storeproduct/{salmon.pk}/change/").content
    html = html.decode()
    assert "List price (CNY / kg)" in html
    assert re.search(r"On hand:</label>\s*<div class=\"readonly\">2.500 kg</div>", html)
    # the lot on the shelf
    assert re.search(r"<td class=\"field-left\">\s*<p>2.500 kg</p>", html)


def test_stock_screens_and_their_messages_read_whole_pieces(manager_client, shop):
    pears = shop["pears"]
    url = f"{ADMIN}/storeproduct/{pears.pk}/receive/"

    page = manager_client.get(url).content.decode()
    assert 'id="stock-on-hand">11<' in page
    assert 'id="stock-reserved">3<' in page
    assert 'id="stock-available-online">8<' in page

    done = manager_client.post(
        url, {"quantity": "5", "token": uuid.uuid4().hex}, follow=True
    )
    assert (
        "Receive goods for SH01/PEAR01: on hand +5 (now 16, reserved 3)."
        in done.content.decode()
    )

    salmon = shop["salmon"]
    done = manager_client.post(
        f"{ADMIN}/storeproduct/{salmon.pk}/write-off/",
        {"quantity": "0.25", "reason": "torn pack", "token": uuid.uuid4().hex},
        follow=True,
    )
    assert (
        "Write off for SH01/SALM01: on hand -0.250 kg (now 2.250 kg, "
        "reserved 0.000 kg)." in done.content.decode()
    )


def test_lots_reservations_and_ledger_read_quantities_and_prices(manager_client, shop):
    lots = manager_client.get(f"{ADMIN}/stocklot/").content.decode()
    assert columns(
        row_of(lots, "SH01/SALM01"), "Quantity received", "Quantity left"
    ) == ["2.500 kg", "2.500 kg"]

    held = manager_client.get(f"{ADMIN}/reservation/").content.decode()
    assert columns(row_of(held, "ORDER-7"), "Quantity", "Quantity picked") == [
        "3",
        "0",
    ]

    ledger = manager_client.get(
        f"{ADMIN}/stockmovement/?kind__exact=sale_in_store"
    ).content.decode()
    sale = row_of(ledger, "SH01/PEAR01")
    assert columns(sale, "On hand", "Reserved", "Unit price") == [
        "-1",
        "0",
        "CNY 6.50 / piece",
    ]
    receipts = manager_client.get(
        f"{ADMIN}/stockmovement/?kind__exact=receive"
    ).content.decode()
    assert row_of(receipts, "SH01/SALM01")["On hand"] == "+2.500 kg"


def test_zone_filter_offers_only_the_chosen_stores_zones(client, shop, store):
    root = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(root)

    every = client.get(f"{ADMIN}/storeproduct/")
    pudong = client.get(f"{ADMIN}/storeproduct/?store={shop['pudong'].pk}")
    jingan = client.get(f"{ADMIN}/storeproduct/?store={store.pk}")

    def zones(response) -> set[str]:
        (spec,) = [f for f in response.context["cl"].filter_specs if f.title == "zone"]
        return {label for _, label in spec.lookup_choices}

    assert zones(every) == {str(z) for z in Zone.objects.all()}
    assert zones(pudong) == {"SH02/DELI Deli"}
    assert zones(jingan) == {"SH01/PROD Produce", "SH01/FISH Seafood"}


def test_a_store_products_zone_choices_are_its_stores(client, shop, store):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    pears = shop["pears"]

    response = client.get(f"{ADMIN}/storeproduct/{pears.pk}/change/")

    choices = response.context["adminform"].form.fields["zone"].queryset
    assert {str(zone) for zone in choices} == {
        "SH01/PROD Produce",
        "SH01/FISH Seafood",
    }


def test_a_manager_of_one_store_is_offered_only_its_zones(manager_client, shop):
    response = manager_client.get(f"{ADMIN}/storeproduct/")

    (spec,) = [f for f in response.context["cl"].filter_specs if f.title == "zone"]
    assert {label for _, label in spec.lookup_choices} == {
        "SH01/PROD Produce",
        "SH01/FISH Seafood",
    }
    assert Store.objects.count() == 2


def test_store_product_links_its_price_preview_and_chart(manager_client, shop):
    pears = shop["pears"]
    preview = f"/admin/pricing/pricerule/preview/?store_product={pears.pk}"
    chart = f"/admin/pricing/pricechange/product/{pears.pk}/"

    page = manager_client.get(f"{ADMIN}/storeproduct/{pears.pk}/change/")
    listed = manager_client.get(f"{ADMIN}/storeproduct/?q=PEAR01")

    for html in (page.content.decode(), listed.content.decode()):
        assert f'<a href="{preview}">Price preview</a>' in html
        assert f'<a href="{chart}">Price chart</a>' in html
    # the row opens from its SKU as well as from its store code
    assert re.search(
        rf'<a href="{ADMIN}/storeproduct/{pears.pk}/change/[^"]*">PEAR01</a>',
        listed.content.decode(),
    )
    # and both pages answer the manager of that store
    assert manager_client.get(preview).status_code == 200
    assert manager_client.get(chart).status_code == 200
