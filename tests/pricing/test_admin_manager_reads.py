"""What a store manager reads on the pricing screens: prices with currency and
unit, stores by code, what each version of a rule changed, warnings about
factors the store's limits cut, when the shelf follows a saved rule, and a
preview that finds a SKU whatever its case."""

import datetime as dt
import html as html_lib
import re
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.utils import timezone

from inventory.models import SaleUnit
from pricing.models import MarkdownStep, PriceChange, PriceRule, StorePriceSettings
from tests.factories import ProductFactory
from tests.pricing.conftest import make_rule, price_settings
from tests.pricing.test_admin import manager_of

pytestmark = pytest.mark.django_db

D = Decimal
RULES = "/admin/pricing/pricerule"
SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def text(response) -> str:
    """The page as a person reads it: no tags, entities decoded, one space."""
    body = re.sub(
        r"<script.*?</script>|<[^>]+>", " ", response.content.decode(), flags=re.S
    )
    return re.sub(r"\s+", " ", html_lib.unescape(body))


def rule_form(store, **extra) -> dict[str, str]:
    """A rule's admin form as the page posts it, with no factor rows."""
    form = {
        "store": str(store.pk),
        "name": "Weekend",
        "is_active": "on",
        "weekday_factors-TOTAL_FORMS": "0",
        "weekday_factors-INITIAL_FORMS": "0",
        "hour_factors-TOTAL_FORMS": "0",
        "hour_factors-INITIAL_FORMS": "0",
        "weather_factors-TOTAL_FORMS": "0",
        "weather_factors-INITIAL_FORMS": "0",
    }
    form.update(extra)
    return form


def weekday_rows(*rows: tuple[str, str, str], initial: int = 0) -> dict[str, str]:
    """Weekday factor rows: (row id or "", weekday, factor)."""
    form = {
        "weekday_factors-TOTAL_FORMS": str(len(rows)),
        "weekday_factors-INITIAL_FORMS": str(initial),
    }
    for index, (pk, weekday, factor) in enumerate(rows):
        form |= {
            f"weekday_factors-{index}-id": pk,
            f"weekday_factors-{index}-weekday": weekday,
            f"weekday_factors-{index}-factor": factor,
        }
    return form


@pytest.fixture
def apples(make_store_product):
    return make_store_product(
        product=ProductFactory(sku="FRU-0001", name="Apples"),
        list_price=D("10.00"),
        unit_cost=D("5.00"),
    )


@pytest.fixture
def salmon(make_store_product):
    return make_store_product(
        product=ProductFactory(
            sku="SEA-0002", name="Salmon", sale_unit=SaleUnit.KILOGRAM
        ),
        list_price=D("128.00"),
        unit_cost=D("80.00"),
    )


# --- Prices with currency and unit -------------------------------------------


def test_price_changes_read_with_currency_and_unit(store, apples, salmon):
    now = timezone.now()
    for sp, old, new in ((apples, "10.00", "10.50"), (salmon, "128.00", "121.60")):
        PriceChange.objects.create(
            store=store,
            store_product=sp,
            kind="rules",
            old_price=D(old),
            new_price=D(new),
            reasons=["hour 18:00 x1.05 (store)"],
            changed_at=now - dt.timedelta(hours=1),
        )
    client = manager_of(store)

    listed = text(client.get("/admin/pricing/pricechange/"))
    chart = client.get(f"/admin/pricing/pricechange/product/{salmon.pk}/")

    assert "FRU-0001 CNY 10.00 / piece CNY 10.50 / piece" in listed
    assert "SEA-0002 CNY 128.00 / kg CNY 121.60 / kg" in listed
    page = text(chart)
    assert "Shelf price now CNY 128.00 / kg; CNY 128.00 / kg 7 days ago" in page
    assert "CNY 128.00 / kg CNY 121.60 / kg Rules" in page
    assert ">CNY 128.00 / kg</text>" in chart.content.decode()  # the chart's axis


def test_the_preview_reads_with_currency_and_unit(store, salmon):
    make_rule(store, hours={18: "1.05"})
    client = manager_of(store)

    response = client.get(f"{RULES}/preview/", {"store_product": salmon.pk})

    page = text(response)
    assert (
        "List price CNY 128.00 / kg, unit cost CNY 80.00 / kg, "
        "shelf price now CNY 128.00 / kg." in page
    )
    assert "Over the next 168 hours: CNY 128.00 / kg to CNY 134.40 / kg." in page
    assert re.search(r"18:00 CNY 134.40 / kg", page)
    assert "<td>134.40</td>" not in response.content.decode()


def test_markdown_steps_read_percent_and_quantities(store, salmon):
    MarkdownStep.objects.create(
        store=store,
        store_product=salmon,
        trading_day=dt.date(2026, 11, 29),
        percent=D("30.00"),
        stock_left=D("4.000"),
        expected_demand=D("1.500"),
        decided_at=timezone.now(),
    )

    page = text(manager_of(store).get("/admin/pricing/markdownstep/"))

    assert "30% 4.000 kg 1.500 kg" in page


# --- The store by its code ---------------------------------------------------


def test_a_rules_pages_name_the_store_by_code(store):
    rule = make_rule(store, name="Weekend", weekdays={5: "1.05"})
    settings = price_settings(store, max_uplift="1.15")
    client = manager_of(store)

    pages = [
        client.get(f"{RULES}/{rule.pk}/change/"),
        client.get(f"{RULES}/{rule.pk}/history/"),
        client.get(f"{RULES}/"),
        client.get(f"/admin/pricing/storepricesettings/{settings.pk}/change/"),
    ]

    for page in pages:
        assert page.status_code == 200
        assert "store 1" not in text(page).lower()
        assert f"of store {store.pk}" not in text(page)
    assert "rule Weekend (whole store) of SH01" in text(pages[0])
    assert "rule Weekend (whole store) of SH01" in text(pages[1])
    assert "SH01 Hema Test Shanghai" in text(pages[2])
    assert "price settings of SH01" in text(pages[3])


# --- What each version changed -------------------------------------------------


def test_a_rules_history_shows_the_factors_each_save_changed(store):
    client = manager_of(store)
    created = client.post(
        f"{RULES}/add/", rule_form(store, **weekday_rows(("", "5", "1.05")))
    )
    assert created.status_code == 302
    rule = PriceRule.objects.get()
    saturday = rule.weekday_factors.get()
    edited = client.post(
        f"{RULES}/{rule.pk}/change/",
        rule_form(
            store,
            name="Busy weekend",
            **weekday_rows(
                (str(saturday.pk), "5", "1.10"), ("", "6", "1.05"), initial=1
            ),
            **{
                "hour_factors-TOTAL_FORMS": "1",
                "hour_factors-0-hour": "18",
                "hour_factors-0-factor": "0.95",
            },
        ),
    )
    assert edited.status_code == 302

    response = client.get(f"{RULES}/{rule.pk}/history/")

    page = text(response)
    newest, first = response.context["page_obj"].object_list
    assert [c["field"] for c in newest.history_delta_changes] == [
        "Name",
        "Hour 18:00",
        "Weekday Saturday",
        "Weekday Sunday",
    ]
    assert "Name: Weekend → Busy weekend" in page
    assert "Weekday Saturday: x1.05 → x1.1" in page
    assert "Weekday Sunday: — → x1.05" in page
    assert "Hour 18:00: — → x0.95" in page
    # the first version lists what the rule was created with
    assert first.history_delta_changes == [
        {"field": "Weekday Saturday", "old": "—", "new": "x1.05"}
    ]
    assert "Updated at" not in page


def test_a_removed_factor_and_a_weather_threshold_show_in_the_history(store):
    rule = make_rule(store, weekdays={5: "1.05"}, weather={"hot": ("30.0", "1.08")})
    client = manager_of(store)
    saturday = rule.weekday_factors.get()
    hot = rule.weather_factors.get()

    response = client.post(
        f"{RULES}/{rule.pk}/change/",
        rule_form(
            store,
            name="",
            **weekday_rows((str(saturday.pk), "5", "1.05"), initial=1),
            **{"weekday_factors-0-DELETE": "on"},
            **{
                "weather_factors-TOTAL_FORMS": "1",
                "weather_factors-INITIAL_FORMS": "1",
                "weather_factors-0-id": str(hot.pk),
                "weather_factors-0-condition": "hot",
                "weather_factors-0-threshold": "32.0",
                "weather_factors-0-factor": "1.08",
            },
        ),
    )
    assert response.status_code == 302

    page = text(client.get(f"{RULES}/{rule.pk}/history/"))

    assert "Weekday Saturday: x1.05 → —" in page
    assert (
        "Weather: temperature above threshold: x1.08 at 30.0 °C → x1.08 at 32.0 °C"
        in page
    )


def test_store_price_settings_history_shows_old_and_new_limits(store):
    settings = price_settings(store)
    client = manager_of(store)
    response = client.post(
        f"/admin/pricing/storepricesettings/{settings.pk}/change/",
        {
            "store": str(store.pk),
            "min_margin": "0.0800",
            "max_uplift": "1.150",
            "max_step_percent": "10.00",
            "price_step": "0.10",
            "markdown_starts_at": "17:00",
            "markdown_floor": "0.400",
            "markdown_step_percent": "10.00",
            "markdown_elasticity": "2.00",
        },
    )
    assert response.status_code == 302
    assert any(
        str(m).startswith("Shelf prices of SH01 follow at the next repricing, ")
        for m in get_messages(response.wsgi_request)
    )

    history = client.get(f"/admin/pricing/storepricesettings/{settings.pk}/history/")

    page = text(history)
    assert "Min margin: 0.0500 → 0.0800" in page
    assert "Max uplift: 1.200 → 1.150" in page
    assert "Updated at" not in page
    assert StorePriceSettings.objects.get().max_uplift == D("1.150")


# --- Factors the store's limits cut -----------------------------------------------


def test_a_factor_above_the_ceiling_warns_and_saves_only_when_confirmed(store):
    client = manager_of(store)
    form = rule_form(store, **weekday_rows(("", "5", "1.50")))

    warned = client.post(f"{RULES}/add/", form)

    assert warned.status_code == 200
    assert PriceRule.objects.count() == 0
    page = text(warned)
    assert (
        "Saturday x1.5 is above the store's ceiling: prices stop at list price "
        "x1.2 (max uplift)." in page
    )
    assert (
        "Saturday x1.5 moves a price by more than the step limit (10% per hour): "
        "the shelf gets there over 5 hours." in page
    )
    assert 'name="confirm_limits"' in warned.content.decode()
    assert "Save anyway" in page

    saved = client.post(f"{RULES}/add/", {**form, "confirm_limits": "on"})

    assert saved.status_code == 302
    assert PriceRule.objects.get().weekday_factors.get().factor == D("1.500")


def test_a_factor_below_the_margin_floor_names_the_products_it_cuts(store, apples):
    price_settings(store, min_margin="0.0500")
    client = manager_of(store)

    warned = client.post(
        f"{RULES}/add/",
        rule_form(
            store,
            **{
                "hour_factors-TOTAL_FORMS": "1",
                "hour_factors-0-hour": "22",
                "hour_factors-0-factor": "0.50",
            },
        ),
    )

    assert warned.status_code == 200
    assert PriceRule.objects.count() == 0
    assert (
        "22:00 x0.5 takes 1 of 1 products below the margin floor (unit cost +5%): "
        "they stop there, e.g. FRU-0001 at CNY 5.25 / piece instead of "
        "CNY 5.00 / piece." in text(warned)
    )


def test_factors_inside_the_limits_save_without_a_warning(store, apples):
    client = manager_of(store)

    response = client.post(
        f"{RULES}/add/", rule_form(store, **weekday_rows(("", "5", "1.05")))
    )

    assert response.status_code == 302
    assert PriceRule.objects.count() == 1


def test_an_unchanged_confirmed_factor_is_not_warned_about_again(store):
    rule = make_rule(store, name="Weekend", weekdays={5: "1.50"})
    saturday = rule.weekday_factors.get()
    client = manager_of(store)

    response = client.post(
        f"{RULES}/{rule.pk}/change/",
        rule_form(
            store,
            name="Weekend peak",
            **weekday_rows((str(saturday.pk), "5", "1.50"), initial=1),
        ),
    )

    assert response.status_code == 302
    assert PriceRule.objects.get().name == "Weekend peak"


# --- When the shelf follows ----------------------------------------------------------


def test_the_next_repricing_is_the_next_full_hour():
    from pricing.admin import next_repricing

    before = dt.datetime(2026, 11, 29, 5, 59, 59, tzinfo=dt.UTC)
    on_the_hour = dt.datetime(2026, 11, 29, 6, 0, 0, tzinfo=dt.UTC)

    assert next_repricing(before) == dt.datetime(2026, 11, 29, 6, tzinfo=dt.UTC)
    assert next_repricing(on_the_hour) == dt.datetime(2026, 11, 29, 7, tzinfo=dt.UTC)


def test_the_message_gives_the_time_in_the_stores_zone(store):
    from pricing.admin import shelf_follows_message

    now = dt.datetime(2026, 11, 29, 5, 20, tzinfo=dt.UTC)  # 13:20 in Shanghai

    assert shelf_follows_message(store, now) == (
        "Shelf prices of SH01 follow at the next repricing, 14:00 (store time)."
    )


def test_the_message_follows_the_schedule_as_edited_in_the_admin(store):
    """Beat runs the django-celery-beat row (editable under Periodic tasks)."""
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    from pricing.admin import shelf_follows_message

    now = dt.datetime(2026, 11, 29, 5, 20, tzinfo=dt.UTC)  # 13:20 in Shanghai
    task = PeriodicTask.objects.create(
        name="pricing-reprice-hourly",
        task="pricing.reprice_all",
        crontab=CrontabSchedule.objects.create(minute="5", hour="*", timezone="UTC"),
    )

    assert shelf_follows_message(store, now) == (
        "Shelf prices of SH01 follow at the next repricing, 14:05 (store time)."
    )
    task.enabled = False
    task.save()
    assert shelf_follows_message(store, now) == (
        "The hourly repricing (pricing-reprice-hourly) is switched off under "
        "Periodic tasks: shelf prices follow once it runs again."
    )


def test_a_saved_rule_says_when_the_shelf_follows(store):
    from pricing.admin import next_repricing

    client = manager_of(store)
    before = timezone.now()

    response = client.post(
        f"{RULES}/add/", rule_form(store, **weekday_rows(("", "5", "1.05")))
    )

    after = timezone.now()
    assert response.status_code == 302
    expected = {
        f"Shelf prices of SH01 follow at the next repricing, "
        f"{next_repricing(moment).astimezone(SHANGHAI):%H:%M} (store time)."
        for moment in (before, after)
    }
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    assert any(message in expected for message in shown), shown
    assert all(message.endswith(":00 (store time).") for message in expected)


# --- The preview finds the product --------------------------------------------------


@pytest.mark.parametrize(
    ("store_code", "sku"), [("sh01", "fru-0001"), (" SH01 ", " Fru-0001 ")]
)
def test_the_preview_finds_a_sku_whatever_its_case(store, apples, store_code, sku):
    client = manager_of(store)

    response = client.get(f"{RULES}/preview/", {"store": store_code, "sku": sku})

    assert response.status_code == 200
    assert "error" not in response.context
    assert response.context["store_product"] == apples
    page = response.content.decode()
    assert (
        f'<a href="/admin/pricing/pricechange/product/{apples.pk}/">Price chart</a>'
        in page
    )
    assert (
        f'<a href="/admin/inventory/storeproduct/{apples.pk}/change/">Store product</a>'
        in page
    )


def test_the_preview_prefers_the_sku_as_typed(store, apples, make_store_product):
    twin = make_store_product(product=ProductFactory(sku="fru-0001", name="Twin"))
    client = manager_of(store)

    exact = client.get(f"{RULES}/preview/", {"store": "SH01", "sku": "fru-0001"})
    upper = client.get(f"{RULES}/preview/", {"store": "SH01", "sku": "FRU-0001"})

    assert exact.context["store_product"] == twin
    assert upper.context["store_product"] == apples
