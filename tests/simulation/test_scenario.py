"""Scenario files: the examples parse, and a file with an error is refused
naming the line at fault (syntax errors from tomllib, meaning errors from the
key's own line)."""

import random
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from simulation.scenario import ScenarioError, scenario_load, scenario_parse
from simulation.shoppers import (
    Shelf,
    basket_pick,
    category_weights,
    in_store_weights,
    price_reaction,
)

SCENARIOS = Path(__file__).resolve().parents[2] / "simulation" / "scenarios"

GOOD = """\
name = "tiny"
weather = "recorded"
[store]
code = "st01"
start = 2026-03-02
[day]
opens = 17
closes = 19
[arrivals.in_store]
17 = 10
18 = 5
[arrivals.app]
17 = 4
[[events]]
kind = "picker_absent"
day = 1
from = 17
to = 18
"""


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_the_example_scenarios_parse():
    demo = scenario_load(SCENARIOS / "demo.toml")
    ci = scenario_load(SCENARIOS / "ci_slice.toml")
    assert (demo.store, demo.days, demo.opens, demo.closes) == ("SH01", 2, 8, 22)
    assert demo.start is None  # "tomorrow"
    assert {e.kind for e in demo.events} == {
        "picker_absent",
        "rain_shower",
        "supplier_late",
        "holiday",
    }
    assert (ci.opens, ci.closes, ci.products) == (11, 13, 6)
    week = scenario_load(SCENARIOS / "week.toml")
    assert (week.days, week.products, week.fresh_cap) == (7, 120, "upper")
    assert demo.category_mix == week.category_mix == "history"
    assert sum(ci.app_per_hour.values()) == 16


def test_a_good_scenario_reads_as_written():
    scenario = scenario_parse(GOOD)
    assert scenario.store == "ST01"
    assert scenario.weather == "recorded"
    assert scenario.in_store_per_hour == {17: 10.0, 18: 5.0}
    assert scenario.events_of("picker_absent", 1)[0].end_hour == 18
    assert (scenario.pickers, scenario.approve) == (4, "as_suggested")


@pytest.mark.parametrize(
    ("change", "needle", "message"),
    [
        (("18 = 5", "25 = 5"), "25 = 5", "'25' is not an hour"),
        (("18 = 5", "21 = 5"), "21 = 5", "hour 21 is outside opening hours"),
        (('kind = "picker_absent"', 'kind = "strike"'), 'kind = "strike"', "kind"),
        (("closes = 19", "closes = 16"), "closes = 16", "not after day.opens"),
        (("17 = 4", "17 = -4"), "17 = -4", "at least 0"),
        (("day = 1", "day = 3"), "day = 3", "at most 1"),
        (('code = "st01"', "code = 7"), "code = 7", "must be a non-empty string"),
        (("start = 2026-03-02", 'start = "monday"'), "start =", "must be a date"),
        (("[day]", "[dya]"), "[dya]", "unknown section or key 'dya'"),
        (
            ("[day]", '[stock]\nfirst_delivery = "flat"\n[day]'),
            'first_delivery = "flat"',
            "stock.first_delivery must be one of none, forecast",
        ),
    ],
)
def test_a_scenario_with_an_error_is_refused_naming_its_line(change, needle, message):
    text = GOOD.replace(*change)
    with pytest.raises(ScenarioError) as refused:
        scenario_parse(text, path="bad.toml")
    assert refused.value.line == line_of(text, needle)
    assert message in refused.value.message
    assert str(refused.value).startswith(f"bad.toml line {refused.value.line}: ")


def test_a_syntax_error_names_the_line_tomllib_found():
    text = GOOD.replace("opens = 17", "opens = = 17")
    with pytest.raises(ScenarioError) as refused:
        scenario_parse(text)
    assert refused.value.line == line_of(text, "opens = = 17")
    assert "not valid TOML" in refused.value.message


def test_weather_spans_must_cover_the_opening_hours():
    text = GOOD.replace('weather = "recorded"\n', "") + (
        '[[weather]]\nfrom = 17\nto = 18\ntemperature = 20\ncondition = "sunny"\n'
    )
    with pytest.raises(ScenarioError) as refused:
        scenario_parse(text)
    assert refused.value.line == line_of(text, 'condition = "sunny"')
    text = text.replace('"sunny"', '"clear"')
    with pytest.raises(ScenarioError, match=r"does not cover the hours \[18\]"):
        scenario_parse(text)


def test_the_command_refuses_a_bad_file_with_its_line_and_runs_nothing(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(GOOD.replace("18 = 5", "18 = five"))
    with pytest.raises(CommandError, match=r"bad.toml line 11: not valid TOML"):
        call_command("simulate_store", "--scenario", str(bad))
    with pytest.raises(CommandError, match="cannot read it"):
        call_command("simulate_store", "--scenario", str(tmp_path / "none.toml"))


def test_price_reaction_by_hand():
    rng = random.Random(1)
    # at list price: exactly the units wanted
    assert [price_reaction(rng, ratio=1.0, units=2, elasticity=1.5)] == [2]
    # 25% dearer, e = 1: kept with probability 0.8
    kept = [
        price_reaction(rng, ratio=1.25, units=1, elasticity=1.0) for _ in range(4000)
    ]
    assert set(kept) == {0, 1}
    assert 0.77 < sum(kept) / 4000 < 0.83
    # half price, e = 1: twice the units, exactly
    assert price_reaction(rng, ratio=0.5, units=3, elasticity=1.0) == 6
    # e = 0: price does not matter
    assert price_reaction(rng, ratio=3.0, units=2, elasticity=0.0) == 2


def test_baskets_follow_the_category_mix_and_repeat_no_product():
    shelves = [
        Shelf(i, f"S{i}", "dairy" if i < 5 else "fruit", False, True) for i in range(10)
    ]
    only_dairy = category_weights(shelves, {"dairy": 1.0, "meat": 2.0})
    assert [c for c, _, _ in only_dairy] == ["dairy"]
    rng = random.Random(3)
    for _ in range(50):
        basket = basket_pick(rng, only_dairy, 3)
        assert len(basket) == len({s.pk for s in basket}) == 3
        assert all(s.category == "dairy" for s in basket)
    assert basket_pick(rng, [], 3) == []


def test_products_are_chosen_as_often_as_their_weight_and_never_at_zero():
    shelves = [
        Shelf(0, "S0", "dairy", False, True, weight=3.0),
        Shelf(1, "S1", "dairy", False, True, weight=1.0),
        Shelf(2, "S2", "dairy", False, True, weight=0.0),
        Shelf(3, "S3", "fruit", False, True, weight=0.0),  # a category never sold
    ]
    mix = category_weights(shelves, {"dairy": 1.0, "fruit": 1.0})
    rng = random.Random(5)
    counts = {0: 0, 1: 0, 2: 0, 3: 0}
    for _ in range(4000):
        (shelf,) = basket_pick(rng, mix, 1)
        counts[shelf.pk] += 1
    assert counts[2] == counts[3] == 0
    assert 2.7 < counts[0] / counts[1] < 3.3


def test_the_first_delivery_defaults_to_none_and_reads_forecast():
    assert scenario_parse(GOOD).first_delivery == "none"
    text = GOOD.replace("[day]", '[stock]\nfirst_delivery = "forecast"\n[day]')
    assert scenario_parse(text).first_delivery == "forecast"


def test_a_history_mix_chooses_each_product_as_often_as_it_sold():
    shelves = [
        Shelf(0, "S0", "dairy", False, True, weight=6.0),
        Shelf(1, "S1", "dairy", False, True, weight=2.0),
        Shelf(2, "S2", "fruit", False, True, weight=2.0),
    ]
    mix = category_weights(shelves, "history")
    assert [(c, w) for c, w, _ in mix] == [("dairy", 8.0), ("fruit", 2.0)]
    rng = random.Random(11)
    counts = {0: 0, 1: 0, 2: 0}
    for _ in range(5000):
        (shelf,) = basket_pick(rng, mix, 1)
        counts[shelf.pk] += 1
    assert 2.7 < counts[0] / counts[1] < 3.3
    assert 0.85 < counts[1] / counts[2] < 1.18


def test_category_mix_reads_history_and_refuses_another_word_by_its_line():
    text = 'category_mix = "history"\n' + GOOD
    assert scenario_parse(text).category_mix == "history"
    bad = 'category_mix = "recent"\n' + GOOD
    with pytest.raises(ScenarioError) as refused:
        scenario_parse(bad, path="bad.toml")
    assert refused.value.line == 1
    assert "category_mix must be a table of weights or 'history'" in (
        refused.value.message
    )


def test_the_aisle_makes_up_for_what_the_app_cannot_sell():
    # History: A and B (the app sells both) 4 each, C (weighed: in store only)
    # 2. The aisle expects 60 units a day, the app 40.
    shelves = [
        Shelf(1, "A", "dairy", False, True, weight=4.0),
        Shelf(2, "B", "dairy", False, True, weight=4.0),
        Shelf(3, "C", "fruit", True, True, weight=2.0),
    ]
    aisle = in_store_weights(shelves, {1, 2}, in_store_units=60, app_units=40)
    # c = 100 / 10 = 10 units per weight, a = 40 / 8 = 5: A and B weigh
    # 4 x 5 = 20 in the aisle, C 2 x 10 = 20. In units: A gets 60 x 20/60 = 20
    # in the aisle and 40 x 4/8 = 20 on the app, 40 in all; C 20: as sold.
    assert [s.weight for s in aisle] == [20.0, 20.0, 20.0]
    # An app too large for the aisle to make up for: never a negative weight.
    swamped = in_store_weights(shelves, {1, 2}, in_store_units=10, app_units=90)
    assert [s.weight for s in swamped] == [0.0, 0.0, 20.0]


def test_weekday_factors_read_by_day_or_from_history_and_refuse_a_bad_day():
    assert scenario_parse(GOOD).weekday == (1.0,) * 7
    text = GOOD.replace(
        "[arrivals.in_store]",
        "[arrivals.weekday]\nsat = 1.3\nsun = 1.2\n[arrivals.in_store]",
    )
    assert scenario_parse(text).weekday == (1.0, 1.0, 1.0, 1.0, 1.0, 1.3, 1.2)
    text = GOOD.replace(
        "[arrivals.in_store]", '[arrivals]\nweekday = "history"\n[arrivals.in_store]'
    )
    assert scenario_parse(text).weekday == "history"
    bad = GOOD.replace(
        "[arrivals.in_store]", "[arrivals.weekday]\nsaturday = 1.3\n[arrivals.in_store]"
    )
    with pytest.raises(ScenarioError) as refused:
        scenario_parse(bad, path="bad.toml")
    assert refused.value.line == line_of(bad, "saturday = 1.3")
    assert "'saturday' is not a day" in refused.value.message
