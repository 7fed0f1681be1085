"""Celery test app (the bookings system's notification tasks).

The worker runs ``celery -A tests.integrations.apps.celery_app worker`` with the
broker in ``WATCHKIT_TEST_CELERY_BROKER``: it configures watchkit from the
environment (before the prefork pool forks its children) and instruments the
app. The test process imports the module to send tasks and instruments it
itself, after configuring watchkit for its own collector.

With ``WATCHKIT_TEST_CHATTY_MAIN`` set, a thread of the worker's main process
writes log lines without pause to a slow stdout, so the pool forks its children
while that thread is in the middle of a line.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any

from celery import Celery

import watchkit
import watchkit.integrations.celery

BROKER = os.environ.get("WATCHKIT_TEST_CELERY_BROKER", "redis://127.0.0.1:1/0")
QUEUES = ["notifications", "sms"]

app = Celery("bookings", broker=BROKER, backend=BROKER, set_as_current=False)
app.conf.update(
    task_default_queue="notifications",
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    result_expires=300,
)
log = watchkit.get_logger("bookings.tasks")


@app.task(name="send_confirmation")
def send_confirmation(booking_id: int) -> int:
    log.info("confirmation sent", booking_id=booking_id)
    return booking_id


@app.task(name="charge_card")
def charge_card() -> None:
    log.warning("charging the card")
    raise ValueError("card declined")


@app.task(name="send_sms", bind=True, max_retries=2)
def send_sms(self) -> str:  # type: ignore[no-untyped-def]
    if self.request.retries == 0:
        raise self.retry(countdown=0)
    return "sent"


if os.environ.get("WATCHKIT_TEST_CELERY_BROKER"):
    watchkit.configure(service_name=os.environ.get("OTEL_SERVICE_NAME", "bookings-worker"))
    watchkit.integrations.celery.instrument(app, queues=QUEUES)


class _SlowStream:
    """A stdout whose writes take a while: a writer is inside one most of the time."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        time.sleep(0.01)
        return int(self._stream.write(text))

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _chatter() -> None:
    while True:
        log.info("main process busy")


if os.environ.get("WATCHKIT_TEST_CELERY_BROKER") and os.environ.get("WATCHKIT_TEST_CHATTY_MAIN"):
    sys.stdout = _SlowStream(sys.stdout)
    threading.Thread(target=_chatter, name="chatter", daemon=True).start()
