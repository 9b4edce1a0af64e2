"""The store manager's dashboard: its figures against a known day, who may
see which store, and how many queries a page costs."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal as D

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from hema.dashboard.figures import dashboard_figures
from orders.models import Channel
from tests.conftest import requires_postgres
from tests.demo_manager import demo_manager, signed_in
from tests.factories import StoreFactory
from tests.hema.dashboard_day import build_day

pytestmark = [requires_postgres, pytest.mark.django_db]


def _now(store) -> dt.datetime:
    """15:30 local on Tuesday 10 March 2026."""
    return dt.datetime(2026, 3, 10, 15, 30, tzinfo=store.tz)


@pytest.fixture
def stores():
    here = StoreFactory(code="DA01", is_24h=False)
    there = StoreFactory(code="DA02", is_24h=False)
    return here, there


def test_figures_of_a_known_day(stores):
    store, other = stores
    now = _now(store)
    expected = build_day(store, now)
    build_day(other, now)  # the other store's day must not leak in

    f = dashboard_figures(store=store, now=now)

    sales = f["sales"]
    assert sales["today"]["sales"] == expected["sales"]
    assert sales["today"]["orders"] == expected["orders"]
    assert sales["today"]["by_channel"][Channel.APP]["sales"] == expected["app_sales"]
    assert sales["today"]["by_hour"][9][Channel.APP]["sales"] == D("50.00")
    assert sales["today"]["by_hour"][10][Channel.IN_STORE]["sales"] == D("20.00")
    assert sales["online_share"] == pytest.approx(83.3)
    assert sales["last_week_so_far"]["sales"] == expected["last_week_so_far"]
    assert sales["last_week"]["sales"] == expected["last_week"]
    assert sales["change"] == pytest.approx(200.0)
    # The chart: a bar per hour and channel sold, a dot per hour of last week.
    assert len(re.findall(r"<rect class=\"bar ", f["chart"])) == 5
    assert len(re.findall(r"<circle class=\"dot last-week\"", f["chart"])) == 24

    states = {row["state"]: row["count"] for row in f["orders_by_state"]}
    assert states["paid"] == 5
    assert states["cancelled"] == 1
    assert states["created"] == 1

    assert f["at_risk"]["count"] == 2
    assert f["at_risk"]["late"] == 1
    first, second = f["at_risk"]["items"]
    assert first["order_id"] == expected["late_order"].pk
    assert first["late"]
    assert first["minutes_late"] == 3
    assert second["order_id"] == expected["at_risk_order"].pk
    assert second["minutes_left"] == 5
    assert first["deadline"].utcoffset() == dt.timedelta(hours=8)  # store time

    assert f["late_bags"]["count"] == 1
    assert f["late_bags"]["items"][0]["minutes_late"] == 4
    assert f["timers"]["pack"] == {
        "count": 2,
        "median": 10.0,
        "p90": 12.0,
        "on_target": 1,
    }
    assert f["timers"]["pick"]["median"] == 6.0
    assert f["on_time"] == {"delivered": 2, "on_time": 1, "rate": 50.0}
    assert f["riders_on_shift"] == 0

    assert [i["pk"] for i in f["sold_out"]["items"]] == [expected["sold_out"].pk]
    below = f["below_forecast"]["items"]
    assert [i["pk"] for i in below] == [expected["short"].pk]
    assert below[0]["sold"] == D("4")
    assert below[0]["still_expected"] == D("6")
    assert f["recounts"]["count"] == 1
    assert f["write_offs"] == {"count": 1, "quantity": D("2"), "cost": D("10.00")}
    assert f["markdowns"]["items"][0]["percent"] == D("30")

    assert f["weather"]["now"]["condition"] == "Cloudy"
    assert len(f["weather"]["hours"]) == 3
    assert f["price_changes"]["count"] == 1
    assert f["price_changes"]["items"][0]["reasons"] == "rain +5%"

    jobs = {run["job"]: run for run in f["jobs"]}
    assert jobs["Repricing"]["seconds"] == 2.0
    assert jobs["Stock reconcile"]["failure"] == "database went away"
    assert jobs["Forecast (nightly predict)"]["state"] == "done"

    todos = f["todos"]
    assert todos["replenishment"]["items"][0]["pk"] == expected["draft"].pk
    assert todos["recounts"] == 1
    assert todos["refunds"]["count"] == 0


def test_the_page_shows_the_store_and_links_its_todos(stores):
    store, _other = stores
    expected = build_day(store, timezone.now())
    client = signed_in(demo_manager(store))

    response = client.get(reverse("admin:index"))

    assert response.status_code == 200
    body = response.content.decode()
    assert "DA01" in body
    assert "DA02" not in body
    assert 'class="dash-chart"' in body
    draft_url = reverse(
        "admin:inventory_replenishmentorder_change", args=[expected["draft"].pk]
    )
    assert draft_url in body
    late_url = reverse("admin:orders_order_change", args=[expected["late_order"].pk])
    assert late_url in body
    assert "<script>" not in body
    assert "<style" not in body


def test_json_has_the_same_figures_and_panels(stores):
    store, _ = stores
    build_day(store, timezone.now())
    client = signed_in(demo_manager(store))

    data = client.get(reverse("admin:dashboard_data", args=["da01"])).json()

    assert data["figures"]["store"]["code"] == "DA01"
    assert data["figures"]["at_risk"]["count"] == 2
    assert set(data["panels"]) == {
        "sales",
        "orders",
        "floor",
        "stock",
        "prices",
        "jobs",
        "todos",
    }
    assert "dash-chart" in data["panels"]["sales"]


def test_a_day_looked_back_on_shows_that_day_whole(stores):
    # Given the known day (10 March 2026, up to 15:30) and a manager today
    store, _ = stores
    expected = build_day(store, _now(store))
    client = signed_in(demo_manager(store))

    page = client.get(reverse("admin:index") + "?day=2026-03-10")
    data = client.get(
        reverse("admin:dashboard_data", args=["DA01"]) + "?day=2026-03-10"
    ).json()

    # Then both show that trading day, to its end, and the page refreshes it
    assert page.status_code == 200
    body = page.content.decode()
    assert "Trading day Tue 10 Mar 2026" in body
    assert 'data-url="/admin/dashboard/DA01/data/?day=2026-03-10"' in body
    assert data["figures"]["day"] == "2026-03-10"
    assert D(data["figures"]["sales"]["today"]["sales"]) == expected["sales"]


def test_a_malformed_day_is_400_naming_it(stores):
    store, _ = stores
    client = signed_in(demo_manager(store))

    response = client.get(reverse("admin:index") + "?day=10/03/2026")

    assert response.status_code == 400


def test_another_stores_manager_is_refused(stores):
    _store, other = stores
    client = signed_in(demo_manager(other))

    assert client.get(reverse("admin:index") + "?store=DA01").status_code == 403
    assert client.get(reverse("admin:dashboard_data", args=["DA01"])).status_code == 403
    page = client.get(reverse("admin:index"))
    assert page.status_code == 200
    assert "DA02" in page.content.decode()
    assert "DA01 " not in page.content.decode()


def test_a_manager_of_two_stores_picks_one(stores):
    store, other = stores
    client = signed_in(demo_manager(store, other))

    page = client.get(reverse("admin:index") + "?store=DA02").content.decode()

    assert 'id="dash-store"' in page
    assert re.search(r'<option value="DA02" selected>', page)


def test_the_page_costs_a_fixed_number_of_queries(stores):
    store, _other = stores
    build_day(store, timezone.now())
    client = signed_in(demo_manager(store))
    client.get(reverse("admin:index"))  # warm the content types cache

    with CaptureQueriesContext(connection) as page:
        assert client.get(reverse("admin:index")).status_code == 200
    with CaptureQueriesContext(connection) as data:
        client.get(reverse("admin:dashboard_data", args=["DA01"]))

    # Pinned: a figure added without its query budget shows here.
    assert len(page) == QUERIES_PAGE
    assert len(data) == QUERIES_JSON


# Session, user, scope and store (6), the figures (22), the admin's app list
# (2, the page only).
QUERIES_PAGE = 30
QUERIES_JSON = 28
