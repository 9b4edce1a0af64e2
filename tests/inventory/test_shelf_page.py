"""The page a phone camera opens from a shelf label's QR code: /q/<store>/<sku>."""

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.contrib.staticfiles import finders

from inventory.models import SaleUnit
from inventory.services import ReservationLine, stock_receive, stock_reserve
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db

D = Decimal
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.fixture
def strawberries(make_store_product):
    product = ProductFactory(
        sku="FRU-0018",
        name="Hongyan strawberries 400 g",
        name_local="红颜草莓 400克",
        origin="Dandong, Liaoning",
        shelf_life_days=4,
    )
    sp = make_store_product(
        product=product,
        list_price=D("39.90"),
        shelf_price=D("35.90"),
        shelf_location="PRO-01-18",
    )
    stock_receive(store_product=sp, quantity=6, best_before=dt.date(2030, 5, 2))
    stock_receive(store_product=sp, quantity=4, best_before=dt.date(2030, 5, 4))
    return sp


@pytest.fixture
def salmon(make_store_product):
    product = ProductFactory(
        sku="SEA-0018",
        name="Salmon fillet",
        name_local="三文鱼柳",
        sale_unit=SaleUnit.KILOGRAM,
        shelf_life_days=3,
        is_daily_fresh=True,
        origin="Norway",
    )
    return make_store_product(product=product, list_price=D("168.00"))


def page(client, url: str, **headers):
    return client.get(url, HTTP_ACCEPT=BROWSER, **headers)


def text_of(response) -> str:
    """The page's visible text, tags removed and spaces folded."""
    html = response.content.decode()
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_a_phone_gets_the_product_page(client, strawberries):
    response = page(client, "/q/SH01/FRU-0018")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    text = text_of(response)
    assert "Hongyan strawberries 400 g" in text
    assert "红颜草莓 400克" in text
    assert "CNY 35.90 per piece" in text
    assert "Usually CNY 39.90" in text
    assert "In stock" in text
    assert "Origin Dandong, Liaoning" in text
    assert "Keeps 4 days." in text
    # The oldest lot still on the shelf.
    assert "Best before May 2, 2030" in text
    html = response.content.decode()
    assert 'href="hema://store/SH01/product/FRU-0018"' in html
    assert "Open in the Hema app" in text
    # Fresh price every time; caches keep the page and the JSON apart.
    assert "no-cache" in response["Cache-Control"]
    assert "Accept" in response["Vary"]


def test_the_page_is_mobile_and_self_contained(client, strawberries):
    response = page(client, "/q/SH01/FRU-0018")
    html = response.content.decode()

    assert '<meta name="viewport" content="width=device-width' in html
    # Only its own stylesheet and picture: no external asset, nothing inline
    # (the Content-Security-Policy would block it).
    assert re.findall(r'(?:src|href)="(/[^"]*)"', html) == [
        "/static/inventory/shelf/shelf.css",
        "/static/inventory/shelf/product-placeholder.svg",
        "/q/SH01/FRU-0018",
    ]
    assert not re.search(r'(?:src|href)="(?:https?:)?//', html)
    assert "<script" not in html
    assert "<style" not in html
    assert "style=" not in html
    csp = response["Content-Security-Policy"]
    assert "style-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert finders.find("inventory/shelf/shelf.css")
    assert finders.find("inventory/shelf/product-placeholder.svg")


def test_the_page_is_one_query(client, strawberries, django_assert_num_queries):
    with django_assert_num_queries(1):
        response = page(client, "/q/SH01/FRU-0018")

    assert response.status_code == 200


def test_a_weighed_daily_fresh_product_out_of_stock(client, salmon):
    text = text_of(page(client, "/q/SH01/SEA-0018"))

    assert "CNY 168.00 per kg" in text
    assert "Out of stock" in text
    assert "In stock" not in text
    assert "Daily fresh: sold only on the day it arrives." in text
    assert "Best before" not in text  # no lot on the shelf
    assert "Usually" not in text  # at its list price


def test_units_held_online_are_not_in_stock(client, strawberries):
    stock_reserve(lines=[ReservationLine(strawberries, 10)], reference="R1")

    text = text_of(page(client, "/q/SH01/FRU-0018"))

    assert "Out of stock" in text


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("/q/SH01/NOPE-1", "NOPE-1 (store SH01)"),
        ("/q/XX99/FRU-0018", "FRU-0018 (store XX99)"),
        ("/q/SH01/bad%20code", "bad code (store SH01)"),
    ],
)
def test_an_unknown_product_or_store_is_a_friendly_404(
    client, strawberries, django_assert_max_num_queries, url, named
):
    with django_assert_max_num_queries(2):
        response = page(client, url)

    assert response.status_code == 404
    assert response["Content-Type"] == "text/html; charset=utf-8"
    text = text_of(response)
    assert "Product not found" in text
    assert f"This store does not sell {named}, or no longer offers it." in text
    assert "Please ask a member of staff" in text


def test_a_json_client_of_an_unknown_product_gets_the_api_404(client, strawberries):
    response = client.get("/q/SH01/NOPE-1", follow=True, HTTP_ACCEPT="application/json")

    assert response.redirect_chain == [("/api/v1/stores/SH01/scan/NOPE-1", 302)]
    assert response.status_code == 404
    assert response.json()["error"] == "product_not_found"


def test_a_client_that_accepts_anything_gets_the_page(client, strawberries):
    for accept in ("*/*", None):
        headers = {"HTTP_ACCEPT": accept} if accept else {}
        response = client.get("/q/SH01/FRU-0018", **headers)
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/html")


def test_the_page_in_chinese(client, strawberries):
    response = page(client, "/q/SH01/FRU-0018", HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9")

    assert response.status_code == 200
    assert response["Content-Language"] == "zh-hans"
    html = response.content.decode()
    assert '<html lang="zh-hans">' in html
    # The local name is the title, the English one beneath it.
    assert re.search(r'<h1 class="name" lang="zh-Hans">红颜草莓 400克</h1>', html)
    text = text_of(response)
    assert "CNY 35.90 每件" in text
    assert "有货" in text
    assert "产地 Dandong, Liaoning" in text
    assert "保质期 4 天。" in text
    assert "最佳食用日期 2030年5月2日" in text
    assert "在盒马 App 中打开" in text
    assert "In stock" not in text


def test_the_404_page_in_chinese(client, strawberries):
    response = page(client, "/q/SH01/NOPE-1", HTTP_ACCEPT_LANGUAGE="zh-CN")

    assert response.status_code == 404
    assert "未找到该商品" in text_of(response)


def test_english_by_default(client, strawberries):
    response = page(client, "/q/SH01/FRU-0018")

    assert response["Content-Language"] == "en"
    assert '<h1 class="name">Hongyan strawberries 400 g</h1>' in (
        response.content.decode()
    )
