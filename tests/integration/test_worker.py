"""Celery for real: a worker process, the RabbitMQ broker, the test database."""

import datetime as dt
from decimal import Decimal

import pytest
from django.conf import settings
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from hema.celery import app
from inventory.models import MovementKind, Reservation, ReservationState
from inventory.services import ReservationLine, stock_receive, stock_reserve
from inventory.tasks import release_expired_reservations_task
from tests.conftest import assert_ledger_matches
from tests.integration.conftest import requires_shared_postgres, wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

RELEASE_JOB = "inventory-release-expired-reservations"
WAIT_SECONDS = 30


@requires_shared_postgres
def test_a_real_worker_releases_an_expired_reservation(
    real_worker, broker_app, make_store_product
):
    # Given an unpaid checkout whose hold ran out a minute ago, and one still paid
    # for, both committed where the worker can see them
    sp = make_store_product()
    stock_receive(store_product=sp, quantity=10)
    now = timezone.now()
    [expired] = stock_reserve(
        lines=[ReservationLine(sp, 3)],
        reference="UNPAID",
        reserved_until=now - dt.timedelta(minutes=1),
    )
    [paid] = stock_reserve(lines=[ReservationLine(sp, 2)], reference="PAID")

    # When the beat job's task goes through the broker to the worker
    with broker_app.connection_for_write() as conn:
        release_expired_reservations_task.apply_async(
            queue=real_worker.queue, connection=conn
        )

    # Then the worker releases the expired hold and gives its units back
    def released() -> bool:
        expired.refresh_from_db()
        return expired.state == ReservationState.RELEASED

    wait_for(
        released,
        seconds=WAIT_SECONDS,
        worker=real_worker,
        what="release of the expired reservation",
    )
    sp.refresh_from_db()
    assert (sp.on_hand, sp.reserved) == (Decimal(10), Decimal(2))
    assert Reservation.objects.get(pk=paid.pk).state == ReservationState.HELD
    assert list(expired.movements.values_list("kind", flat=True)) == [
        MovementKind.RELEASE,
        MovementKind.RESERVE,
    ]
    assert_ledger_matches(sp)


def test_the_beat_schedule_names_a_task_the_worker_knows():
    # Given the schedule in settings
    entry = settings.CELERY_BEAT_SCHEDULE[RELEASE_JOB]

    # When the app loads its task modules the way a worker or beat does
    app.loader.import_default_modules()

    # Then the task it names is registered, and it is the inventory job
    assert entry["task"] in app.tasks
    assert app.tasks[entry["task"]].run is release_expired_reservations_task.run
    assert app.conf.beat_schedule[RELEASE_JOB]["task"] == entry["task"]

    # and beat's database scheduler (the one settings name) installs it as a
    # periodic task the admin can edit
    assert settings.CELERY_BEAT_SCHEDULER.endswith(":DatabaseScheduler")
    DatabaseScheduler(app=app)
    periodic = PeriodicTask.objects.get(name=RELEASE_JOB)
    assert (periodic.task, periodic.enabled) == (entry["task"], True)
    assert periodic.crontab is not None
    assert periodic.crontab.minute == "*"
