"""Daily-fresh markdowns: the window, the step from stock against demand, the
floor, and an evening of sales sold down to nothing."""

import datetime as dt
from decimal import Decimal

import pytest

from inventory.models import StockMovement
from inventory.services import stock_receive, stock_sell_in_store
from pricing.markdowns import (
    DayProfile,
    expected_remaining_demand,
    markdown_percent_needed,
    markdown_window,
)
from pricing.models import MarkdownFloor, MarkdownStep, PriceChange, RunTrigger
from pricing.selectors import day_profile, price, stores_in_markdown_window
from pricing.services import store_reprice
from tests.factories import CategoryFactory, ProductFactory, StoreFactory
from tests.pricing.conftest import price_settings

D = Decimal
SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def local(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2025, 6, day, hour, minute, tzinfo=SHANGHAI)


# --- Pure policy ------------------------------------------------------------


@pytest.mark.parametrize(
    ("stock", "expected", "current", "percent"),
    [
        ("10", "12", "0", "0"),  # the pace clears the shelf: no markdown
        ("10", "10", "20", "20"),  # ... and an earlier step stays
        ("11", "10", "0", "10"),  # +10% needed at elasticity 2: 5% -> one 10% step
        ("15", "10", "0", "30"),  # +50%: 25% -> 30%
        ("15", "10", "20", "50"),  # measured at 20% off: 20 + 25 -> 50%
        ("30", "10", "0", "60"),  # +200%: 100% -> capped at the 40% floor
        ("5", "0", "0", "60"),  # nobody wants it: straight to the floor
        ("0", "0", "30", "30"),  # sold out: nothing changes
    ],
)
def test_the_step_follows_stock_against_expected_demand(
    stock, expected, current, percent
):
    needed = markdown_percent_needed(
        stock_left=D(stock),
        expected_demand=D(expected),
        current_percent=D(current),
        elasticity=D("2"),
        step_percent=D("10"),
        floor=D("0.40"),
    )
    assert needed == D(percent)


def test_expected_demand_is_the_rate_now_times_hours_left():
    def expected(recent, today):
        return expected_remaining_demand(
            recent=D(recent),
            recent_hours=D("1"),
            today=D(today),
            hours_open=D("9"),
            hours_left=D("4.5"),
        )

    assert expected("6", "45") == D("27.000")  # the last hour's rate
    assert expected("0", "45") == D("22.500")  # a quiet hour: the day's rate
    assert expected("0", "0") == D("0.000")


@pytest.mark.django_db
def test_the_window_runs_from_the_markdown_hour_to_closing(store):
    store.is_24h = False  # its 08:00-22:00 hours (the factory's are 24)
    store.save(update_fields=["is_24h"])
    starts = dt.time(17)
    assert markdown_window(store=store, starts_at=starts, at=local(3, 16, 59)) is None
    window = markdown_window(store=store, starts_at=starts, at=local(3, 17))
    assert (window.trading_day, window.starts, window.ends, window.day_opens) == (
        dt.date(2025, 6, 3),
        local(3, 17),
        local(3, 22),
        local(3, 8),
    )
    assert window.hours_open(local(3, 17)) == D(9)
    assert window.hours_left(local(3, 20, 30)) == D("1.5")
    assert markdown_window(store=store, starts_at=starts, at=local(3, 22)) is None


@pytest.mark.django_db
def test_a_24_hour_store_marks_down_until_its_trading_day_ends():
    store = StoreFactory(
        code="SH24",
        is_24h=True,
        trading_day_ends_at=dt.time(2),
        time_zone="Asia/Shanghai",
    )
    window = markdown_window(store=store, starts_at=dt.time(20), at=local(4, 1, 30))
    assert (window.trading_day, window.ends, window.day_opens) == (
        dt.date(2025, 6, 3),
        local(4, 2),
        local(3, 2),
    )
    # the default 17:00 to 02:00 window contains 01:30 but not 16:00
    assert stores_in_markdown_window(at=local(4, 1, 30)) == [store.pk]
    assert stores_in_markdown_window(at=local(4, 16)) == []
    price_settings(store, markdown_starts_at=dt.time(12))
    assert stores_in_markdown_window(at=local(4, 16)) == [store.pk]


# --- An evening of sales -----------------------------------------------------


@pytest.fixture
def tofu(store, make_store_product):
    category = CategoryFactory(slug="tofu", name="Tofu")
    product = ProductFactory(
        sku="TOFU", category=category, is_daily_fresh=True, shelf_life_days=1
    )
    return make_store_product(
        product=product, list_price=D("10.00"), unit_cost=D("6.00")
    )


def sell(store_product, quantity: int, at: dt.datetime) -> None:
    """A shopper buys at the shelf price, at ``at`` (the ledger row is dated)."""
    store_product.refresh_from_db()
    movement = stock_sell_in_store(
        store_product=store_product,
        quantity=quantity,
        unit_price=store_product.shelf_price,
    )
    StockMovement.objects.filter(pk=movement.pk).update(created_at=at)


def shoppers(percent_off: Decimal, base: int) -> int:
    """How many buy in half an hour: ``base`` at list price, and a fifth more
    per 10% off (the elasticity of 2 the policy assumes), rounded half up."""
    return int((base * (1 + 2 * percent_off / 100)).to_integral_value())


def evening(store, tofu, provider, *, markdowns: bool, day: int = 3) -> list[tuple]:
    """A trading day: 100 received, 7 an hour sold at list until 17:00 (37
    left), then a slowing evening; every half hour a markdown run (if
    ``markdowns``) and the shoppers of that half hour at the shelf price."""
    stock_receive(store_product=tofu, quantity=100, received_at=local(day, 7, 30))
    for slot in range(18):  # 08:00 to 16:30: 3 and 4 alternately
        sell(tofu, 3 + slot % 2, local(day, 8, 10) + dt.timedelta(minutes=30 * slot))
    trajectory = []
    for slot, base in enumerate([4, 4, 4, 3, 3, 3, 2, 2, 2, 2]):
        at = local(day, 17) + dt.timedelta(minutes=30 * slot)
        if markdowns:
            store_reprice(
                store=store, trigger=RunTrigger.MARKDOWN, now=at, provider=provider
            )
        tofu.refresh_from_db()
        percent = (1 - tofu.shelf_price / tofu.list_price) * 100
        wanted = min(shoppers(percent, base), int(tofu.on_hand))
        trajectory.append((at.strftime("%H:%M"), tofu.shelf_price, wanted))
        if wanted:
            sell(tofu, wanted, at + dt.timedelta(minutes=10))
    tofu.refresh_from_db()
    return trajectory


@pytest.mark.django_db
def test_without_markdowns_the_evening_leaves_waste(store, tofu, clear_weather):
    evening(store, tofu, clear_weather, markdowns=False)
    assert tofu.on_hand == D("8.000")


@pytest.mark.django_db
def test_an_evening_of_markdowns_sells_daily_fresh_out_above_the_floor(
    store, tofu, clear_weather
):
    trajectory = evening(store, tofu, clear_weather, markdowns=True)

    assert tofu.on_hand == 0
    assert trajectory == [
        ("17:00", D("9.00"), 5),  # 37 left, 35 expected at 7/h: one 10% step
        ("17:30", D("9.00"), 5),
        ("18:00", D("9.00"), 5),
        ("18:30", D("9.00"), 4),
        ("19:00", D("9.00"), 4),
        ("19:30", D("9.00"), 4),
        ("20:00", D("9.00"), 2),
        ("20:30", D("9.00"), 2),
        ("21:00", D("6.00"), 4),  # 6 left, 4 expected: 10 + 25 -> 40% off
        ("21:30", D("6.00"), 2),
    ]
    steps = MarkdownStep.objects.filter(store_product=tofu).order_by("decided_at")
    assert [(s.percent, s.stock_left, s.expected_demand) for s in steps] == [
        (D("10.00"), D("37.000"), D("35.000")),
        (D("40.00"), D("6.000"), D("4.000")),
    ]
    changes = PriceChange.objects.filter(store_product=tofu).order_by("changed_at")
    assert [(c.kind, c.new_price, c.reasons) for c in changes] == [
        ("markdown", D("9.00"), ["markdown 10% off list"]),
        ("markdown", D("6.00"), ["markdown 40% off list"]),
    ]
    # the engine read gives the shelf price at any moment of the evening
    assert price(store, tofu, local(3, 21, 45)).amount == D("6.00")
    assert price(store, tofu, local(3, 20, 45)).amount == D("9.00")


def test_a_day_profile_weighs_hours_by_their_share_of_demand():
    flat = DayProfile(shares=[1 / 24] * 24, tz=SHANGHAI)
    assert flat.hours(local(3, 17, 30), local(3, 22)) == D("4.5000")
    evening_shares = [0.0] * 24
    evening_shares[17], evening_shares[18], evening_shares[21] = 0.5, 0.25, 0.25
    profile = DayProfile(shares=evening_shares, tz=SHANGHAI)
    # half of 17:00 (half of 12 hour-equivalents) and all of 18:00 (6); 19:00
    # and 20:00 sold nothing
    assert profile.hours(local(3, 17, 30), local(3, 21)) == D("12.0000")
    assert profile.hours(local(3, 21), local(3, 21, 15)) == D("1.5000")
    assert profile.hours(local(3, 22), local(3, 21)) == D("0.0000")


@pytest.mark.django_db
def test_the_day_profile_counts_what_was_wanted_by_local_hour(
    store, tofu, make_store_product
):
    from inventory.services import ReservationLine, stock_reserve

    rice = make_store_product(product=ProductFactory(sku="RICE"))
    assert day_profile(store=store, before=local(4, 0)) is None  # no history
    stock_receive(store_product=rice, quantity=200, received_at=local(2, 7))
    sell(rice, 60, local(2, 9, 15))
    sell(rice, 30, local(3, 18, 40))
    stock_reserve(
        lines=[ReservationLine(store_product=rice, quantity=10)], reference="APP-1"
    )
    StockMovement.objects.filter(kind="reserve").update(created_at=local(3, 18, 5))
    sell(rice, 99, local(4, 18))  # today: not history
    # daily fresh sells at markdown pace in the evening: not the store's hours
    stock_receive(store_product=tofu, quantity=500, received_at=local(2, 7))
    sell(tofu, 400, local(3, 20))

    profile = day_profile(store=store, before=local(4, 0))

    # 60 at 09:00 and 30 sold + 10 reserved at 18:00, of 100
    assert {h: round(s, 3) for h, s in enumerate(profile.shares) if s} == {
        9: 0.6,
        18: 0.4,
    }
    sell(rice, 1, dt.datetime(2025, 5, 6, 9, tzinfo=SHANGHAI))  # 29 days before
    assert day_profile(store=store, before=local(4, 0)).shares[9] == 0.6


@pytest.mark.django_db
def test_yesterdays_evening_makes_tonights_markdown_earlier_and_deeper(
    store, tofu, clear_weather, make_store_product
):
    """The evening above, with yesterday's sales of a product never marked
    down (rice, the same slowing day) in the ledger. At 17:00 the flat rate expected
    35 of the 37 left: one 10% step, 6 left to clear at 21:00. Yesterday's
    hours say the 5 hours after 17:00 bring 29 units to the last hour's 7
    (4.14 hour-equivalents): 37 left is +28%, 14% at elasticity 2, two steps
    at once, and the shelf sells out by 21:00 without a 40% cut."""
    rice = make_store_product(product=ProductFactory(sku="RICE"), list_price=D("10.00"))
    evening(store, rice, clear_weather, markdowns=False, day=2)
    trajectory = evening(store, tofu, clear_weather, markdowns=True, day=3)

    assert tofu.on_hand == 0
    assert trajectory == [
        ("17:00", D("8.00"), 6),
        ("17:30", D("8.00"), 6),
        ("18:00", D("8.00"), 6),
        ("18:30", D("8.00"), 4),
        ("19:00", D("8.00"), 4),
        ("19:30", D("8.00"), 4),
        ("20:00", D("8.00"), 3),
        ("20:30", D("8.00"), 3),
        ("21:00", D("8.00"), 1),
        ("21:30", D("8.00"), 0),
    ]
    steps = MarkdownStep.objects.filter(store_product=tofu)
    assert [(s.percent, s.stock_left, s.expected_demand) for s in steps] == [
        (D("20.00"), D("37.000"), D("29.000")),
    ]


@pytest.mark.django_db
def test_a_markdown_never_goes_under_the_category_floor(store, tofu, clear_weather):
    MarkdownFloor.objects.create(
        store=store, category=tofu.product.category, floor=D("0.55")
    )
    stock_receive(store_product=tofu, quantity=50, received_at=local(3, 7, 30))
    sell(tofu, 1, local(3, 9))  # one sale all day, 49 left at 20:00
    store_reprice(
        store=store,
        trigger=RunTrigger.MARKDOWN,
        now=local(3, 20),
        provider=clear_weather,
    )
    tofu.refresh_from_db()
    assert tofu.shelf_price == D("5.50")
    assert PriceChange.objects.get(store_product=tofu).reasons == [
        "markdown 45% off list",
        "markdown floor (55% of list)",
    ]


@pytest.mark.django_db
def test_the_next_morning_returns_to_the_rules_price_at_once(
    store, tofu, clear_weather
):
    stock_receive(store_product=tofu, quantity=20, received_at=local(3, 7, 30))
    store_reprice(
        store=store,
        trigger=RunTrigger.MARKDOWN,
        now=local(3, 21),
        provider=clear_weather,
    )
    tofu.refresh_from_db()
    assert tofu.shelf_price == D("4.00")  # nothing sold all day: the floor
    store_reprice(store=store, now=local(4, 8), provider=clear_weather)
    tofu.refresh_from_db()
    # back to list without the 10% step limit: it is the next day's tofu
    assert tofu.shelf_price == D("10.00")
    assert PriceChange.objects.filter(store_product=tofu).count() == 2
