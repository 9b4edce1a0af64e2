"""The redelivery cap, task by task: what a worker does with a message the
broker flags as redelivered (the flag is set the way the worker's request sets
it; the real worker and broker are in tests/integration/test_dead_jobs.py)."""

import logging

import pytest

from hema.models import TaskDelivery
from tests.integration.crashing_tasks import note_task

pytestmark = pytest.mark.django_db


def deliver(task, *args, task_id: str, redelivered: bool):
    """Run ``task`` as a worker runs a message (not eager, not a direct call)."""
    task.push_request(
        id=task_id,
        delivery_info={"redelivered": redelivered},
        called_directly=False,
        is_eager=False,
    )
    try:
        return task(*args)
    finally:
        task.pop_request()


@pytest.fixture
def cap(settings) -> int:
    settings.HEMA_TASK_MAX_DELIVERIES = 3
    return 3


def test_a_first_delivery_runs_and_writes_nothing(tmp_path, cap):
    path = str(tmp_path / "notes")
    assert deliver(note_task, path, "one", task_id="t-1", redelivered=False) == "one"
    assert TaskDelivery.objects.count() == 0


def test_redeliveries_run_up_to_the_cap_then_are_refused_and_recorded(
    tmp_path, cap, caplog
):
    path = tmp_path / "notes"
    message = (str(path), "ran")
    # deliveries 1 (first), 2 and 3 (redelivered) run
    assert deliver(note_task, *message, task_id="t-2", redelivered=False) == "ran"
    for _ in range(2):
        assert deliver(note_task, *message, task_id="t-2", redelivered=True) == "ran"
    row = TaskDelivery.objects.get()
    assert (row.deliveries, row.gave_up_at) == (3, None)

    # the fourth is not run: acknowledged with None, recorded, logged at ERROR
    with caplog.at_level(logging.WARNING, logger="hema.taskguard"):
        result = deliver(note_task, *message, task_id="t-2", redelivered=True)
    assert result is None
    assert path.read_text().split() == ["ran"] * 3
    row.refresh_from_db()
    assert (row.task_id, row.task_name, row.args, row.kwargs, row.deliveries) == (
        "t-2",
        "tests.note",
        list(message),
        {},
        4,
    )
    assert row.gave_up_at is not None
    [error] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "tests.note[t-2]" in error.getMessage()
    assert "delivered 4 times (limit 3)" in error.getMessage()

    # and it stays refused
    assert deliver(note_task, *message, task_id="t-2", redelivered=True) is None
    assert path.read_text().split() == ["ran"] * 3


def test_each_task_id_has_its_own_count(tmp_path, cap):
    path = str(tmp_path / "notes")
    for _ in range(2):
        deliver(note_task, path, "x", task_id="t-3", redelivered=True)
    deliver(note_task, path, "y", task_id="t-4", redelivered=True)
    assert dict(TaskDelivery.objects.values_list("task_id", "deliveries")) == {
        "t-3": 3,
        "t-4": 2,
    }


def test_eager_and_direct_calls_are_never_counted(tmp_path, cap):
    path = str(tmp_path / "notes")
    assert note_task.apply(args=(path, "eager")).get() == "eager"
    assert note_task(path, "direct") == "direct"
    assert TaskDelivery.objects.count() == 0


def test_the_admin_lists_given_up_tasks_and_edits_none(admin_client, tmp_path, cap):
    path = str(tmp_path / "notes")
    for _ in range(4):
        deliver(note_task, path, "ran", task_id="t-5", redelivered=True)
    row = TaskDelivery.objects.get()

    listing = admin_client.get("/admin/hema/taskdelivery/", {"gave_up": "yes"})
    assert listing.status_code == 200
    assert "tests.note" in listing.content.decode()
    assert (
        admin_client.get("/admin/hema/taskdelivery/", {"gave_up": "no"})
        .context["cl"]
        .result_count
        == 0
    )
    assert admin_client.get("/admin/hema/taskdelivery/add/").status_code == 403
    change = admin_client.post(
        f"/admin/hema/taskdelivery/{row.pk}/change/", {"deliveries": "1"}
    )
    assert change.status_code == 403
    row.refresh_from_db()
    assert row.deliveries == 5
