"""The demo rail layout, the managers' delivery screens and the 10-minute timers."""

import datetime as dt

import pytest
from django.core.management import call_command
from django.utils import timezone

from delivery.models import (
    Bag,
    Fulfilment,
    PickerShift,
    RailController,
    RailSegment,
    RailStation,
    RecountRequest,
    RiderShift,
)
from delivery.rail import seconds_to_packing
from delivery.selectors import fulfilments_at_risk, pack_times_of_day, percentile
from inventory.models import StoreStaff
from tests.delivery.conftest import claim, short
from tests.factories import (
    StoreFactory,
    StoreStaffFactory,
    UserFactory,
    ZoneFactory,
    zone_where_it_is,
)

pytestmark = pytest.mark.django_db


@pytest.mark.no_crew  # counts the staff the command creates
def test_seed_demo_layout_builds_the_rail_bags_and_staff_once(store):
    # Given the demo store SH01 with three zones
    for n, code in enumerate(["PRODUCE", "SEAFOOD", "MEAT"]):
        ZoneFactory(store=store, code=code, name=code.title(), sort_order=n)

    call_command("seed_demo_layout")
    counts = (
        RailStation.objects.count(),
        RailSegment.objects.count(),
        Bag.objects.count(),
        RailController.objects.count(),
        StoreStaff.objects.count(),
    )
    controller = RailController.objects.get()
    call_command("seed_demo_layout")

    # Then: three hang stations and two packing stations on one line; a picker,
    # a packer and three riders, the picker on duty and the riders on shift, once
    assert counts == (5, 4, 60, 1, 5)
    assert (
        RailStation.objects.count(),
        RailSegment.objects.count(),
        Bag.objects.count(),
        StoreStaff.objects.count(),
    ) == counts[:3] + counts[4:]
    assert RailController.objects.get().secret == controller.secret
    produce = RailStation.objects.get(code="H-PRODUCE")
    pack1 = RailStation.objects.get(code="PACK1")
    assert seconds_to_packing(produce, pack1) == 25 + 25 + 40
    assert sorted(StoreStaff.objects.values_list("role", flat=True)) == [
        "packer",
        "picker",
        "rider",
        "rider",
        "rider",
    ]
    assert RiderShift.objects.filter(ended_at__isnull=True).count() == 3
    assert sorted(RiderShift.objects.values_list("rider__email", flat=True)) == [
        "rider.sh01@hema.demo",
        "rider2.sh01@hema.demo",
        "rider3.sh01@hema.demo",
    ]
    assert PickerShift.objects.get().picker.email == "picker.sh01@hema.demo"


def _fulfilment(floor, shopper, paid_minutes_ago: float, packed_after: float | None):
    order = shopper.order(floor.store, [(floor.apples, "1")])
    paid = timezone.now() - dt.timedelta(minutes=paid_minutes_ago)
    changes = {"paid_at": paid}
    if packed_after is not None:
        changes.update(
            state="packed", packed_at=paid + dt.timedelta(minutes=packed_after)
        )
    Fulfilment.objects.filter(order=order).update(**changes)
    return Fulfilment.objects.get(order=order)


def test_the_day_median_and_90th_percentile_and_orders_at_risk(
    floor, make_shopper, client
):
    # Midday there, whenever the test runs: orders paid half an hour ago are
    # today's (in Shanghai, a run at 16:10 UTC would put them on yesterday).
    floor.store.time_zone = zone_where_it_is(12)
    floor.store.save(update_fields=["time_zone"])
    shopper = make_shopper(balance="500.00")
    packed_minutes = [6, 7, 8, 9, 9, 10, 11, 12, 14, 20]
    for minutes in packed_minutes:
        _fulfilment(floor, shopper, paid_minutes_ago=30, packed_after=minutes)
    late = _fulfilment(floor, shopper, paid_minutes_ago=8, packed_after=None)
    _fulfilment(floor, shopper, paid_minutes_ago=2, packed_after=None)

    stats = pack_times_of_day(store=floor.store)
    assert (stats["count"], stats["median"], stats["p90"], stats["on_target"]) == (
        10,
        9.5,
        14.0,
        6,
    )
    assert list(fulfilments_at_risk()) == [late]
    assert percentile([1, 2, 3, 4], 0.5) == 2

    # The manager's list shows them
    manager = UserFactory(is_staff=True)
    StoreStaffFactory(user=manager, store=floor.store, role="manager")
    client.force_login(manager)
    page = client.get("/admin/delivery/fulfilment/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Paid to packed today" in html
    assert "<td>9.5</td>" in html
    assert "<td>14.0</td>" in html
    at_risk = client.get("/admin/delivery/fulfilment/?timer=at_risk").content.decode()
    assert late.reference in at_risk
    assert at_risk.count(floor.store.code + "-") == 1


def test_a_manager_of_another_store_sees_nothing_of_this_one(floor, shopper, client):
    fulfilment = _fulfilment(floor, shopper, paid_minutes_ago=1, packed_after=None)
    other = UserFactory(is_staff=True)
    StoreStaffFactory(user=other, store=StoreFactory(code="SH02"), role="manager")
    client.force_login(other)

    listing = client.get("/admin/delivery/fulfilment/")
    detail = client.get(f"/admin/delivery/fulfilment/{fulfilment.pk}/change/")

    assert listing.status_code == 200
    assert fulfilment.reference not in listing.content.decode()
    assert detail.status_code == 403


def test_a_shelf_found_short_is_on_the_managers_recount_list(
    floor, shopper, picker, client
):
    shopper.order(floor.store, [(floor.apples, "1")], substitution="none")
    task = claim(picker, floor.store, "PRODUCE").json()
    short(picker, floor.store, task, task["lines"][0], reason="empty shelf")
    manager = UserFactory(is_staff=True)
    StoreStaffFactory(user=manager, store=floor.store, role="manager")
    client.force_login(manager)

    page = client.get("/admin/delivery/recountrequest/?resolved_at__isempty=1")
    assert floor.apples.product.sku in page.content.decode()
    done = client.post(
        "/admin/delivery/recountrequest/",
        {
            "action": "mark_recounted",
            "_selected_action": [RecountRequest.objects.get().pk],
        },
    )

    assert done.status_code == 302
    assert RecountRequest.objects.get().resolved_at is not None


def test_staff_idempotency_keys_are_forgotten_after_24_hours(floor, picker):
    from delivery.models import StaffIdempotencyKey
    from delivery.tasks import purge_staff_idempotency_keys_task

    claim(picker, floor.store, "PRODUCE", key="old")
    claim(picker, floor.store, "PRODUCE", key="new")
    StaffIdempotencyKey.objects.filter(key="old").update(
        created_at=timezone.now() - dt.timedelta(hours=25)
    )

    assert purge_staff_idempotency_keys_task.delay().get() == 1
    assert list(StaffIdempotencyKey.objects.values_list("key", flat=True)) == ["new"]
