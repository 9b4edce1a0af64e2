"""Tasks for tests only; a test worker imports this module (``-I``).

``crash_worker_task`` notes that it ran, then kills the process running it with
SIGKILL, as the kernel's out-of-memory killer or a crash in C code would: no
exception, no acknowledgement, nothing cleaned up.
"""

import os
import signal
from pathlib import Path

from celery import shared_task


def note(path: str, text: str) -> None:
    with Path(path).open("a", encoding="utf-8") as out:
        out.write(f"{text}\n")


@shared_task(name="tests.crash_worker")
def crash_worker_task(path: str) -> None:
    note(path, f"ran in {os.getpid()}")
    os.kill(os.getpid(), signal.SIGKILL)


@shared_task(name="tests.note")
def note_task(path: str, text: str) -> str:
    note(path, text)
    return text
