"""Pricing's tasks: fan-out per store after commit, and the beat schedule."""

from decimal import Decimal

import pytest
from django.conf import settings

from hema.models import TaskDelivery
from inventory.models import StoreProduct
from pricing.models import PriceChange, RepricingRun, RunState, RunTrigger
from pricing.tasks import (
    reprice_all_task,
    reprice_store_task,
    watch_store_weather_task,
    watch_weather_task,
)
from tests.factories import StoreFactory
from tests.hema.test_taskguard import deliver
from tests.pricing.conftest import make_rule

pytestmark = pytest.mark.django_db

D = Decimal


def test_beat_runs_the_pricing_jobs():
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert schedule["pricing-reprice-hourly"]["task"] == "pricing.reprice_all"
    assert schedule["pricing-markdowns"]["task"] == "pricing.markdown_all"
    assert schedule["pricing-watch-weather"]["task"] == "pricing.watch_weather"
    assert schedule["pricing-reprice-hourly"]["schedule"].minute == {0}


def test_the_hourly_job_fans_out_one_task_per_store_after_commit(
    store, make_store_product, django_capture_on_commit_callbacks
):
    other = StoreFactory(code="BJ01")
    StoreFactory(code="OLD1", is_active=False)
    make_store_product(list_price=D("10.00"))
    make_store_product(store=other, list_price=D("10.00"))
    make_rule(store, hours=dict.fromkeys(range(24), "1.05"))
    make_rule(other, hours=dict.fromkeys(range(24), "0.95"))

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert reprice_all_task() == 2
    assert len(callbacks) == 2
    assert sorted(RepricingRun.objects.values_list("store__code", "trigger")) == [
        ("BJ01", RunTrigger.HOURLY),
        ("SH01", RunTrigger.HOURLY),
    ]
    assert sorted(StoreProduct.objects.values_list("store__code", "shelf_price")) == [
        ("BJ01", D("9.50")),
        ("SH01", D("10.50")),
    ]


def test_a_rerun_of_the_store_task_changes_nothing(store, make_store_product):
    make_store_product(list_price=D("10.00"))
    make_rule(store, hours=dict.fromkeys(range(24), "1.05"))
    assert reprice_store_task(store.pk) == 1
    assert reprice_store_task(store.pk) == 0
    assert PriceChange.objects.count() == 1
    assert RepricingRun.objects.filter(state=RunState.DONE).count() == 2


def test_a_missing_or_closed_store_is_skipped(store):
    assert reprice_store_task(999_999) == 0
    assert watch_store_weather_task(999_999) is False
    assert RepricingRun.objects.count() == 0


def test_a_weather_change_enqueues_a_reprice(
    store, make_store_product, settings, django_capture_on_commit_callbacks
):
    make_store_product(list_price=D("10.00"))
    make_rule(store, weather={"rain": "1.10"})
    settings.HEMA_WEATHER_FIXED = "rain,14.0,2.5"
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert watch_weather_task() == 1
    assert len(callbacks) == 2  # the watch, then the reprice it asked for
    run = RepricingRun.objects.get()
    assert (run.trigger, run.prices_changed) == (RunTrigger.WEATHER, 1)
    assert StoreProduct.objects.get().shelf_price == D("11.00")

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert watch_store_weather_task(store.pk) is False  # still raining
    assert callbacks == []


def test_a_store_task_given_up_after_its_redeliveries_is_done_by_the_next_hour(
    store, make_store_product, settings, django_capture_on_commit_callbacks
):
    """The delivery cap drops a message, never the work: the hourly fan-out is
    the sweep of repricing."""
    settings.HEMA_TASK_MAX_DELIVERIES = 1
    make_store_product(list_price=D("10.00"))
    make_rule(store, hours=dict.fromkeys(range(24), "1.05"))

    # a message whose worker died under it once is acknowledged, not run
    assert (
        deliver(reprice_store_task, store.pk, task_id="r-1", redelivered=True) is None
    )
    assert TaskDelivery.objects.get(task_id="r-1").gave_up_at is not None
    assert RepricingRun.objects.count() == 0
    assert StoreProduct.objects.get().shelf_price == D("10.00")

    # the next hourly run reprices the store
    with django_capture_on_commit_callbacks(execute=True):
        assert reprice_all_task() == 1
    assert StoreProduct.objects.get().shelf_price == D("10.50")
