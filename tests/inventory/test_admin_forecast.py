"""The managers' forecast screens: the chart of a product's forecast against
what sold, the accuracy table, and the read-only runs and forecasts, each
scoped to the manager's stores."""

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.utils import timezone

from inventory.forecast.models import DailySales
from tests.demo_manager import demo_manager, signed_in
from tests.factories import (
    ProductFactory,
    StoreFactory,
    StoreProductFactory,
    StoreStaffFactory,
    UserFactory,
)
from tests.forecast_rows import demand_forecast, forecast_run

pytestmark = pytest.mark.django_db
D = Decimal
ADMIN = "/admin/inventory"


@pytest.fixture
def today(store):
    return timezone.localtime(timezone.now(), store.tz).date()


@pytest.fixture
def other_store():
    return StoreFactory(code="SH02", name="Hema Test Pudong")


@pytest.fixture
def manager_client(client, store):
    user = UserFactory(email="manager@hema.test", is_staff=True)
    StoreStaffFactory(user=user, store=store, role="manager")
    client.force_login(user)
    return client


@pytest.fixture
def other_manager_client(other_store):
    user = UserFactory(email="other@hema.test", is_staff=True)
    StoreStaffFactory(user=user, store=other_store, role="manager")
    return signed_in(user)


@pytest.fixture
def apples(store, today):
    """10 days of sales in the last 4 weeks (one sold out) and one older, a
    week of forecasts ahead and three past one-day-ahead forecasts."""
    sp = StoreProductFactory(store=store, product=ProductFactory(sku="APL001"))
    for back in range(1, 11):
        DailySales.objects.create(
            store_product=sp,
            day=today - dt.timedelta(days=back),
            quantity=D(10 + back),
            sold_out=back == 3,
        )
    DailySales.objects.create(
        store_product=sp, day=today - dt.timedelta(days=40), quantity=D(99)
    )
    run = forecast_run(store, origin=today)
    for ahead in range(7):
        demand_forecast(
            sp,
            today + dt.timedelta(days=ahead),
            D(12 + ahead),
            lower=D(9 + ahead),
            upper=D(15 + ahead),
            run=run,
        )
    for back in (1, 2, 3):
        demand_forecast(
            sp,
            today - dt.timedelta(days=back),
            D(11),
            lower=D(8),
            upper=D(14),
            method="ets",
            run=run,
            made_on=today - dt.timedelta(days=back),
        )
    return sp


def chart_url(sp) -> str:
    return f"{ADMIN}/demandforecast/product/{sp.pk}/"


def points_of(html: str, css: str) -> list[str]:
    match = re.search(rf'<polygon class="{css}" points="([^"]*)"', html)
    assert match, css
    return match.group(1).split()


# --- The chart ------------------------------------------------------------------


def test_chart_draws_sales_forecast_band_and_past_forecasts(manager_client, apples):
    response = manager_client.get(chart_url(apples))

    assert response.status_code == 200
    html = response.content.decode()
    # 10 days sold in the last 4 weeks (the one 40 days ago is left out), one
    # of them sold out; 7 days ahead; 3 past one-day-ahead forecasts
    assert html.count('<circle class="actual') == 10
    assert html.count('<circle class="actual sold-out"') == 1
    assert html.count('<circle class="forecast"') == 7
    assert html.count('<circle class="past"') == 3
    # the 80% band runs along the 7 upper ends and back along the 7 lower ones
    assert len(points_of(html, "band")) == 14
    assert len(points_of(html, "band past")) == 6
    assert response.context["counts"] == {"actual": 10, "ahead": 7, "past": 3}
    # and the figures are in the table too, newest first
    rows = [
        (r.actual, r.forecast, r.band, r.method) for r in response.context["rows"][:8]
    ]
    assert rows[0] == ("-", "18", "15 - 21", "Prophet")
    assert rows[6] == ("-", "12", "9 - 15", "Prophet")
    assert rows[7] == ("11", "11", "8 - 14", "Exponential smoothing")
    assert "11 (sold out)" not in html
    assert "13 (sold out)" in html
    # no inline script or style: the chart is coloured by the static CSS file
    assert "inventory/admin/forecast.css" in html
    svg = html.split("<svg")[1].split("</svg>")[0]
    assert "<script" not in svg
    assert "style=" not in svg


def test_weighed_product_reads_in_kilograms(manager_client, store, today):
    salmon = StoreProductFactory(store=store, product=ProductFactory(sale_unit="kg"))
    demand_forecast(
        salmon,
        today,
        "3.250",
        lower="2.100",
        upper="4.400",
        run=forecast_run(store, origin=today),
    )

    response = manager_client.get(chart_url(salmon))

    [row] = response.context["rows"]
    assert (row.forecast, row.band) == ("3.250 kg", "2.100 kg - 4.400 kg")
    assert "0 kg" in response.content.decode()


def test_store_product_page_links_to_its_chart(manager_client, apples):
    response = manager_client.get(f"{ADMIN}/storeproduct/{apples.pk}/change/")
    assert chart_url(apples) in response.content.decode()


def test_another_stores_manager_is_refused(other_manager_client, apples, store):
    run = forecast_run(store, kind="backtest", origin=apples.created_at.date())

    assert other_manager_client.get(chart_url(apples)).status_code == 403
    assert (
        other_manager_client.get(f"{ADMIN}/demandforecast/product/999999/").status_code
        == 404
    )
    accuracy = f"{ADMIN}/forecastrun/accuracy/?store={store.pk}"
    assert other_manager_client.get(accuracy).status_code == 403
    assert (
        other_manager_client.get(f"{ADMIN}/forecastrun/{run.pk}/change/").status_code
        == 403
    )
    # and their lists hold nothing of the other store
    runs = other_manager_client.get(f"{ADMIN}/forecastrun/")
    forecasts = other_manager_client.get(f"{ADMIN}/demandforecast/")
    assert runs.context["cl"].result_count == 0
    assert forecasts.context["cl"].result_count == 0


def test_staff_without_a_store_cannot_open_a_chart(client, apples):
    user = UserFactory(email="clerk@hema.test", is_staff=True)
    client.force_login(user)
    assert client.get(chart_url(apples)).status_code == 403


# --- The accuracy table ----------------------------------------------------------


BACKTEST_TABLE = {
    "fruit": {
        "actual": 412.0,
        "days": 140,
        "mix_wape": 0.2134,
        "mix_bias": -0.021,
        "prophet_plain_wape": 0.2411,
        "prophet_plain_bias": 0.034,
        "seasonal_naive_wape": 0.3502,
        "seasonal_naive_bias": 0.0,
    },
    "overall": {
        "actual": 900.5,
        "days": 280,
        "mix_wape": 0.1987,
        "mix_bias": -0.012,
        "prophet_plain_wape": 0.2205,
        "prophet_plain_bias": 0.02,
        "seasonal_naive_wape": 0.3121,
        "seasonal_naive_bias": -0.005,
    },
    "seafood": {
        "actual": 488.5,
        "days": 140,
        "mix_wape": 0.1861,
        "mix_bias": -0.004,
        "prophet_plain_wape": 0.2032,
        "prophet_plain_bias": 0.008,
        "seasonal_naive_wape": 0.2801,
        "seasonal_naive_bias": -0.009,
    },
}


def cells(html: str, table_id: str) -> list[list[str]]:
    body = html.split(f'id="{table_id}"')[1].split("</table>")[0]
    body = body.split("<tbody>")[1]
    return [
        [
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    ]


def test_accuracy_table_shows_the_latest_backtest_and_nightly_runs(
    manager_client, store, today
):
    # Given an older backtest, the latest one, and two nightly runs with the
    # accuracy of the day before
    forecast_run(
        store,
        kind="backtest",
        origin=today - dt.timedelta(days=60),
        detail={"table": {"overall": {"mix_wape": 0.9}}},
    )
    forecast_run(
        store,
        kind="backtest",
        origin=today - dt.timedelta(days=28),
        started_at=timezone.now() - dt.timedelta(hours=1),
        series=40,
        detail={
            "weeks": 4,
            "origins": ["2026-10-27", "2026-11-03"],
            "table": BACKTEST_TABLE,
            "methods": {"prophet": 30, "tsb": 10},
        },
    )
    for back, wape, bias in ((1, 0.184, 0.032), (2, 0.201, -0.015)):
        forecast_run(
            store,
            origin=today - dt.timedelta(days=back),
            series=40,
            accuracy_wape=wape,
            accuracy_bias=bias,
            detail={"accuracy": {"day": str(today - dt.timedelta(days=back + 1))}},
        )

    response = manager_client.get(f"{ADMIN}/forecastrun/accuracy/")

    assert response.status_code == 200
    html = response.content.decode()
    # Then the latest backtest: a row per category, overall last, with WAPE and
    # bias for the mix, plain Prophet and seasonal naive
    assert cells(html, "backtest") == [
        ["fruit", "412.0", "140", "21.3%", "-2.1%", "24.1%", "+3.4%", "35.0%", "+0.0%"],
        [
            "seafood",
            "488.5",
            "140",
            "18.6%",
            "-0.4%",
            "20.3%",
            "+0.8%",
            "28.0%",
            "-0.9%",
        ],
        [
            "overall",
            "900.5",
            "280",
            "19.9%",
            "-1.2%",
            "22.1%",
            "+2.0%",
            "31.2%",
            "-0.5%",
        ],
    ]
    assert "Chosen mix" in html
    assert "Plain Prophet" in html
    assert "prophet 30, tsb 10" in html
    # and the nightly runs, newest first, each measuring the day before
    nightly = cells(html, "nightly")
    assert [(r[0], r[3], r[4]) for r in nightly] == [
        (str(today - dt.timedelta(days=2)), "18.4%", "+3.2%"),
        (str(today - dt.timedelta(days=3)), "20.1%", "-1.5%"),
    ]


def test_accuracy_without_runs_says_how_to_get_them(manager_client, store):
    response = manager_client.get(f"{ADMIN}/forecastrun/accuracy/?store={store.pk}")
    html = response.content.decode()
    assert "python manage.py backtest --store SH01 --weeks 4" in html
    assert "No nightly run in the last 28 days." in html
    assert (
        manager_client.get(f"{ADMIN}/forecastrun/accuracy/?store=x").status_code == 404
    )


# --- The read-only lists -----------------------------------------------------------


def test_forecast_list_filters_by_store_method_and_day(
    client, apples, store, other_store, today
):
    theirs = StoreProductFactory(store=other_store)
    demand_forecast(theirs, today, "5", run=forecast_run(other_store, origin=today))
    manager = demo_manager(store, other_store)  # the "Store managers" group
    client = signed_in(manager)

    everything = client.get(f"{ADMIN}/demandforecast/")
    theirs_only = client.get(f"{ADMIN}/demandforecast/?store={other_store.pk}")
    ets = client.get(f"{ADMIN}/demandforecast/?method=ets")
    one_day = client.get(f"{ADMIN}/demandforecast/?day={today.isoformat()}")

    assert everything.status_code == 200
    assert everything.context["cl"].result_count == 11
    assert theirs_only.context["cl"].result_count == 1
    assert ets.context["cl"].result_count == 3
    assert one_day.context["cl"].result_count == 2
    # and nobody adds, changes or deletes a forecast or a run here
    assert client.get(f"{ADMIN}/demandforecast/add/").status_code == 403
    assert client.get(f"{ADMIN}/forecastrun/add/").status_code == 403
    runs = client.get(f"{ADMIN}/forecastrun/")
    assert runs.status_code == 200
    assert 'href="/admin/inventory/forecastrun/accuracy/"' in runs.content.decode()
