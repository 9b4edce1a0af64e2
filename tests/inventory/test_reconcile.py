"""The nightly stock reconcile: counts against the ledger and the held reservations."""

import datetime as dt
import logging
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from inventory.models import (
    ReconcileDrift,
    ReconcileRun,
    ReconcileState,
    Reservation,
    StockMovement,
    StoreProduct,
)
from inventory.reconcile import stock_reconcile
from inventory.services import (
    ReservationLine,
    reservation_pick,
    reservation_release,
    stock_correct,
    stock_receive,
    stock_reserve,
    stock_sell_in_store,
    stock_write_off,
)
from inventory.tasks import reconcile_task
from tests.factories import StoreFactory, StoreStaffFactory, UserFactory

pytestmark = pytest.mark.django_db

D = Decimal


def traded(make_store_product, on_hand: int = 20) -> StoreProduct:
    """A store product after a day of every kind of stock change."""
    sp = make_store_product()
    stock_receive(store_product=sp, quantity=on_hand)
    [picked] = stock_reserve(lines=[ReservationLine(sp, 3)], reference="PICK")
    reservation_pick(reservation=picked, quantity=3, unit_price=D("12.80"))
    [released] = stock_reserve(lines=[ReservationLine(sp, 2)], reference="REL")
    reservation_release(reservation=released)
    stock_reserve(lines=[ReservationLine(sp, 4)], reference="HELD")
    stock_sell_in_store(store_product=sp, quantity=1, unit_price=D("12.80"))
    stock_write_off(store_product=sp, quantity=1, reason="bruised")
    stock_correct(store_product=sp, counted=14, reason="weekly count")
    sp.refresh_from_db()
    return sp


def raw_update(sp: StoreProduct, sql_set: str) -> None:
    """Change the row behind the ledger's back, as a manual UPDATE would."""
    table = connection.ops.quote_name(StoreProduct._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET {sql_set} WHERE id = %s", [sp.pk])  # noqa: S608


def test_a_clean_store_has_no_drift(store, make_store_product, caplog):
    # Given a store whose every change went through the services
    products = [traded(make_store_product) for _ in range(3)]
    make_store_product()  # never stocked: no ledger at all

    # When it is reconciled
    with caplog.at_level(logging.WARNING, logger="inventory.reconcile"):
        run = stock_reconcile(store=store)

    # Then the run is done, checked every product and found nothing
    run.refresh_from_db()
    assert (run.state, run.products_checked, run.drift_count) == ("done", 4, 0)
    assert run.finished_at >= run.started_at
    assert run.error == ""
    assert not ReconcileDrift.objects.exists()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [(sp.on_hand, sp.reserved) for sp in products] == [(D(14), D(4))] * 3


def test_a_row_changed_behind_the_ledgers_back_is_reported_and_left_alone(
    store, make_store_product, caplog
):
    # Given three products, two of them changed by a raw UPDATE
    clean = traded(make_store_product)
    counted = traded(make_store_product)
    held = traded(make_store_product)
    raw_update(counted, "on_hand = on_hand + 5")
    raw_update(held, "reserved = 0")
    ledger_before = list(StockMovement.objects.order_by("pk").values_list("pk"))

    # When the store is reconciled
    with caplog.at_level(logging.WARNING, logger="inventory.reconcile"):
        run = stock_reconcile(store=store)

    # Then each drift is on the run with exact expected and actual values
    assert (run.state, run.products_checked, run.drift_count) == ("done", 3, 2)
    drifts = {
        d.store_product_id: (
            d.on_hand_expected,
            d.on_hand_actual,
            d.reserved_expected,
            d.reserved_held,
            d.reserved_actual,
        )
        for d in ReconcileDrift.objects.filter(run=run)
    }
    assert drifts == {
        counted.pk: (D(14), D(19), D(4), D(4), D(4)),
        held.pk: (D(14), D(14), D(4), D(4), D(0)),
    }
    # and logged at WARNING, one line each
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"stock drift at SH01/{counted.product.sku} (store product {counted.pk}): "
        "on hand 19.000, ledger says 14.000; reserved 4.000, ledger says 4.000, "
        "held reservations 4.000",
        f"stock drift at SH01/{held.product.sku} (store product {held.pk}): "
        "on hand 14.000, ledger says 14.000; reserved 0.000, ledger says 4.000, "
        "held reservations 4.000",
    ]
    # and nothing was fixed
    counts = dict(
        StoreProduct.objects.values_list("pk", "on_hand").filter(
            pk__in=[clean.pk, counted.pk, held.pk]
        )
    )
    assert counts == {clean.pk: D(14), counted.pk: D(19), held.pk: D(14)}
    assert StoreProduct.objects.get(pk=held.pk).reserved == 0
    assert list(StockMovement.objects.order_by("pk").values_list("pk")) == (
        ledger_before
    )


def test_a_reservation_changed_behind_the_ledgers_back_shows_in_held(
    store, make_store_product
):
    sp = traded(make_store_product)
    Reservation.objects.filter(store_product=sp, reference="HELD").update(
        state="released"
    )

    run = stock_reconcile(store=store)

    drift = ReconcileDrift.objects.get(run=run)
    assert (
        drift.on_hand_expected,
        drift.on_hand_actual,
        drift.reserved_expected,
        drift.reserved_held,
        drift.reserved_actual,
    ) == (D(14), D(14), D(4), D(0), D(4))


def test_each_store_is_checked_on_its_own(store, make_store_product):
    other = StoreFactory(code="SH02")
    mine = traded(make_store_product)
    theirs = make_store_product(store=other)
    stock_receive(store_product=theirs, quantity=3)
    raw_update(theirs, "on_hand = 1")

    run = stock_reconcile(store=store)

    assert (run.products_checked, run.drift_count) == (1, 0)
    assert StoreProduct.objects.get(pk=mine.pk).on_hand == D(14)
    other_run = stock_reconcile(store=other)
    assert other_run.drift_count == 1
    assert ReconcileDrift.objects.get().store_product_id == theirs.pk


def test_the_query_count_stays_flat_as_products_grow(
    store, make_store_product, django_assert_max_num_queries
):
    for _ in range(25):
        sp = make_store_product()
        stock_receive(store_product=sp, quantity=5)
        raw_update(sp, "on_hand = 6")

    # The stale-run check, the run row, SET jit, the one drift statement, the
    # count, the drift insert and the run update; four savepoints, since the
    # test runs inside a transaction. None of it grows with the products.
    with django_assert_max_num_queries(11):
        run = stock_reconcile(store=store)

    assert run.drift_count == 25


def test_a_run_left_running_by_a_dead_worker_is_marked_failed_by_the_next(store):
    long_ago = timezone.now() - dt.timedelta(hours=2)
    dead = ReconcileRun.objects.create(
        store=store, state=ReconcileState.RUNNING, started_at=long_ago
    )

    run = stock_reconcile(store=store)

    dead.refresh_from_db()
    assert dead.state == ReconcileState.FAILED
    assert dead.error == "did not finish (its worker stopped)"
    assert run.state == ReconcileState.DONE


def test_the_task_runs_through_celery_for_every_open_store_and_twice_is_harmless(
    store, make_store_product
):
    # Given two open stores, one with drift, and a closed one
    closed = StoreFactory(code="OLD01", is_active=False)
    other = StoreFactory(code="SH02")
    sp = traded(make_store_product)
    raw_update(sp, "on_hand = on_hand - 1")

    # When the beat job runs twice (eager Celery: each store's task runs inline)
    first = reconcile_task.delay().get()
    second = reconcile_task.apply().get()

    # Then each open store got one run per job, the same drift both times
    assert (first, second) == (2, 2)
    runs = ReconcileRun.objects.order_by("pk")
    assert [(r.store.code, r.state, r.drift_count) for r in runs] == [
        ("SH01", "done", 1),
        ("SH02", "done", 0),
        ("SH01", "done", 1),
        ("SH02", "done", 0),
    ]
    assert not ReconcileRun.objects.filter(store=closed).exists()
    assert other.reconcile_runs.count() == 2
    assert (
        list(ReconcileDrift.objects.values_list("on_hand_expected", "on_hand_actual"))
        == [(D(14), D(13))] * 2
    )
    sp.refresh_from_db()
    assert sp.on_hand == D(13)


# --- The admin lists the runs, scoped to the manager's stores -------------------


@pytest.fixture
def runs(store, make_store_product):
    other = StoreFactory(code="SH02")
    sp = traded(make_store_product)
    raw_update(sp, "on_hand = on_hand + 2")
    return stock_reconcile(store=store), stock_reconcile(store=other)


def test_the_admin_lists_runs_and_shows_a_runs_drift(client, runs):
    mine, theirs = runs
    root = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(root)

    listing = client.get("/admin/inventory/reconcilerun/")
    page = client.get(f"/admin/inventory/reconcilerun/{mine.pk}/change/")

    assert listing.status_code == 200
    assert {r.pk for r in listing.context["cl"].result_list} == {mine.pk, theirs.pk}
    assert page.status_code == 200
    body = page.content.decode()
    # whole pieces, as the manager counts them (never "16.000")
    assert re.search(r'class="field-on_hand_expected_shown">\s*<p>14</p>', body)
    assert re.search(r'class="field-on_hand_actual_shown">\s*<p>16</p>', body)
    assert client.get("/admin/inventory/reconcilerun/add/").status_code == 403


def test_a_manager_sees_only_their_stores_runs_and_cannot_change_them(
    client, store, runs
):
    mine, theirs = runs
    manager = UserFactory(is_staff=True)
    StoreStaffFactory(user=manager, store=store, role="manager")
    client.force_login(manager)

    listing = client.get("/admin/inventory/reconcilerun/")
    own = client.get(f"/admin/inventory/reconcilerun/{mine.pk}/change/")
    other = client.get(f"/admin/inventory/reconcilerun/{theirs.pk}/change/")
    delete = client.post(
        f"/admin/inventory/reconcilerun/{mine.pk}/delete/", {"post": "yes"}
    )

    assert [r.pk for r in listing.context["cl"].result_list] == [mine.pk]
    assert own.status_code == 200
    assert re.search(
        r'class="field-on_hand_expected_shown">\s*<p>14</p>', own.content.decode()
    )
    assert other.status_code == 403
    assert delete.status_code == 403
    assert ReconcileRun.objects.count() == 2
