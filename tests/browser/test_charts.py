"""The chart pages in a real browser (Debian's Chromium): a manager opens a
store product's four weeks from its page and the delivery times from the
dashboard, and sees both charts drawn and styled; screenshots under
``var/screenshots/``."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from inventory.forecast.days import trading_day
from tests.browser.test_dashboard import sign_in
from tests.conftest import requires_postgres
from tests.demo_manager import demo_manager
from tests.factories import StoreFactory
from tests.hema.chart_rows import delivery_day_rows, product_weeks

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    requires_postgres,
    pytest.mark.django_db(transaction=True),
]


def test_manager_opens_the_product_and_delivery_charts(page, shot):
    store = StoreFactory(code="BC01", name="Chart store", is_24h=False)
    now = timezone.now()
    sp, _ = product_weeks(store, now)
    expected = delivery_day_rows(store, trading_day(store, now))
    user = demo_manager(store)
    sign_in(page, user)

    page.goto(f"/admin/inventory/storeproduct/{sp.pk}/change/")
    page.locator(".object-tools").get_by_role("link", name="Four weeks").click()
    page.wait_for_url(re.compile(rf"/admin/dashboard/product/{sp.pk}/chart/"))
    chart = page.locator("svg.product-chart")
    assert chart.locator("circle.stock").count() == 28
    assert chart.locator("rect.sold").count() == 2
    assert chart.locator("circle.price-change").count() == 2
    box = chart.bounding_box()
    assert box["width"] > 600
    assert box["height"] > 300
    # Styled by charts.css (no inline style): the price line is green, not black.
    colour = chart.locator("path.price").evaluate("e => getComputedStyle(e).stroke")
    assert colour == "rgb(46, 125, 50)"
    shot(page, "product four weeks")

    page.goto("/admin/")
    page.locator('[data-link="delivery-times"]').click()
    page.wait_for_url(re.compile(r"/admin/dashboard/BC01/deliveries/"))
    dots = page.locator("svg.delivery-chart circle.delivery")
    assert dots.count() == len(expected["minutes"])
    assert page.locator("svg.delivery-chart circle.late").count() == 2
    assert page.locator('[data-figure="on-time"]').inner_text() == "1"
    shot(page, "delivery times")
