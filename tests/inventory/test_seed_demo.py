import datetime as dt
import re
from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.db.models import Count, F, Sum
from django.test import Client

from accounts.models import User
from inventory import demo_catalogue as demo
from inventory.demo_catalogue_zh import LOCAL_NAMES
from inventory.models import (
    Category,
    MovementKind,
    Product,
    SaleUnit,
    StockLot,
    StockMovement,
    Store,
    StoreProduct,
    StoreStaff,
    Supplier,
    Zone,
)
from inventory.services import stock_sell_in_store

pytestmark = pytest.mark.django_db

D = Decimal
CATALOGUE_SIZE = sum(len(items) for items in demo.PRODUCTS.values())


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


@pytest.fixture
def seeded() -> str:
    return seed()


def snapshot() -> dict:
    """Everything a rerun must leave as it is."""
    models = (Store, Zone, Supplier, Category, Product, StoreProduct, StoreStaff)
    return {
        "counts": {m.__name__: m.objects.count() for m in models}
        | {
            "StockLot": StockLot.objects.count(),
            "StockMovement": StockMovement.objects.count(),
            "User": User.objects.count(),
        },
        "stock": dict(StoreProduct.objects.values_list("pk", "on_hand").order_by("pk")),
        "updated": dict(
            StoreProduct.objects.values_list("pk", "updated_at").order_by("pk")
        ),
        "products": list(
            Product.objects.order_by("sku").values_list(
                "sku", "name", "sale_unit", "updated_at"
            )
        ),
    }


def assert_every_ledger_matches() -> None:
    mismatched = StoreProduct.objects.annotate(
        ledger_on_hand=Sum("movements__on_hand_delta"),
        ledger_reserved=Sum("movements__reserved_delta"),
    ).exclude(on_hand=F("ledger_on_hand"), reserved=F("ledger_reserved"))
    assert list(mismatched.values_list("product__sku", flat=True)) == []


def test_creates_the_two_shanghai_stores(seeded):
    jingan = Store.objects.get(code="SH01")
    assert jingan.name == "Hema Shanghai Jing'an"
    assert (jingan.latitude, jingan.longitude) == (D("31.224300"), D("121.446800"))
    assert jingan.time_zone == "Asia/Shanghai"
    assert jingan.currency == "CNY"
    assert jingan.delivery_radius_km == D("3.00")
    assert jingan.delivery_promise_minutes == 30
    assert (jingan.opens_at, jingan.closes_at) == (dt.time(8), dt.time(22))
    assert jingan.is_24h is False
    pudong = Store.objects.get(code="SH02")
    assert pudong.is_24h is True
    assert pudong.delivery_radius_km == D("5.00")
    assert pudong.delivery_promise_minutes == 60


def test_counts(seeded):
    assert Product.objects.count() == CATALOGUE_SIZE >= 300
    assert Category.objects.count() == len(demo.CATEGORIES) >= 10
    assert Supplier.objects.count() == len(demo.SUPPLIERS)
    for code in ("SH01", "SH02"):
        zones = set(
            Zone.objects.filter(store__code=code).values_list("code", flat=True)
        )
        assert zones == {code for code, _ in demo.ZONES}
        assert {"PRODUCE", "SEAFOOD", "MEAT", "DAIRY", "FROZEN", "BAKERY"} <= zones
        assert StoreProduct.objects.filter(store__code=code).count() == CATALOGUE_SIZE
    assert "products       360 (360 created)" in seeded


def test_every_product_has_a_category_sku_in_sequence_and_realistic_money(seeded):
    by_prefix: dict[str, list[int]] = {}
    for sku in Product.objects.values_list("sku", flat=True):
        match = re.fullmatch(r"([A-Z]{3})-(\d{4})", sku)
        assert match, sku
        by_prefix.setdefault(match[1], []).append(int(match[2]))
    assert {c["prefix"] for c in demo.CATEGORIES} == set(by_prefix)
    for numbers in by_prefix.values():
        assert sorted(numbers) == list(range(1, len(numbers) + 1))
    for sp in StoreProduct.objects.all():
        assert sp.list_price > 0
        assert sp.shelf_price == sp.list_price
        assert D("0.545") <= sp.unit_cost / sp.list_price <= D("0.805"), sp
        assert sp.zone_id is not None
        assert sp.shelf_location


def test_fru_0001_is_on_sale_in_jingan_with_stock(seeded, api_client):
    sp = StoreProduct.objects.select_related("product").get(
        store__code="SH01", product__sku="FRU-0001"
    )
    assert sp.product.name == "Fuji apple"
    assert sp.product.origin == "Yantai, Shandong"
    assert sp.on_hand > 0

    response = api_client.get("/api/v1/stores/SH01/scan/FRU-0001")

    assert response.status_code == 200
    body = response.json()
    assert body["in_stock"] is True
    assert body["sale_unit"] == "kg"
    assert body["currency"] == "CNY"
    assert body["freshness"]["oldest_best_before"] is not None


def test_weighed_goods_are_sold_by_kg_and_pieces_are_counted_whole(seeded):
    weighed = StoreProduct.objects.filter(product__sale_unit=SaleUnit.KILOGRAM)
    by_piece = StoreProduct.objects.filter(product__sale_unit=SaleUnit.PIECE)
    assert weighed.count() > 100
    assert weighed.filter(product__category__slug="seafood").count() > 20
    assert weighed.filter(product__category__slug="meat").count() > 15
    assert not weighed.filter(
        product__category__slug__in=["dairy", "bakery", "drinks", "grocery"]
    ).exists()
    assert not weighed.exclude(online_buffer=D("0.500")).exists()
    for sp in by_piece:
        assert sp.on_hand > 0
        assert sp.on_hand == sp.on_hand.to_integral_value(), sp
        assert sp.online_buffer in (D(1), D(2)), sp
    assert all(sp.on_hand > sp.online_buffer for sp in weighed)


def test_daily_fresh_goods_are_received_in_lots_that_expire_within_a_day(seeded):
    fresh = StoreProduct.objects.filter(product__is_daily_fresh=True)
    assert fresh.filter(product__category__slug="bakery").exists()
    assert fresh.filter(product__category__slug="ready-meals").exists()
    lots = StockLot.objects.filter(store_product__in=fresh).select_related(
        "store_product__product", "store_product__store"
    )
    assert lots.count() == fresh.count()
    for lot in lots:
        product = lot.store_product.product
        received_on = lot.received_at.astimezone(lot.store_product.store.tz).date()
        assert lot.best_before == received_on + dt.timedelta(
            days=product.shelf_life_days
        )
    ready_meals = fresh.filter(product__category__slug="ready-meals")
    assert set(ready_meals.values_list("product__shelf_life_days", flat=True)) == {1}
    not_perishable = StoreProduct.objects.filter(product__shelf_life_days__isnull=True)
    assert not_perishable.exists()
    assert not StockLot.objects.filter(store_product__in=not_perishable).exists()


def test_stock_is_received_through_the_ledger(seeded):
    receipts = StockMovement.objects.filter(kind=MovementKind.RECEIVE)
    assert receipts.count() == StoreProduct.objects.count()
    assert not receipts.filter(reference="").exists()
    assert_every_ledger_matches()


def test_a_second_run_changes_nothing(seeded):
    before = snapshot()

    output = seed()

    assert snapshot() == before
    assert_every_ledger_matches()
    assert "products       360 (unchanged)" in output
    assert "received for 0 store products" in output


def test_a_rerun_keeps_what_the_store_sold_and_adds_no_stock(seeded):
    sp = StoreProduct.objects.select_related("product").get(
        store__code="SH01", product__sku="FRU-0001"
    )
    stock_sell_in_store(store_product=sp, quantity="1.250", unit_price=D("15.80"))
    sp.refresh_from_db()
    before = sp.on_hand

    seed()

    sp.refresh_from_db()
    assert sp.on_hand == before
    assert StockMovement.objects.filter(store_product=sp).count() == 2
    assert_every_ledger_matches()


def test_a_rerun_restores_a_changed_catalogue_row_but_not_the_shelf_price(seeded):
    sp = StoreProduct.objects.get(store__code="SH01", product__sku="VEG-0001")
    StoreProduct.objects.filter(pk=sp.pk).update(
        list_price=D("99.00"), shelf_price=D("2.90")
    )
    Product.objects.filter(sku="VEG-0001").update(name="Renamed")

    output = seed()

    sp.refresh_from_db()
    assert sp.list_price == D("3.90")
    assert sp.shelf_price == D("2.90")
    assert Product.objects.get(sku="VEG-0001").name == "Shanghai bok choy 300 g"
    assert "products       360 (1 updated)" in output
    assert "store products 720 (1 updated)" in output


CJK = re.compile(r"[\u4e00-\u9fff]")


def test_every_demo_product_has_exactly_one_chinese_name():
    english = [row[0] for items in demo.PRODUCTS.values() for row in items]

    assert len(english) == len(set(english)) == 360
    assert set(LOCAL_NAMES) == set(english)
    assert all(CJK.search(name) for name in LOCAL_NAMES.values())
    assert len(set(LOCAL_NAMES.values())) == 360


def test_products_carry_their_chinese_name(seeded, api_client):
    names = dict(Product.objects.values_list("sku", "name_local"))

    assert names["FRU-0018"] == "红颜草莓 400克"
    assert names["FRU-0001"] == "红富士苹果"
    assert names["SEA-0018"] == "三文鱼柳"
    assert [sku for sku, name in names.items() if not CJK.search(name)] == []
    scan = api_client.get("/api/v1/stores/SH01/scan/FRU-0018").json()
    assert (scan["name"], scan["name_local"]) == (
        "Hongyan strawberries 400 g",
        "红颜草莓 400克",
    )


def test_a_rerun_fills_the_chinese_name_of_existing_products(seeded):
    # A database seeded before the names existed: every name_local blank.
    Product.objects.update(name_local="")

    output = seed()

    assert "products       360 (360 updated)" in output
    assert Product.objects.filter(name_local="").count() == 0
    assert Product.objects.get(sku="FRU-0018").name_local == "红颜草莓 400克"
    assert "products       360 (unchanged)" in seed()


def test_the_manager_logs_in_by_email_or_phone(seeded):
    by_email = authenticate(username="manager@hema.demo", password="hema-demo-2026")
    by_phone = authenticate(username="+8613800000000", password="hema-demo-2026")

    assert by_email is not None
    assert by_phone == by_email
    assert by_email.is_staff is True
    assert by_email.is_superuser is False
    assert authenticate(username="manager@hema.demo", password="wrong") is None
    roles = StoreStaff.objects.filter(user=by_email, role="manager", is_active=True)
    assert set(roles.values_list("store__code", flat=True)) == {"SH01", "SH02"}


def test_demo_password_comes_from_the_environment(monkeypatch, seeded):
    monkeypatch.setenv("DEMO_PASSWORD", "another-demo-pass-7")

    output = seed()

    assert authenticate(username="manager@hema.demo", password="another-demo-pass-7")
    assert authenticate(username="manager@hema.demo", password="hema-demo-2026") is None
    assert "another-demo-pass-7" not in output
    assert User.objects.filter(email="manager@hema.demo").count() == 1


def test_the_manager_runs_both_stores_in_the_admin(seeded):
    client = Client()
    assert client.login(username="manager@hema.demo", password="hema-demo-2026")
    sp = StoreProduct.objects.get(store__code="SH02", product__sku="SEA-0001")

    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/inventory/storeproduct/").status_code == 200
    assert (
        client.get(f"/admin/inventory/storeproduct/{sp.pk}/change/").status_code == 200
    )
    assert client.get("/admin/inventory/product/").status_code == 200
    assert client.get("/admin/inventory/stockmovement/").status_code == 200


def test_the_manager_may_not_edit_the_catalogue_accounts_or_jobs(seeded):
    client = Client()
    assert client.login(username="manager@hema.demo", password="hema-demo-2026")
    product = Product.objects.get(sku="FRU-0001")

    response = client.post(
        f"/admin/inventory/product/{product.pk}/change/", {"name": "Cheap apples"}
    )

    assert response.status_code == 403
    assert Product.objects.get(pk=product.pk).name == "Fuji apple"
    assert client.get("/admin/accounts/user/").status_code == 403
    assert client.get("/admin/django_celery_beat/periodictask/").status_code == 403


def test_the_store_managers_group_reads_stock_and_sets_prices(seeded):
    """Inventory: reading only (its admin scopes managers without permissions).
    Pricing: rules, settings, exemptions and floors are set; what jobs wrote is
    read. Nothing of accounts, and nothing of inventory added or deleted."""
    manager = User.objects.get(email="manager@hema.demo")
    group = manager.groups.get(name=demo.MANAGER_GROUP)
    granted = {
        (p.content_type.app_label, p.codename)
        for p in group.permissions.select_related("content_type")
    }
    inventory = {codename for app, codename in granted if app == "inventory"}
    pricing = {codename for app, codename in granted if app == "pricing"}
    assert {"view_product", "view_storeproduct", "view_stockmovement"} <= inventory
    assert "view_storeweather" in inventory
    # Inventory is read, except a replenishment draft's quantities (edited,
    # approved and received by the store's manager).
    assert {"change_replenishmentorder", "change_replenishmentline"} <= inventory
    assert all(
        codename.startswith("view_")
        for codename in inventory
        - {"change_replenishmentorder", "change_replenishmentline"}
    )
    assert not {c for c in inventory if c.startswith(("add_", "delete_"))}
    assert {
        "view_pricerule",
        "add_pricerule",
        "change_pricerule",
        "change_storepricesettings",
        "add_priceexemption",
        "change_markdownfloor",
        "view_pricechange",
        "view_repricingrun",
        "view_markdownstep",
    } <= pricing
    assert "delete_pricerule" not in pricing
    assert not {"add_pricechange", "change_repricingrun"} & pricing
    assert not group.permissions.filter(content_type__app_label="accounts").exists()
    assert len(granted) == sum(len(a) for a in demo.MANAGER_PERMISSIONS.values())


def test_categories_span_fresh_food_and_staples(seeded):
    counts = dict(
        Category.objects.annotate(n=Count("products")).values_list("slug", "n")
    )
    for slug in ("fruit", "vegetables", "seafood", "meat", "dairy", "eggs", "bakery"):
        assert counts[slug] >= 10, slug
    for slug in ("ready-meals", "frozen", "grocery", "drinks"):
        assert counts[slug] >= 10, slug
