"""A task that kills its worker, for real: a prefork worker (as deployed) on
RabbitMQ, whose child process the task SIGKILLs. With ``acks_late`` and
``reject_on_worker_lost`` the broker delivers the message again each time; the
cap stops it after ``HEMA_TASK_MAX_DELIVERIES`` deliveries, records it and
acknowledges it, and the worker goes on with the next message."""

from collections.abc import Iterator

import pytest

from hema.models import TaskDelivery
from tests.integration.conftest import (
    Worker,
    requires_shared_postgres,
    running_worker,
    wait_for,
)
from tests.integration.crashing_tasks import crash_worker_task, note_task

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

MAX_DELIVERIES = 3
WAIT_SECONDS = 90


@pytest.fixture
def prefork_worker(
    transactional_db, broker_app, broker_url, tmp_path
) -> Iterator[Worker]:
    """A prefork worker with one child on its own queue, importing the test-only
    tasks, with a delivery cap of 3."""
    with running_worker(
        broker_app,
        broker_url,
        tmp_path,
        pool="prefork",
        imports=("tests.integration.crashing_tasks",),
        env={"HEMA_TASK_MAX_DELIVERIES": str(MAX_DELIVERIES)},
    ) as worker:
        yield worker


@requires_shared_postgres
def test_a_task_that_kills_its_worker_runs_at_most_n_times_and_is_recorded(
    prefork_worker, broker_app, tmp_path
):
    # Given a message whose task SIGKILLs the process that runs it, then an
    # ordinary one behind it on the same queue
    crashes = tmp_path / "crashes"
    after = tmp_path / "after"
    with broker_app.connection_for_write() as conn:
        sent = crash_worker_task.apply_async(
            args=[str(crashes)], queue=prefork_worker.queue, connection=conn
        )
        note_task.apply_async(
            args=[str(after), "next message ran"],
            queue=prefork_worker.queue,
            connection=conn,
        )

    # When the worker has been through both. (The ordinary message may run
    # between two deliveries of the crashing one: a message given back after its
    # worker died is not always delivered before the next, so wait for both.)
    def both_done() -> bool:
        given_up = TaskDelivery.objects.filter(gave_up_at__isnull=False).exists()
        return after.exists() and given_up

    wait_for(
        both_done,
        seconds=WAIT_SECONDS,
        worker=prefork_worker,
        what="the message behind, and giving up the crashing one",
    )

    # Then the crashing task ran exactly 3 times, in 3 different child processes
    runs = crashes.read_text().splitlines()
    assert len(runs) == MAX_DELIVERIES
    assert len(set(runs)) == MAX_DELIVERIES
    # the fourth delivery was not run but recorded for the admin
    row = TaskDelivery.objects.get()
    assert (row.task_id, row.task_name, row.args, row.deliveries) == (
        sent.id,
        "tests.crash_worker",
        [str(crashes)],
        MAX_DELIVERIES + 1,
    )
    assert row.gave_up_at is not None
    log = prefork_worker.output()
    assert "WorkerLostError" in log
    assert f"tests.crash_worker[{sent.id}]" in log
    assert "delivered 4 times (limit 3)" in log
    # and the worker lives on: the next message ran, the parent never died
    assert after.read_text() == "next message ran\n"
    assert prefork_worker.process.poll() is None
