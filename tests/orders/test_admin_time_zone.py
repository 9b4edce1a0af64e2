"""The admin shows times in the store's local time, and its day filter is the
store's local day (inventory/middleware.py)."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from orders.models import Order
from tests.demo_manager import demo_manager, signed_in
from tests.factories import StoreFactory, UserFactory

pytestmark = pytest.mark.django_db
D = Decimal
LATE_EVENING_UTC = dt.datetime(2026, 11, 24, 17, 30, tzinfo=dt.UTC)


@pytest.fixture
def order(store, stocked, make_shopper) -> Order:
    """An order placed at 01:30 on the 25th in Shanghai (17:30 UTC the 24th)."""
    apples, _ = stocked
    order = make_shopper().order(store, [(apples, "1")])
    Order.objects.filter(pk=order.pk).update(created_at=LATE_EVENING_UTC)
    return order


def day(client, when: str) -> list[str]:
    year, month, day_ = when.split("-")
    response = client.get(
        "/admin/orders/order/",
        {
            "created_at__year": year,
            "created_at__month": str(int(month)),
            "created_at__day": str(int(day_)),
        },
    )
    assert response.status_code == 200
    return [o.number for o in response.context["cl"].result_list]


def test_a_shanghai_manager_finds_the_order_under_its_local_day(store, order):
    assert store.time_zone == "Asia/Shanghai"
    client = signed_in(demo_manager(store))

    assert day(client, "2026-11-25") == [order.number]
    assert day(client, "2026-11-24") == []
    listing = client.get("/admin/orders/order/").content.decode()
    assert "Nov. 25, 2026, 1:30 a.m." in listing
    assert "5:30 p.m." not in listing
    assert "Times in Asia/Shanghai" in listing
    # The date drill-down offers the local day.
    drill = client.get(
        "/admin/orders/order/", {"created_at__year": "2026", "created_at__month": "11"}
    ).content.decode()
    assert "created_at__day=25" in drill
    assert "created_at__day=24" not in drill


def test_the_order_page_shows_local_times(store, order):
    client = signed_in(demo_manager(store))
    page = client.get(f"/admin/orders/order/{order.pk}/change/").content.decode()
    assert "Nov. 25, 2026, 1:30 a.m." in page


def test_a_superuser_reads_the_filtered_stores_zone_or_utc_across_zones(store, order):
    StoreFactory(code="LD01", name="London", time_zone="Europe/London")
    boss = signed_in(UserFactory(is_staff=True, is_superuser=True))

    everywhere = boss.get("/admin/orders/order/").content.decode()
    assert "Times in UTC: the stores are in several time zones" in everywhere
    assert "Nov. 24, 2026, 5:30 p.m." in everywhere

    shanghai = boss.get("/admin/orders/order/", {"store": store.pk}).content.decode()
    assert "Times in Asia/Shanghai" in shanghai
    assert "Nov. 25, 2026, 1:30 a.m." in shanghai


def test_the_zone_ends_with_the_admin_request(store, order):
    """The zone is the admin page's only: the thread serves the next request
    (the API, a job) in UTC again."""
    client = signed_in(demo_manager(store))
    client.get("/admin/orders/order/")
    assert timezone.get_current_timezone_name() == "UTC"
