"""Enqueueing after commit: a broker that is gone is logged and costs little."""

import logging
import socket
import time
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.db import transaction

from hema import jobs
from hema.celery import app
from orders.tasks import sweep_refunds_task

pytestmark = pytest.mark.django_db(transaction=True)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def broker_gone() -> Iterator[None]:
    """The project's Celery app, with the project's send options, sending to a
    port nothing listens on."""
    changes = {
        "broker_url": f"amqp://guest:guest@127.0.0.1:{closed_port()}//",
        "broker_transport_options": dict(settings.HEMA_BROKER_SEND_RETRY),
        "task_always_eager": False,
    }
    saved = {key: app.conf[key] for key in changes}
    saved_pools = (app._pool, app.amqp._producer_pool)
    app.conf.update(changes)
    app._pool = app.amqp._producer_pool = None
    try:
        yield
    finally:
        if app._pool is not None:
            app._pool.force_close_all()
        app.conf.update(saved)
        app._pool, app.amqp._producer_pool = saved_pools


def test_a_send_to_a_gone_broker_returns_false_fast_and_is_logged(broker_gone, caplog):
    failed_before = jobs.failed_sends
    caplog.set_level(logging.WARNING, logger="hema.jobs")

    started = time.monotonic()
    sent = jobs.enqueue(sweep_refunds_task)
    took = time.monotonic() - started

    assert sent is False
    assert took < 0.5  # kombu's default would retry for the 2 s connect timeout
    assert jobs.failed_sends == failed_before + 1
    assert "could not enqueue orders.sweep_refunds" in caplog.text


def test_a_send_after_commit_never_raises_into_the_caller(broker_gone):
    failed_before = jobs.failed_sends

    with transaction.atomic():
        jobs.enqueue_on_commit(sweep_refunds_task)
        assert jobs.failed_sends == failed_before  # nothing sent before commit

    assert jobs.failed_sends == failed_before + 1
