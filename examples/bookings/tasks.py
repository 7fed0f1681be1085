"""The bookings system's notification queue: e-mail and SMS confirmations as Celery tasks.

Start Redis and a worker from the repository root::

    docker run -p 6379:6379 redis   # or any Redis
    celery -A examples.bookings.tasks worker --concurrency=2 -Q notifications,sms

Each task is a CONSUMER span in the trace of the web request that booked the
table; its log lines carry ``task_id``, ``task_name``, ``queue`` and the trace
id; ``watchkit.queue.jobs`` counts success, failure and retry per task, and
``watchkit.queue.depth`` the messages waiting in both queues.
"""

from __future__ import annotations

import os
import random

from celery import Celery

import watchkit
import watchkit.integrations.celery

watchkit.configure(service_name="bookings")

BROKER = os.environ.get("BOOKINGS_BROKER", "redis://localhost:6379/0")
app = Celery("bookings", broker=BROKER, backend=BROKER)
app.conf.update(
    task_default_queue="notifications",
    task_routes={"bookings.send_sms": {"queue": "sms"}},
)
watchkit.integrations.celery.instrument(app, queues=["notifications", "sms"])
log = watchkit.get_logger("bookings.notifications")


class GatewayBusy(Exception):
    """The SMS gateway asked us to come back later."""


@app.task(name="bookings.send_email")
def send_email(booking_id: int, address: str) -> None:
    log.info("confirmation e-mail sent", booking_id=booking_id)


@app.task(name="bookings.send_sms", bind=True, max_retries=3)
def send_sms(self, booking_id: int, phone: str) -> None:  # type: ignore[no-untyped-def]
    if random.random() < 0.2:  # the gateway is busy now and then
        raise self.retry(exc=GatewayBusy("try again"), countdown=1)
    log.info("confirmation SMS sent", booking_id=booking_id)
