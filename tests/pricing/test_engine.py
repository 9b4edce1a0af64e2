"""The pure engine: factors, scope resolution, limits, rounding, markdowns."""

import datetime as dt
from decimal import Decimal

import pytest

from inventory.weather import WeatherSnapshot
from pricing.engine import (
    Factor,
    Limits,
    Markdown,
    ProductRules,
    RuleBook,
    ScopeFactors,
    WeatherRule,
    compute_price,
    round_to_step,
    weather_class,
)

D = Decimal
HOUR = dt.datetime(2025, 6, 7, 10, tzinfo=dt.UTC)
LIMITS = Limits(
    min_margin=D("0.05"), max_uplift=D("1.20"), max_step=D("0.10"), price_step=D("0.10")
)


def snapshot(condition="clear", temperature="20.0", precipitation="0.00"):
    return WeatherSnapshot(
        hour=HOUR,
        temperature=D(temperature),
        precipitation=D(precipitation),
        condition=condition,
        source="observation",
    )


def rules(
    *,
    weekday=None,
    hour=None,
    weather=(),
    exempt=False,
    never_above_list=False,
    limits=LIMITS,
):
    return ProductRules(
        weekday=5,
        hour=18,
        limits=limits,
        weekday_factor=Factor(D(weekday), "store") if weekday else None,
        hour_factor=Factor(D(hour), "category fruit") if hour else None,
        weather_rules=tuple(weather),
        exempt_from_weather_raise=exempt,
        never_above_list=never_above_list,
    )


RAIN_UP = WeatherRule("rain", D("1.05"), "store")


def test_no_rules_is_the_list_price():
    result = compute_price(D("12.80"), D("8.00"), rules(), None, None, D("12.80"))
    assert (result.amount, result.reasons, result.kind) == (
        D("12.80"),
        ("list price",),
        "rules",
    )


def test_weekday_hour_and_weather_multiply_then_round_to_the_step():
    result = compute_price(
        D("10.00"),
        D("2.00"),
        rules(weekday="1.10", hour="0.90", weather=[RAIN_UP]),
        snapshot("rain", precipitation="1.20"),
        None,
        None,
    )
    # 10.00 x 1.10 x 0.90 x 1.05 = 10.395 -> 10.40 at a 0.10 step
    assert result.amount == D("10.40")
    assert result.reasons == (
        "weekday Sat x1.1 (store)",
        "hour 18:00 x0.9 (category fruit)",
        "rain x1.05 (store)",
    )


def test_weather_rules_match_only_their_conditions():
    hot = WeatherRule("hot", D("1.10"), "store", threshold=D("30.0"))
    cold = WeatherRule("cold", D("0.90"), "store", threshold=D("5.0"))
    snow = WeatherRule("snow", D("1.20"), "store")
    book = rules(weather=[RAIN_UP, hot, cold, snow])

    def amount(weather):
        return compute_price(D("10.00"), D("1.00"), book, weather, None, None).amount

    assert amount(snapshot("clear", "30.0")) == D("10.00")  # not above 30
    assert amount(snapshot("clear", "30.1")) == D("11.00")
    assert amount(snapshot("cloudy", "4.9")) == D("9.00")
    assert amount(snapshot("snow", "-2.0", "3.00")) == D("10.80")  # x1.2 x0.9
    assert amount(snapshot("cloudy", "12.0", "0.30")) == D("10.50")  # wet hour
    assert amount(None) == D("10.00")  # neutral weather


@pytest.mark.parametrize(
    ("value", "step", "expected"),
    [
        ("10.35", "0.10", "10.40"),
        ("10.349", "0.10", "10.30"),
        ("10.344", "0.01", "10.34"),
        ("10.345", "0.01", "10.35"),
        ("10.74", "0.50", "10.50"),
        ("10.75", "0.50", "11.00"),
    ],
)
def test_round_to_step_half_up(value, step, expected):
    assert round_to_step(D(value), D(step)) == D(expected)


def test_an_extreme_raise_stops_at_the_ceiling():
    result = compute_price(
        D("10.00"), D("2.00"), rules(weekday="10", hour="10"), None, None, None
    )
    assert result.amount == D("12.00")
    assert result.reasons[-1] == "ceiling (list x1.2)"


def test_an_extreme_cut_stops_at_the_margin_floor():
    # floor = 8.00 x 1.05 = 8.40
    result = compute_price(
        D("12.80"), D("8.00"), rules(weekday="0.01"), None, None, None
    )
    assert result.amount == D("8.40")
    assert result.reasons[-1] == "margin floor (cost +5%)"


def test_a_floor_between_steps_rounds_up_never_below():
    # floor = 8.03 x 1.05 = 8.4315; half-up at 0.10 would give 8.40 (< floor)
    result = compute_price(D("12.80"), D("8.03"), rules(hour="0.01"), None, None, None)
    assert result.amount == D("8.50")


def test_a_list_price_below_the_margin_is_kept_not_raised():
    # cost 6.00: the margin floor 6.30 is above list; rules never go below list
    lowered = compute_price(
        D("5.00"), D("6.00"), rules(weekday="0.5"), None, None, None
    )
    assert lowered.amount == D("5.00")
    plain = compute_price(D("5.00"), D("6.00"), rules(), None, None, None)
    assert plain.amount == D("5.00")


def test_the_step_limit_is_measured_from_the_previous_price():
    up = compute_price(
        D("10.00"), D("2.00"), rules(weekday="1.5"), None, None, D("10.00")
    )
    assert up.amount == D("11.00")
    assert up.reasons[-1] == "step limit +10%"
    down = compute_price(
        D("10.00"), D("2.00"), rules(weekday="0.5"), None, None, D("10.00")
    )
    assert down.amount == D("9.00")
    assert down.reasons[-1] == "step limit -10%"
    first = compute_price(D("10.00"), D("2.00"), rules(weekday="0.5"), None, None, None)
    assert first.amount == D("5.00")


def test_floor_and_ceiling_win_over_the_step_limit():
    # previous 11.00 and factor 0.5: the step allows 9.90, the floor is 10.29
    result = compute_price(
        D("12.00"), D("9.80"), rules(weekday="0.5"), None, None, D("11.00")
    )
    assert result.amount == D("10.30")
    assert result.reasons == (
        "weekday Sat x0.5 (store)",
        "step limit -10%",
        "margin floor (cost +5%)",
    )
    # previous 20.00 (list since lowered): the step allows 18.00, the ceiling 12.00
    capped = compute_price(D("10.00"), D("2.00"), rules(), None, None, D("20.00"))
    assert capped.amount == D("12.00")


def test_exempt_staples_are_never_raised_by_weather_but_may_be_lowered():
    hot_cut = WeatherRule("hot", D("0.90"), "store", threshold=D("30.0"))
    rain_up = WeatherRule("rain", D("1.50"), "store")
    result = compute_price(
        D("10.00"),
        D("2.00"),
        rules(weather=[hot_cut, rain_up], exempt=True),
        snapshot("storm", "33.0", "20.00"),
        None,
        D("10.00"),
    )
    assert result.amount == D("9.00")
    assert result.reasons == (
        "hot >30.0°C x0.9 (store)",
        "exempt: rain x1.5 not applied",
    )


def test_exempt_staples_under_an_extreme_storm_keep_their_price():
    result = compute_price(
        D("4.50"),
        D("3.00"),
        rules(weather=[WeatherRule("rain", D("10"), "store")], exempt=True),
        snapshot("rain", precipitation="80.00"),
        None,
        D("4.50"),
    )
    assert result.amount == D("4.50")


def test_never_above_list_caps_every_raise():
    result = compute_price(
        D("10.00"),
        D("2.00"),
        rules(weekday="1.10", never_above_list=True),
        None,
        None,
        D("10.00"),
    )
    assert result.amount == D("10.00")
    assert "exempt: never above list price" in result.reasons


def test_no_step_fits_between_floor_and_ceiling_keeps_the_list_price():
    tight = Limits(
        min_margin=D("0.05"), max_uplift=D("1"), max_step=D("0.1"), price_step=D("0.10")
    )
    # floor 9.57 x 1.05 = 10.0485, ceiling 10.05: no multiple of 0.10 between
    result = compute_price(
        D("10.05"), D("9.57"), rules(weekday="0.5", limits=tight), None, None, None
    )
    assert result.amount == D("10.05")
    assert (
        result.reasons[-1] == "no 0.10 step between floor and ceiling: list price kept"
    )


def test_a_markdown_ignores_the_margin_floor_and_the_step_limit():
    result = compute_price(
        D("20.00"),
        D("15.00"),
        rules(),
        None,
        Markdown(percent=D("50"), floor=D("0.40")),
        D("20.00"),
    )
    assert (result.amount, result.kind) == (D("10.00"), "markdown")
    assert result.reasons == ("markdown 50% off list",)


def test_a_markdown_never_goes_below_its_floor():
    result = compute_price(
        D("19.90"),
        D("15.00"),
        rules(),
        None,
        Markdown(percent=D("70"), floor=D("0.40")),
        D("19.90"),
    )
    # 40% of 19.90 = 7.96, rounded up to the 0.10 step
    assert result.amount == D("8.00")
    assert result.reasons == (
        "markdown 70% off list",
        "markdown floor (40% of list)",
    )


def test_a_markdown_never_raises_a_lower_rules_price():
    result = compute_price(
        D("20.00"),
        D("1.00"),
        rules(hour="0.5"),
        None,
        Markdown(percent=D("10"), floor=D("0.40")),
        None,
    )
    assert (result.amount, result.kind) == (D("10.00"), "rules")


def test_the_engine_is_deterministic():
    args = (
        D("13.30"),
        D("7.10"),
        rules(weekday="1.07", hour="0.93", weather=[RAIN_UP]),
        snapshot("rain", precipitation="0.50"),
        Markdown(percent=D("10"), floor=D("0.5")),
        D("13.00"),
    )
    assert len({compute_price(*args) for _ in range(5)}) == 1


# --- Scope resolution ---------------------------------------------------------


def book() -> RuleBook:
    """Store: Sat x1.10, 18:00 x1.05, rain x1.10. Category 1 (fruit): Sat x0.95.
    Product 10: 18:00 x1.20, rain x1.00 (no rain raise for it)."""
    return RuleBook(
        limits=LIMITS,
        store_rule=ScopeFactors(
            "store",
            weekday={5: D("1.10")},
            hour={18: D("1.05")},
            weather={"rain": (D("1.10"), None)},
        ),
        category_rules={1: ScopeFactors("category fruit", weekday={5: D("0.95")})},
        product_rules={
            10: ScopeFactors(
                "product APL", hour={18: D("1.20")}, weather={"rain": (D("1.00"), None)}
            )
        },
    )


def test_the_narrowest_scope_wins_per_factor_and_the_winners_multiply():
    rule_book = book()
    own = rule_book.for_product(product_id=10, category_id=1, weekday=5, hour=18)
    assert own.weekday_factor == Factor(D("0.95"), "category fruit")
    assert own.hour_factor == Factor(D("1.20"), "product APL")
    assert own.weather_rules == (WeatherRule("rain", D("1.00"), "product APL"),)

    sibling = rule_book.for_product(product_id=11, category_id=1, weekday=5, hour=18)
    assert sibling.weekday_factor == Factor(D("0.95"), "category fruit")
    assert sibling.hour_factor == Factor(D("1.05"), "store")
    assert sibling.weather_rules == (WeatherRule("rain", D("1.10"), "store"),)

    other = rule_book.for_product(product_id=20, category_id=2, weekday=5, hour=18)
    assert other.weekday_factor == Factor(D("1.10"), "store")

    rain = snapshot("rain", precipitation="1.00")
    prices = [
        compute_price(D("10.00"), D("1.00"), r, rain, None, None).amount
        for r in (own, sibling, other)
    ]
    # 10 x 0.95 x 1.20 = 11.40; 10 x 0.95 x 1.05 x 1.10 = 10.97 -> 11.00;
    # 10 x 1.10 x 1.05 x 1.10 = 12.705 -> capped at 12.00
    assert prices == [D("11.40"), D("11.00"), D("12.00")]


def test_a_day_or_hour_without_a_factor_falls_through_to_no_factor():
    quiet = book().for_product(product_id=11, category_id=1, weekday=2, hour=9)
    assert (quiet.weekday_factor, quiet.hour_factor) == (None, None)


def test_exemptions_take_the_narrowest_scope():
    rule_book = book()
    rule_book.exempt_categories[1] = False
    rule_book.exempt_products[10] = True
    own = rule_book.for_product(product_id=10, category_id=1, weekday=5, hour=18)
    sibling = rule_book.for_product(product_id=11, category_id=1, weekday=5, hour=18)
    other = rule_book.for_product(product_id=20, category_id=2, weekday=5, hour=18)
    assert (own.exempt_from_weather_raise, own.never_above_list) == (True, True)
    assert (sibling.exempt_from_weather_raise, sibling.never_above_list) == (
        True,
        False,
    )
    assert other.exempt_from_weather_raise is False


def test_weather_class_is_the_set_of_matching_rules():
    rule_book = book()
    rule_book.store_rule.weather["hot"] = (D("1.05"), D("30.0"))
    assert weather_class(rule_book, None) == ""
    assert weather_class(rule_book, snapshot("clear", "25.0")) == ""
    assert weather_class(rule_book, snapshot("clear", "31.0")) == "hot:30.0"
    assert weather_class(rule_book, snapshot("rain", "31.0", "1.00")) == (
        "hot:30.0,rain:None"
    )


def test_rounding_never_stretches_the_step_limit():
    # +10% from 4.50 is 4.95; half-up to the 0.10 step would be 5.00 (+11.1%)
    result = compute_price(
        D("4.50"), D("3.00"), rules(weekday="1.30"), None, None, D("4.50")
    )
    assert result.amount == D("4.90")
    assert result.reasons == ("weekday Sat x1.3 (store)", "step limit +10%")
    down = compute_price(
        D("4.50"), D("1.00"), rules(weekday="0.50"), None, None, D("4.50")
    )
    assert down.amount == D("4.10")  # -10% is 4.05; half-up 4.10 stays inside
