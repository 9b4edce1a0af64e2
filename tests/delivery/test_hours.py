"""Opening hours: express and windows are offered only while the store is
open (its local hours), and the windows after closing start at the next
opening."""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from delivery.hours import next_opening, open_through
from delivery.promise import quote
from tests.delivery.conftest import point_east
from tests.delivery.test_promise import on_duty
from tests.factories import StoreFactory

pytestmark = [pytest.mark.django_db, pytest.mark.no_crew]

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 12, day, hour, minute, tzinfo=SHANGHAI)


@pytest.fixture
def daytime_store():
    return StoreFactory(
        is_24h=False,
        opens_at=dt.time(8),
        closes_at=dt.time(22),
        time_zone="Asia/Shanghai",
    )


def test_open_through_and_next_opening_follow_the_local_hours(daytime_store):
    store = daytime_store
    assert open_through(store=store, starts=local(3, 8), ends=local(3, 8, 30))
    assert open_through(store=store, starts=local(3, 21, 30), ends=local(3, 22))
    assert not open_through(store=store, starts=local(3, 21, 45), ends=local(3, 22, 15))
    assert not open_through(store=store, starts=local(3, 7, 45), ends=local(3, 8, 15))
    assert next_opening(store=store, at=local(3, 12)) == local(3, 12)
    assert next_opening(store=store, at=local(3, 6)) == local(3, 8)
    assert next_opening(store=store, at=local(3, 22, 30)) == local(4, 8)
    always = StoreFactory(is_24h=True)
    assert open_through(store=always, starts=local(3, 3), ends=local(3, 3, 30))


def test_late_in_the_evening_express_is_refused_and_the_first_window_is_at_opening(
    daytime_store,
):
    store = daytime_store
    on_duty(store)
    lat, lng = point_east(store, 1.0)

    evening = quote(
        store=store,
        latitude=Decimal(lat),
        longitude=Decimal(lng),
        line_count=1,
        at=local(3, 21, 45).astimezone(dt.UTC),
    )

    assert evening.mode == "slot"
    assert "outside the store's hours" in evening.refused_reason
    assert "closes at 22:00" in evening.refused_reason
    starts = [offer.starts.astimezone(SHANGHAI) for offer in evening.offers]
    assert starts == [local(4, 8), local(4, 8, 30), local(4, 9)]

    midday = quote(
        store=store,
        latitude=Decimal(lat),
        longitude=Decimal(lng),
        line_count=1,
        at=local(3, 12).astimezone(dt.UTC),
    )
    assert midday.mode == "express"
