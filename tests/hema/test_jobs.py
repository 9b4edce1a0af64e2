"""Enqueueing after commit: a broker that is gone is logged and costs little."""

import logging
import time

import pytest
from django.db import transaction

from hema import jobs
from orders.tasks import sweep_refunds_task

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_send_to_a_gone_broker_returns_false_fast_and_is_logged(broker_down, caplog):
    failed_before = jobs.failed_sends
    caplog.set_level(logging.WARNING, logger="hema.jobs")

    started = time.monotonic()
    sent = jobs.enqueue(sweep_refunds_task)
    took = time.monotonic() - started

    assert sent is False
    assert took < 0.5  # kombu's default would retry for the 2 s connect timeout
    assert jobs.failed_sends == failed_before + 1
    assert "could not enqueue orders.sweep_refunds" in caplog.text


def test_a_send_after_commit_never_raises_into_the_caller(broker_down):
    failed_before = jobs.failed_sends

    with transaction.atomic():
        jobs.enqueue_on_commit(sweep_refunds_task)
        assert jobs.failed_sends == failed_before  # nothing sent before commit

    assert jobs.failed_sends == failed_before + 1
