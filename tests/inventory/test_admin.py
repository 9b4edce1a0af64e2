"""The managers' admin: pages, store scoping, stock screens and the label sheet."""

import datetime as dt
import re
import uuid
from decimal import Decimal

import pytest
from django.contrib.admin.models import LogEntry
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from inventory.admin import StoreProductAdmin
from inventory.models import (
    Category,
    MovementKind,
    Product,
    Reservation,
    SaleUnit,
    StockLot,
    StockMovement,
    Store,
    StoreProduct,
    StoreStaff,
    Supplier,
    Zone,
)
from inventory.services import (
    ReservationLine,
    stock_receive,
    stock_reserve,
    stock_sell_in_store,
)
from tests.conftest import assert_ledger_matches
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


def changelist(model: str) -> str:
    return f"{ADMIN}/{model}/"


def change(model: str, pk: int) -> str:
    return f"{ADMIN}/{model}/{pk}/change/"


def fresh(form: dict[str, str]) -> dict[str, str]:
    """A stock form as its page sends it: with the page's one-time token."""
    return {**form, "token": uuid.uuid4().hex}


def stock_url(sp: StoreProduct, slug: str) -> str:
    return f"{ADMIN}/storeproduct/{sp.pk}/{slug}/"


def ledger(sp: StoreProduct) -> list[tuple[str, Decimal]]:
    return list(
        StockMovement.objects.filter(store_product=sp)
        .order_by("pk")
        .values_list("kind", "on_hand_delta")
    )


def shown_skus(response) -> set[str]:
    return {sp.product.sku for sp in response.context["cl"].result_list}


@pytest.fixture
def other_store():
    return StoreFactory(code="SH02", name="Hema Test Pudong")


@pytest.fixture
def shop(store, other_store):
    """Two stores, each with a zone, two store products with stock and a lot."""
    supplier = Supplier.objects.create(name="Yunnan Orchards")
    products = {
        "APL": ProductFactory(sku="APL001", name="APL product", supplier=supplier),
        "SAL": ProductFactory(
            sku="SAL001",
            name="SAL product",
            sale_unit=SaleUnit.KILOGRAM,
            shelf_life_days=3,
            supplier=supplier,
        ),
    }
    rows = {}
    for st in (store, other_store):
        zone = ZoneFactory(store=st, code="PROD", name="Produce")
        for key, product in products.items():
            sp = StoreProductFactory(store=st, product=product, zone=zone)
            stock_receive(store_product=sp, quantity=10)
            sp.refresh_from_db()
            rows[(st.code, key)] = sp
        StoreStaffFactory(store=st, role="picker")
    stock_reserve(
        lines=[ReservationLine(store_product=rows[("SH01", "APL")], quantity=2)],
        reference="ORDER-1",
    )
    stock_reserve(
        lines=[ReservationLine(store_product=rows[("SH02", "APL")], quantity=1)],
        reference="ORDER-2",
    )
    for sp in rows.values():
        sp.refresh_from_db()
    return rows


@pytest.fixture
def superuser():
    return User.objects.create_superuser(email="root@hema.test", password="x-9-long")


@pytest.fixture
def super_client(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def manager(store):
    user = UserFactory(email="manager@hema.test", is_staff=True)
    StoreStaffFactory(user=user, store=store, role="manager")
    return user


@pytest.fixture
def manager_client(client, manager):
    client.force_login(manager)
    return client


# --- Every page answers for a superuser ---------------------------------------


MODELS = {
    "store": lambda shop: Store.objects.get(code="SH01"),
    "zone": lambda shop: Zone.objects.first(),
    "storestaff": lambda shop: StoreStaff.objects.first(),
    "supplier": lambda shop: Supplier.objects.first(),
    "category": lambda shop: Category.objects.first(),
    "product": lambda shop: Product.objects.first(),
    "storeproduct": lambda shop: shop[("SH01", "SAL")],
    "stocklot": lambda shop: StockLot.objects.first(),
    "reservation": lambda shop: Reservation.objects.first(),
    "stockmovement": lambda shop: StockMovement.objects.first(),
}
READ_ONLY = {"stocklot", "reservation", "stockmovement"}


@pytest.mark.parametrize("model", MODELS)
def test_superuser_pages(super_client, shop, model):
    obj = MODELS[model](shop)

    assert super_client.get(changelist(model)).status_code == 200
    assert super_client.get(change(model, obj.pk)).status_code == 200
    add = super_client.get(f"{ADMIN}/{model}/add/")
    assert add.status_code == (403 if model in READ_ONLY else 200)


def test_superuser_index_and_user_pages(super_client, shop, superuser):
    assert super_client.get("/admin/").status_code == 200
    assert super_client.get("/admin/inventory/").status_code == 200
    assert super_client.get("/admin/accounts/user/").status_code == 200
    assert (
        super_client.get(f"/admin/accounts/user/{superuser.pk}/change/").status_code
        == 200
    )


@pytest.mark.parametrize(
    "query",
    [
        "?q=APL001",
        "?is_active__exact=1",
        "?zone={zone}",
        "?store={store}",
        "?product__category__id__exact={category}",
        "?product__is_daily_fresh__exact=0",
    ],
)
def test_store_product_filters_and_search(super_client, shop, query):
    sp = shop[("SH01", "APL")]
    url = changelist("storeproduct") + query.format(
        zone=sp.zone_id, store=sp.store_id, category=sp.product.category_id
    )

    response = super_client.get(url)

    assert response.status_code == 200
    assert "APL001" in shown_skus(response)


def test_store_product_changelist_shows_counts(super_client, shop):
    response = super_client.get(
        changelist("storeproduct")
        + "?q=APL001&store="
        + str(shop[("SH01", "APL")].store_id)
    )

    (row,) = response.context["cl"].result_list
    assert (row.on_hand, row.reserved, row.available_online) == (
        D("10.000"),
        D("2.000"),
        D("8.000"),
    )
    content = response.content.decode()
    for column in (
        "Store",
        "SKU",
        "Name",
        "Zone",
        "Shelf price",
        "On hand",
        "Reserved",
        "Online available",
    ):
        assert f">{column}<" in content


@pytest.mark.parametrize(
    ("model", "query"),
    [
        ("stockmovement", "?kind__exact=receive"),
        ("stockmovement", "?store={store}"),
        ("stocklot", "?open=yes"),
        ("stocklot", "?store={store}"),
        ("reservation", "?state__exact=held"),
        ("product", "?sale_unit__exact=kg&is_daily_fresh__exact=0&q=SAL"),
        ("zone", "?store={store}"),
        ("storestaff", "?role__exact=picker&store={store}"),
    ],
)
def test_other_filters(super_client, shop, model, query):
    url = changelist(model) + query.format(store=shop[("SH01", "APL")].store_id)

    response = super_client.get(url)

    assert response.status_code == 200
    assert response.context["cl"].result_count >= 1


def test_store_product_changelist_has_no_n_plus_one(
    super_client, store, django_assert_max_num_queries
):
    zone = ZoneFactory(store=store, code="FRUIT")
    for _ in range(30):
        StoreProductFactory(store=store, zone=zone)

    with django_assert_max_num_queries(10):
        response = super_client.get(changelist("storeproduct"))
    assert len(response.context["cl"].result_list) == 30

    # One more row costs no extra query.
    StoreProductFactory(store=store, zone=zone)
    with CaptureQueriesContext(connection) as with_30:
        super_client.get(changelist("storeproduct") + "?o=2")
    StoreProductFactory(store=store, zone=zone)
    with CaptureQueriesContext(connection) as with_31:
        super_client.get(changelist("storeproduct") + "?o=2")
    assert len(with_31) == len(with_30)


# --- Managers see only their own stores ---------------------------------------


def test_manager_sees_only_their_stores_products(manager_client, shop):
    response = manager_client.get(changelist("storeproduct"))

    assert response.status_code == 200
    assert {sp.store.code for sp in response.context["cl"].result_list} == {"SH01"}
    assert response.context["cl"].result_count == 2


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("store", 1),
        ("zone", 1),
        ("storestaff", 2),  # the manager and the picker of SH01
        ("stocklot", 1),
        ("reservation", 1),
        ("stockmovement", 3),  # two receipts and one reservation at SH01
    ],
)
def test_manager_lists_are_scoped(manager_client, shop, model, expected):
    response = manager_client.get(changelist(model))

    assert response.status_code == 200
    assert response.context["cl"].result_count == expected


def test_manager_store_filter_offers_only_their_stores(manager_client, shop):
    response = manager_client.get(changelist("storeproduct"))

    content = response.content.decode()
    assert "SH01 Hema Test Shanghai" in content
    assert "SH02" not in content


@pytest.mark.parametrize(
    ("model", "pick"),
    [
        ("storeproduct", lambda shop: shop[("SH02", "APL")]),
        ("store", lambda shop: Store.objects.get(code="SH02")),
        ("zone", lambda shop: Zone.objects.get(store__code="SH02")),
        ("storestaff", lambda shop: StoreStaff.objects.get(store__code="SH02")),
        (
            "stocklot",
            lambda shop: StockLot.objects.get(store_product__store__code="SH02"),
        ),
        ("reservation", lambda shop: Reservation.objects.get(reference="ORDER-2")),
        (
            "stockmovement",
            lambda shop: StockMovement.objects.filter(
                store_product=shop[("SH02", "APL")]
            ).first(),
        ),
    ],
)
def test_manager_is_refused_another_stores_row(manager_client, shop, model, pick):
    obj = pick(shop)

    assert manager_client.get(change(model, obj.pk)).status_code == 403
    assert manager_client.post(change(model, obj.pk), {}).status_code == 403
    assert (
        manager_client.post(f"{ADMIN}/{model}/{obj.pk}/delete/", {"post": "yes"})
    ).status_code == 403
    assert type(obj).objects.filter(pk=obj.pk).exists()


def test_manager_can_open_their_own_rows(manager_client, shop):
    own = shop[("SH01", "APL")]

    assert manager_client.get(change("storeproduct", own.pk)).status_code == 200
    assert manager_client.get(change("store", own.store_id)).status_code == 200
    assert manager_client.get(change("product", own.product_id)).status_code == 200


def test_manager_sees_the_lots_on_their_products_page(manager_client, shop):
    sp = shop[("SH01", "SAL")]
    lot = StockLot.objects.get(store_product=sp)

    response = manager_client.get(change("storeproduct", sp.pk))

    assert response.status_code == 200
    [lots] = response.context["inline_admin_formsets"]
    assert [form.instance.pk for form in lots.formset.forms] == [lot.pk]


def test_manager_cannot_edit_another_stores_product_even_by_post(manager_client, shop):
    theirs = shop[("SH02", "APL")]

    response = manager_client.post(
        change("storeproduct", theirs.pk),
        {"list_price": "0.01", "unit_cost": "0", "online_buffer": "0"},
    )

    assert response.status_code == 403
    theirs.refresh_from_db()
    assert theirs.list_price == D("12.80")


def test_manager_cannot_add_or_delete_stores(manager_client, shop):
    own = Store.objects.get(code="SH01")

    assert manager_client.get(f"{ADMIN}/store/add/").status_code == 403
    assert (
        manager_client.post(f"{ADMIN}/store/{own.pk}/delete/", {"post": "yes"})
    ).status_code == 403
    assert Store.objects.count() == 2


def test_manager_can_view_but_not_change_the_catalogue(manager_client, shop):
    product = shop[("SH01", "APL")].product

    response = manager_client.post(
        change("product", product.pk), {"sku": product.sku, "name": "Renamed"}
    )

    assert response.status_code == 403
    assert Product.objects.get(pk=product.pk).name == "APL product"
    assert manager_client.get(f"{ADMIN}/product/add/").status_code == 403


def test_manager_adds_a_store_product_only_to_their_store(manager_client, shop):
    product = ProductFactory(sku="NEW001")
    own, theirs = Store.objects.get(code="SH01"), Store.objects.get(code="SH02")
    form = {
        "product": product.pk,
        "is_active": "on",
        "shelf_location": "B-1",
        "list_price": "5.50",
        "unit_cost": "3.00",
        "online_buffer": "0",
        "lots-TOTAL_FORMS": "0",
        "lots-INITIAL_FORMS": "0",
    }

    refused = manager_client.post(
        f"{ADMIN}/storeproduct/add/", {**form, "store": theirs.pk}
    )
    assert refused.status_code == 200
    assert "Select a valid choice" in refused.content.decode()
    assert not StoreProduct.objects.filter(product=product).exists()

    created = manager_client.post(
        f"{ADMIN}/storeproduct/add/", {**form, "store": own.pk}
    )
    assert created.status_code == 302
    sp = StoreProduct.objects.get(product=product)
    assert (sp.store, sp.shelf_price, sp.on_hand) == (own, D("5.50"), D("0.000"))


def test_zone_must_belong_to_the_store_products_store(super_client, shop):
    sp = shop[("SH01", "APL")]
    other_zone = Zone.objects.get(store__code="SH02")

    response = super_client.post(
        change("storeproduct", sp.pk),
        {
            "is_active": "on",
            "zone": other_zone.pk,
            "list_price": "12.80",
            "unit_cost": "8.00",
            "online_buffer": "0",
            "lots-TOTAL_FORMS": "0",
            "lots-INITIAL_FORMS": "0",
        },
    )

    # The page offers only the store's own zones; one posted from another store
    # is refused on the zone field.
    assert response.status_code == 200
    assert "zone" in response.context["adminform"].form.errors
    sp.refresh_from_db()
    assert sp.zone.store.code == "SH01"


def test_stock_counts_are_read_only_in_the_form(super_client, shop):
    sp = shop[("SH01", "APL")]
    before = ledger(sp)

    response = super_client.post(
        change("storeproduct", sp.pk),
        {
            "is_active": "on",
            "zone": sp.zone_id,
            "list_price": "13.50",
            "unit_cost": "8.00",
            "online_buffer": "1",
            "on_hand": "999",
            "reserved": "0",
            "shelf_price": "0.01",
            "lots-TOTAL_FORMS": "0",
            "lots-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302
    sp.refresh_from_db()
    assert (sp.list_price, sp.online_buffer) == (D("13.50"), D("1.000"))
    assert (sp.on_hand, sp.reserved, sp.shelf_price) == (
        D("10.000"),
        D("2.000"),
        D("12.80"),
    )
    assert ledger(sp) == before


CHANGE_FORM = {
    "is_active": "on",
    "list_price": "13.50",
    "unit_cost": "8.00",
    "online_buffer": "0",
    "lots-TOTAL_FORMS": "0",
    "lots-INITIAL_FORMS": "0",
}


def test_a_reservation_held_during_an_admin_edit_survives_it(
    super_client, shop, monkeypatch
):
    # Given apples with 10 on hand and 2 reserved, and an order that reserves 3
    # more after the admin has loaded the row but before it saves the edit
    sp = shop[("SH01", "APL")]
    load = StoreProductAdmin.get_object

    def load_then_an_order_arrives(self, request, object_id, from_field=None):
        obj = load(self, request, object_id, from_field)
        if request.method == "POST":
            stock_reserve(lines=[ReservationLine(sp, 3)], reference="ORDER-3")
        return obj

    monkeypatch.setattr(StoreProductAdmin, "get_object", load_then_an_order_arrives)

    # When the manager saves a new list price
    response = super_client.post(
        change("storeproduct", sp.pk), {**CHANGE_FORM, "zone": sp.zone_id}
    )

    # Then the price changed and both reservations still hold their units
    assert response.status_code == 302
    sp.refresh_from_db()
    assert (sp.list_price, sp.on_hand, sp.reserved, sp.shelf_price) == (
        D("13.50"),
        D("10.000"),
        D("5.000"),
        D("12.80"),
    )
    assert Reservation.objects.filter(store_product=sp, state="held").count() == 2
    assert_ledger_matches(sp)


def test_staff_without_a_manager_role_is_refused(client, shop, store):
    picker = UserFactory(is_staff=True)
    StoreStaffFactory(user=picker, store=store, role="picker")
    retired = UserFactory(is_staff=True)
    StoreStaffFactory(user=retired, store=store, role="manager", is_active=False)

    for user in (picker, retired):
        client.force_login(user)
        assert client.get(changelist("storeproduct")).status_code == 403
        assert (
            client.get(change("storeproduct", shop[("SH01", "APL")].pk)).status_code
            == 403
        )


def test_manager_index_lists_the_inventory_screens(manager_client, shop):
    response = manager_client.get("/admin/")

    assert response.status_code == 200
    models = {
        m["object_name"] for app in response.context["app_list"] for m in app["models"]
    }
    assert {"StoreProduct", "Store", "StockMovement", "Product"} <= models


def test_manager_adds_staff_by_email_or_phone(manager_client, shop, store):
    picker = UserFactory(email="new.picker@hema.test", phone="+8613800000001")
    form = {"store": store.pk, "role": "packer", "is_active": "on"}

    response = manager_client.post(
        f"{ADMIN}/storestaff/add/", {**form, "login": "NEW.Picker@hema.test"}
    )
    assert response.status_code == 302
    assert StoreStaff.objects.filter(user=picker, store=store, role="packer").exists()

    response = manager_client.post(
        f"{ADMIN}/storestaff/add/",
        {**form, "role": "rider", "login": "+86 138 0000 0001"},
    )
    assert response.status_code == 302
    assert StoreStaff.objects.filter(user=picker, role="rider").exists()

    duplicate = manager_client.post(
        f"{ADMIN}/storestaff/add/", {**form, "login": "new.picker@hema.test"}
    )
    assert duplicate.status_code == 200
    assert "already has the packer role at SH01" in duplicate.content.decode()

    unknown = manager_client.post(
        f"{ADMIN}/storestaff/add/", {**form, "login": "nobody@hema.test"}
    )
    assert "No user with this e-mail address or phone number." in (
        unknown.content.decode()
    )
    assert StoreStaff.objects.filter(user=picker).count() == 2


# --- Read-only ledger screens -------------------------------------------------------


@pytest.mark.parametrize("model", sorted(READ_ONLY))
def test_ledger_screens_are_read_only(super_client, shop, model):
    obj = MODELS[model](shop)
    before = type(obj).objects.count()

    page = super_client.get(change(model, obj.pk))
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert super_client.post(change(model, obj.pk), {}).status_code == 403
    assert (
        super_client.post(f"{ADMIN}/{model}/{obj.pk}/delete/", {"post": "yes"})
    ).status_code == 403
    assert super_client.get(f"{ADMIN}/{model}/add/").status_code == 403
    assert type(obj).objects.count() == before


# --- Stock screens ------------------------------------------------------------


@pytest.mark.parametrize("slug", ["receive", "correct", "write-off"])
def test_stock_screens_show_a_form(manager_client, shop, slug):
    response = manager_client.get(stock_url(shop[("SH01", "APL")], slug))

    assert response.status_code == 200
    assert b'id="stock-on-hand">10<' in response.content


def test_receive_goods(manager_client, manager, shop):
    sp = shop[("SH01", "SAL")]

    response = manager_client.post(
        stock_url(sp, "receive"),
        fresh({"quantity": "2.500", "best_before": "2030-01-31", "reference": "DN-77"}),
        follow=True,
    )

    assert response.redirect_chain == [(change("storeproduct", sp.pk), 302)]
    sp.refresh_from_db()
    assert sp.on_hand == D("12.500")
    movement = StockMovement.objects.filter(store_product=sp).latest("pk")
    assert (
        movement.kind,
        movement.on_hand_delta,
        movement.actor,
        movement.reference,
    ) == (
        MovementKind.RECEIVE,
        D("2.500"),
        manager,
        "DN-77",
    )
    lot = StockLot.objects.filter(store_product=sp).latest("pk")
    assert (lot.best_before, lot.quantity_left) == (dt.date(2030, 1, 31), D("2.500"))
    assert "Receive goods for SH01/SAL001: on hand +2.500 kg (now 12.500 kg" in (
        response.content.decode()
    )
    assert LogEntry.objects.filter(object_id=str(sp.pk)).count() == 1


def test_count_correction(manager_client, manager, shop):
    sp = shop[("SH01", "APL")]

    response = manager_client.post(
        stock_url(sp, "correct"), fresh({"counted": "7", "reason": "recount"})
    )

    assert response.status_code == 302
    sp.refresh_from_db()
    assert sp.on_hand == D("7.000")
    movement = StockMovement.objects.filter(store_product=sp).latest("pk")
    assert (movement.kind, movement.on_hand_delta, movement.reason, movement.actor) == (
        MovementKind.CORRECTION,
        D("-3.000"),
        "recount",
        manager,
    )


def test_count_correction_that_matches_records_nothing(manager_client, shop):
    sp = shop[("SH01", "APL")]
    before = ledger(sp)

    response = manager_client.post(
        stock_url(sp, "correct"),
        fresh({"counted": "10", "reason": "recount"}),
        follow=True,
    )

    assert "the count matches (10); nothing to record" in response.content.decode()
    assert ledger(sp) == before


def test_write_off(manager_client, manager, shop):
    sp = shop[("SH01", "APL")]

    response = manager_client.post(
        stock_url(sp, "write-off"), fresh({"quantity": "3", "reason": "bruised"})
    )

    assert response.status_code == 302
    sp.refresh_from_db()
    assert sp.on_hand == D("7.000")
    movement = StockMovement.objects.filter(store_product=sp).latest("pk")
    assert (movement.kind, movement.on_hand_delta, movement.reason) == (
        MovementKind.WRITE_OFF,
        D("-3.000"),
        "bruised",
    )


@pytest.mark.parametrize(
    ("slug", "form", "message"),
    [
        (
            "correct",
            {"counted": "7", "reason": ""},
            "A count correction needs a reason.",
        ),
        (
            "correct",
            {"counted": "7", "reason": "   "},
            "A count correction needs a reason.",
        ),
        ("correct", {"counted": "-1", "reason": "x"}, "counted must be zero or more."),
        ("write-off", {"quantity": "2", "reason": ""}, "A write-off needs a reason."),
        (
            "write-off",
            {"quantity": "1.5", "reason": "spoiled"},
            "APL001 is sold by the piece: quantity must be a whole number.",
        ),
        (
            "write-off",
            {"quantity": "11", "reason": "spoiled"},
            "Cannot write off 11.000 of APL001: only 10.000 on hand.",
        ),
        ("receive", {"quantity": "0"}, "quantity must be more than zero."),
        ("receive", {"quantity": "abc"}, "Enter a number."),
        ("receive", {"quantity": ""}, "This field is required."),
    ],
)
def test_refused_stock_change_shows_the_message_and_changes_nothing(
    manager_client, shop, slug, form, message
):
    sp = shop[("SH01", "APL")]
    before = ledger(sp)

    response = manager_client.post(stock_url(sp, slug), fresh(form))

    assert response.status_code == 200
    assert message in response.content.decode()
    sp.refresh_from_db()
    assert (sp.on_hand, sp.reserved) == (D("10.000"), D("2.000"))
    assert ledger(sp) == before
    assert StockLot.objects.filter(store_product=sp).count() == 0


@pytest.mark.parametrize(
    ("slug", "form", "on_hand"),
    [
        ("receive", {"quantity": "5"}, D("15.000")),
        ("write-off", {"quantity": "3", "reason": "bruised"}, D("7.000")),
        ("correct", {"counted": "7", "reason": "recount"}, D("6.000")),
    ],
)
def test_a_stock_form_sent_twice_changes_the_stock_once(
    manager_client, shop, slug, form, on_hand
):
    """A double click, or the browser resending the POST: one movement. For a
    correction, a till sale between the two sends stays sold."""
    sp = shop[("SH01", "APL")]
    sent = fresh(form)

    first = manager_client.post(stock_url(sp, slug), sent)
    stock_sell_in_store(store_product=sp, quantity=1, unit_price=D("12.80"))
    second = manager_client.post(stock_url(sp, slug), sent)

    assert (first.status_code, second.status_code) == (302, 302)
    sp.refresh_from_db()
    assert sp.on_hand == on_hand - (0 if slug == "correct" else 1)
    assert (
        StockMovement.objects.filter(
            store_product=sp, request_id=f"admin-{sent['token']}"
        ).count()
    ) == 1
    assert_ledger_matches(sp)


@pytest.mark.parametrize("slug", ["receive", "correct", "write-off"])
def test_manager_cannot_change_another_stores_stock(manager_client, shop, slug):
    theirs = shop[("SH02", "APL")]
    before = ledger(theirs)

    response = manager_client.post(
        stock_url(theirs, slug),
        fresh({"quantity": "5", "counted": "1", "reason": "x"}),
    )

    assert response.status_code == 403
    theirs.refresh_from_db()
    assert theirs.on_hand == D("10.000")
    assert ledger(theirs) == before


def test_stock_screen_of_an_unknown_store_product_is_404(super_client, shop):
    assert super_client.get(f"{ADMIN}/storeproduct/999999/receive/").status_code == 404


def test_change_page_links_the_stock_screens(manager_client, shop):
    sp = shop[("SH01", "APL")]

    content = manager_client.get(change("storeproduct", sp.pk)).content.decode()

    for slug in ("receive", "correct", "write-off"):
        assert f'href="{stock_url(sp, slug)}"' in content


# --- Label sheet --------------------------------------------------------------


def pdf_pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page\b", pdf))


def test_print_shelf_labels_returns_a_pdf_attachment(super_client, store):
    sps = [StoreProductFactory(store=store) for _ in range(15)]

    response = super_client.post(
        changelist("storeproduct"),
        {
            "action": "print_shelf_labels",
            "_selected_action": [sp.pk for sp in sps],
        },
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert re.fullmatch(
        r'attachment; filename="shelf-labels-\d{4}-\d{2}-\d{2}\.pdf"',
        response["Content-Disposition"],
    )
    assert response.content.startswith(b"%PDF-")
    assert pdf_pages(response.content) == 2


def test_the_action_is_offered_by_name(manager_client, shop):
    content = manager_client.get(changelist("storeproduct")).content.decode()

    assert "Print shelf labels (PDF)" in content


def test_manager_cannot_print_another_stores_labels(manager_client, shop):
    theirs = shop[("SH02", "APL")]

    response = manager_client.post(
        changelist("storeproduct"),
        {"action": "print_shelf_labels", "_selected_action": [theirs.pk]},
        follow=True,
    )

    assert response["Content-Type"].startswith("text/html")
    assert "No store products to print." in response.content.decode()
