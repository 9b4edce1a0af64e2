"""The stock reconcile on a real worker, through the broker, and its beat entry."""

from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection

from hema.celery import app
from inventory.models import ReconcileDrift, ReconcileRun, StoreProduct
from inventory.services import stock_receive
from inventory.tasks import reconcile_store_task, reconcile_task
from tests.integration.conftest import requires_shared_postgres, wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

RECONCILE_JOB = "inventory-reconcile"


@requires_shared_postgres
def test_a_real_worker_records_a_stores_drift(
    real_worker, broker_app, store, make_store_product
):
    # Given a count changed behind the ledger's back, committed for the worker
    sp = make_store_product()
    stock_receive(store_product=sp, quantity=10)
    table = connection.ops.quote_name(StoreProduct._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET on_hand = 7 WHERE id = %s", [sp.pk])  # noqa: S608

    # When the store's reconcile goes through the broker to the worker
    with broker_app.connection_for_write() as conn:
        reconcile_store_task.apply_async(
            args=[store.pk], queue=real_worker.queue, connection=conn
        )

    # Then the worker records the drift on a finished run and fixes nothing
    wait_for(
        lambda: ReconcileRun.objects.filter(store=store, state="done").exists(),
        seconds=30,
        worker=real_worker,
        what="the reconcile run",
    )
    drift = ReconcileDrift.objects.get()
    assert (drift.on_hand_expected, drift.on_hand_actual) == (Decimal(10), Decimal(7))
    sp.refresh_from_db()
    assert sp.on_hand == Decimal(7)


def test_the_beat_schedule_runs_the_reconcile_nightly():
    entry = settings.CELERY_BEAT_SCHEDULE[RECONCILE_JOB]
    app.loader.import_default_modules()

    assert app.tasks[entry["task"]].run is reconcile_task.run
    assert entry["task"] == "inventory.reconcile"
    assert (entry["schedule"].hour, entry["schedule"].minute) == ({3}, {30})
