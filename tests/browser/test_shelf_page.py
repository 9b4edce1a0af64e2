"""A shopper points a phone camera at a shelf label: the page the QR opens."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from inventory.models import StoreProduct
from tests.conftest import requires_postgres

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    requires_postgres,
    pytest.mark.django_db(transaction=True),
]


@pytest.mark.parametrize(
    ("language", "in_stock_text"), [("zh-CN", "有货"), ("en-GB", "In stock")]
)
def test_the_shelf_qr_opens_a_product_page_on_a_phone(
    browser, live_server, shot, language, in_stock_text
):
    call_command("seed_demo", verbosity=0)
    sp = StoreProduct.objects.select_related("product", "store").get(
        store__code="SH01", product__sku="FRU-0001"
    )
    phone = browser.new_context(
        base_url=live_server.url,
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale=language,
        extra_http_headers={"Accept-Language": language},
    )
    page = phone.new_page()
    try:
        answer = page.goto("/q/SH01/FRU-0001")
        assert answer.status == 200
        assert answer.headers["content-type"].startswith("text/html")
        text = page.locator("body").inner_text()
        assert sp.product.name_local in text
        assert sp.product.name in text
        assert f"{sp.shelf_price:.2f}" in text
        assert in_stock_text in text
        # No request leaves the server: every asset is the project's own.
        assert (
            page.locator("link[rel=stylesheet]")
            .first.get_attribute("href")
            .startswith("/static/")
        )
        shot(page, f"shelf page {language}")
    finally:
        phone.close()
