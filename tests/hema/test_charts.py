"""The chart pages: a store product's four weeks (sales, stock on hand, shelf
price, forecast) and a store's delivery times (promised against actual), each
checked against known rows, and refused for another store's manager."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal as D

import pytest
from django.urls import reverse
from django.utils import timezone

from hema.dashboard.delivery_times import delivery_chart_svg, delivery_day
from hema.dashboard.product_chart import product_chart_svg
from hema.dashboard.product_history import product_history
from tests.conftest import requires_postgres
from tests.demo_manager import demo_manager, signed_in
from tests.factories import StoreFactory
from tests.hema.chart_rows import delivery_day_rows, product_weeks

pytestmark = [requires_postgres, pytest.mark.django_db]

DAY = dt.timedelta(days=1)
KNOWN_DAY = dt.date(2026, 3, 10)


@pytest.fixture
def stores():
    return (
        StoreFactory(code="CH01", is_24h=False),
        StoreFactory(code="CH02", is_24h=False),
    )


def _marks(svg: str, css: str, key: str = "day") -> dict[str, str]:
    """``data-<key>`` to ``data-value`` of the shapes of class ``css``..."""
    found = re.findall(
        rf'class="{css}[^"]*"[^>]*data-{key}="([^"]+)" data-value="([^"]+)"', svg
    )
    return dict(found)


def test_the_product_history_of_known_rows(stores):
    store, _ = stores
    now = timezone.now()
    sp, expected = product_weeks(store, now)

    history = product_history(store_product=sp, now=now)

    assert history.first == expected["first"]
    assert history.last == expected["today"] + DAY  # the forecast's day ahead
    by_day = {f.day: f for f in history.days}
    assert len(history.days) == 29
    for day, value in expected["on_hand"].items():
        assert by_day[day].on_hand == D(value), day
    assert by_day[expected["today"] + DAY].on_hand is None  # no stock ahead
    assert {f.day: f.sold for f in history.days if f.sold is not None} == {
        day: D(v) for day, v in expected["sold"].items()
    }
    assert by_day[expected["today"] - DAY].sold_out
    assert {f.day: f.forecast for f in history.days if f.forecast is not None} == {
        day: D(v) for day, v in expected["forecast"].items()
    }
    assert [p for _, p in history.prices] == [D("12.00"), D("11.00"), D("9.50")]
    assert history.prices[0][0] == history.start
    assert [(m, str(p)) for m, p in history.prices[1:]] == expected["price_changes"]


def test_the_product_chart_draws_each_point(stores):
    store, _ = stores
    now = timezone.now()
    sp, expected = product_weeks(store, now)
    svg = product_chart_svg(
        product_history(store_product=sp, now=now),
        unit="pieces",
        currency="CNY",
        title="chart",
    )

    sold = _marks(svg, "sold")
    assert sold == {str(day): v for day, v in expected["sold"].items()}
    assert svg.count('class="sold sold-out"') == 1
    stock = _marks(svg, "stock")
    assert len(stock) == 28  # every day of the four weeks, none ahead
    for day, value in expected["on_hand"].items():
        assert stock[str(day)] == value
    assert _marks(svg, "forecast") == {
        str(day): v for day, v in expected["forecast"].items()
    }
    changes = _marks(svg, "price-change", key="at")
    assert sorted(changes.values()) == ["11.00", "9.50"]
    assert '<path class="price"' in svg


def test_the_product_page_is_linked_and_scoped(stores):
    store, other = stores
    sp, expected = product_weeks(store, timezone.now())
    theirs, _ = product_weeks(other, timezone.now())
    client = signed_in(demo_manager(store))
    url = reverse("admin:dashboard_product_chart", args=[sp.pk])

    change = client.get(reverse("admin:inventory_storeproduct_change", args=[sp.pk]))
    assert url in change.content.decode()
    page = client.get(url)
    assert page.status_code == 200
    body = page.content.decode()
    assert 'class="product-chart"' in body
    assert body.count('<circle class="stock') == 28
    received = expected["today"] - 2 * DAY
    assert f'data-day="{received}" data-value="45.000"' in body
    assert "charts.css" in body

    refused = client.get(reverse("admin:dashboard_product_chart", args=[theirs.pk]))
    assert refused.status_code == 403
    missing = client.get(reverse("admin:dashboard_product_chart", args=[999999]))
    assert missing.status_code == 404


def test_the_delivery_day_of_known_rows(stores):
    store, other = stores
    expected = delivery_day_rows(store, KNOWN_DAY)
    delivery_day_rows(other, KNOWN_DAY)  # another store's day must not leak in

    day = delivery_day(store=store, day=KNOWN_DAY)

    assert {d.reference: str(d.minutes_late) for d in day.deliveries} == (
        expected["minutes"]
    )
    assert [d.on_time for d in day.deliveries] == [True, False, False]
    assert day.on_time == 1
    assert day.rate == 33.3
    assert day.median_late == 7.5
    assert day.worst_late == 45.0
    svg = delivery_chart_svg(day)
    dots = dict(re.findall(r'data-reference="([^"]+)" data-minutes="([^"]+)"', svg))
    assert dots == expected["minutes"]
    assert svg.count('class="delivery late"') == 2
    assert svg.count('class="delivery on-time"') == 1
    assert svg.count('<line class="on-time"') == 1
    # The on-time line sits below both late dots and above the early one.
    line_y = float(re.search(r'<line class="on-time"[^>]* y1="([\d.]+)"', svg)[1])
    ys = {
        ref: float(cy)
        for cy, ref in re.findall(
            r'cy="([\d.]+)" r="3.5" data-reference="([^"]+)"', svg
        )
    }
    late, very_late = (f.reference for f in expected["late"])
    assert (
        ys[very_late]
        < ys[late]
        < line_y
        < min(y for ref, y in ys.items() if ref not in {late, very_late})
    )


def test_a_day_without_deliveries_says_so(stores):
    store, _ = stores
    day = delivery_day(store=store, day=KNOWN_DAY)
    assert day.deliveries == []
    assert day.rate is None
    assert "No deliveries made this day." in delivery_chart_svg(day)


def test_the_delivery_page_is_linked_and_scoped(stores):
    store, other = stores
    expected = delivery_day_rows(store, KNOWN_DAY)
    client = signed_in(demo_manager(store))
    url = reverse("admin:dashboard_delivery_chart", args=["CH01"])

    dashboard = client.get(reverse("admin:index")).content.decode()
    assert url in dashboard
    fulfilments = client.get(reverse("admin:delivery_fulfilment_changelist"))
    assert url in fulfilments.content.decode()

    page = client.get(url, {"day": KNOWN_DAY.isoformat()})
    assert page.status_code == 200
    body = page.content.decode()
    assert re.search(r'data-figure="delivered">3<', body)
    assert re.search(r'data-figure="on-time">1<', body)
    for reference in expected["minutes"]:
        assert f'data-reference="{reference}"' in body

    bad = client.get(url, {"day": "10/03/2026"})
    assert bad.status_code == 400
    assert b"day" in bad.content
    refused = client.get(
        reverse("admin:dashboard_delivery_chart", args=["CH02"]),
        {"day": KNOWN_DAY.isoformat()},
    )
    assert refused.status_code == 403
    assert other.code not in client.get(url).content.decode()
