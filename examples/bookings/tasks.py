"""E-mail and SMS confirmations, sent by a Celery worker through a Redis broker.

The web workers publish (``send_email.delay(...)``) and the worker runs::

    celery -A examples.bookings.tasks worker -Q notifications,sms --concurrency=2

Each task is a CONSUMER span in the trace of the request that confirmed the booking; its
log lines carry ``task_id``, ``task_name`` and ``queue``. The Celery integration counts
``watchkit.queue.jobs`` by outcome (success, failure, retry) and reports
``watchkit.queue.depth`` of both queues; ``bookings.notifications`` counts what became of
each message (delivered, bounced, failed, retried); each call to a provider is a
``watchkit.dependency`` call (``email``, ``sms``).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from celery import Celery
from examples.bookings import observability, settings
from examples.bookings.observability import NOTIFICATIONS

import watchkit
import watchkit.integrations.celery

observability.setup()

QUEUES = ["notifications", "sms"]
app = Celery("bookings", broker=settings.REDIS_URL, set_as_current=False)
app.conf.update(
    task_default_queue="notifications",
    task_routes={"bookings.send_sms": {"queue": "sms"}},
    task_ignore_result=True,
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
)
watchkit.integrations.celery.instrument(app, queues=QUEUES)
log = watchkit.get_logger("bookings.notifications")


class ProviderBusy(Exception):
    """The provider answered 5xx or not at all: worth another try later."""


def _post(url: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """POST JSON; stands for the provider's SDK (SendGrid, Twilio, ...)."""
    request = urllib.request.Request(
        url, json.dumps(payload).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=2.0) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as error:
        if error.code >= 500:
            raise ProviderBusy(f"HTTP {error.code}") from None
        return error.code, {}
    except OSError as error:
        raise ProviderBusy(type(error).__name__) from None


def _outcome(channel: str, outcome: str, booking_id: int, **details: object) -> str:
    """Count what became of one message, and say so in the task's log context."""
    NOTIFICATIONS.add(1, channel=channel, outcome=outcome)
    if outcome in ("bounced", "failed"):
        # Counted in watchkit.events too: the NotificationBounces/Failures alerts watch it.
        watchkit.event(f"notification.{outcome}", channel=channel)
        log.warning(f"notification.{outcome}", channel=channel, booking_id=booking_id, **details)
    else:
        log.info(f"notification.{outcome}", channel=channel, booking_id=booking_id, **details)
    return outcome


def _retry_or_fail(task: Any, channel: str, booking_id: int, error: ProviderBusy) -> Any:
    if task.request.retries < task.max_retries:
        _outcome(channel, "retried", booking_id, error=str(error))
        return task.retry(exc=error, countdown=1)
    _outcome(channel, "failed", booking_id, error=str(error))
    return error


@app.task(name="bookings.send_email", bind=True, max_retries=3)
def send_email(self: Any, booking_id: int, address: str) -> str:
    """The booking confirmation e-mail; a bounce is final, a busy provider is retried."""
    try:
        # One watchkit.dependency.duration point per call, error when it raised.
        with watchkit.dependency("email"):
            _, answer = _post(
                f"{settings.EMAIL_URL}/messages",
                {"to": address, "template": "booking-confirmed", "booking": booking_id},
            )
    except ProviderBusy as error:
        raise _retry_or_fail(self, "email", booking_id, error) from None
    bounced = answer.get("status") == "bounced"
    return _outcome("email", "bounced" if bounced else "delivered", booking_id)


@app.task(name="bookings.send_sms", bind=True, max_retries=3)
def send_sms(self: Any, booking_id: int, phone: str) -> str:
    """The confirmation SMS; an invalid number fails at once, a busy gateway is retried."""
    try:
        with watchkit.dependency("sms"):
            status, _ = _post(
                f"{settings.SMS_URL}/sms", {"to": phone, "text": f"Lesson {booking_id} confirmed"}
            )
    except ProviderBusy as error:
        raise _retry_or_fail(self, "sms", booking_id, error) from None
    if status != 200:  # the gateway refused the number: nothing to retry
        return _outcome("sms", "failed", booking_id, error=f"HTTP {status}")
    return _outcome("sms", "delivered", booking_id)
