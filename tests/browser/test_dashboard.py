"""The store dashboard in a real browser (Debian's Chromium): a one-store
manager signs in to it, sees its charts drawn, approves a replenishment draft
from its to-dos, opens a late order, and is refused the other store.

The day is built from rows (``tests.hema.dashboard_day``) around the moment
the test runs, for SH-like stores DB01 (managed) and DB02 (not).
"""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from inventory.forecast.models import ReplenishmentOrder, ReplenishmentState
from tests.conftest import requires_postgres
from tests.demo_manager import PASSWORD, demo_manager
from tests.factories import StoreFactory, zone_where_it_is
from tests.hema.dashboard_day import build_day

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    requires_postgres,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def day():
    # Half past three in the afternoon there, whenever the test runs: the day
    # is built at fixed local hours up to 15:30.
    zone = zone_where_it_is(15, 30)
    store = StoreFactory(
        code="DB01", name="Dashboard store", is_24h=False, time_zone=zone
    )
    other = StoreFactory(code="DB02", name="Other store", is_24h=False, time_zone=zone)
    now = timezone.now()
    expected = build_day(store, now)
    build_day(other, now)
    user = demo_manager(store)
    return {"store": store, "other": other, "user": user, **expected}


def sign_in(page, user) -> None:
    page.goto("/admin/login/")
    page.fill("#id_username", user.email)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(r"/admin/$"))


def test_manager_sees_the_dashboard_with_its_charts(page, shot, day):
    sign_in(page, day["user"])
    page.wait_for_selector("#dashboard svg.dash-chart")
    shot(page, "dashboard")
    assert "DB01" in page.locator(".dash-head h1").inner_text()
    # The chart is drawn: bars for today's hours sold, a dot per hour of last week.
    assert page.locator("svg.dash-chart rect.bar").count() >= 3
    assert page.locator("svg.dash-chart circle.last-week").count() == 24
    box = page.locator("svg.dash-chart").bounding_box()
    assert box["width"] > 300
    assert box["height"] > 80
    assert page.locator('[data-figure="at-risk"]').inner_text() == "2"
    assert page.locator('[data-figure="late-bags"]').inner_text() == "1"
    # The refresh swaps the panels in from the JSON without reloading.
    page.evaluate("document.getElementById('dashboard').hemaRefresh()")
    page.wait_for_selector("#dashboard[data-refreshed]")
    assert page.locator("svg.dash-chart rect.bar").count() >= 3
    assert not page.locator("#dashboard.stale").count()
    shot(page, "dashboard refreshed")


def test_manager_approves_a_replenishment_draft(page, shot, day):
    sign_in(page, day["user"])
    draft = day["draft"]
    page.locator(".dash-todos").get_by_role("link", name=re.compile("delivery")).click()
    page.wait_for_url(
        re.compile(rf"/admin/inventory/replenishmentorder/{draft.pk}/change/")
    )
    shot(page, "draft")
    page.locator(".object-tools").get_by_role("link", name="Approve").click()
    shot(page, "approve confirmation")
    page.locator("#content form [type=submit]").first.click()
    page.wait_for_url(
        re.compile(rf"/admin/inventory/replenishmentorder/{draft.pk}/change/")
    )
    shot(page, "approved")
    draft.refresh_from_db()
    assert draft.state == ReplenishmentState.APPROVED
    assert draft.approved_by_id == day["user"].pk
    page.goto("/admin/")
    assert page.locator('[data-figure="todo-replenishment"]').inner_text() == "0"
    assert (
        ReplenishmentOrder.objects.filter(state="draft", store=day["store"]).count()
        == 0
    )
    shot(page, "dashboard after approval")


def test_manager_opens_a_late_order(page, shot, day):
    sign_in(page, day["user"])
    late = day["late_order"]
    page.locator(".dash-orders li.late").get_by_role(
        "link", name=late.number
    ).first.click()
    page.wait_for_url(re.compile(rf"/admin/orders/order/{late.pk}/change/"))
    assert late.number in page.locator("#content").inner_text()
    shot(page, "late order")


def test_manager_cannot_see_the_other_store(page, shot, day):
    sign_in(page, day["user"])
    response = page.goto("/admin/?store=DB02")
    assert response.status == 403
    shot(page, "other store refused")
    response = page.goto("/admin/dashboard/DB02/data/")
    assert response.status == 403
    page.goto("/admin/")
    assert not page.locator("#dash-store").count()  # no picker: one store
    assert "DB02" not in page.locator("#dashboard").inner_text()
    shot(page, "own store only")
