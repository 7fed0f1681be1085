"""watchkit set-up shared by the web workers and the Celery worker, and the business metrics.

``setup()`` runs once per process, at import of ``wsgi.py`` (each gunicorn worker) and of
``tasks.py`` (the Celery worker, before its pool forks).
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from examples.bookings import settings

import watchkit
import watchkit.http_client
import watchkit.runtime

# Business metrics: low-cardinality attributes only (never a user, booking or card).
AUTH = watchkit.counter(
    "bookings.auth.attempts", unit="{attempt}", description="Logins and logouts by outcome"
)
PAYMENTS = watchkit.counter(
    "bookings.payment.attempts", unit="{payment}", description="Payment attempts by outcome"
)
WEBHOOKS = watchkit.counter(
    "bookings.payment.webhooks",
    unit="{webhook}",
    description="Payment-provider webhooks by result (match, mismatch, unknown, bad_signature)",
)
NOTIFICATIONS = watchkit.counter(
    "bookings.notifications",
    unit="{notification}",
    description="E-mail and SMS confirmations by channel and outcome",
)
BOOKINGS = watchkit.counter("bookings.created", unit="{booking}", description="Lessons booked")


def setup() -> None:
    """Configure watchkit for this process (once) and declare what the service depends on."""
    if watchkit.is_configured():
        return
    os.makedirs(settings.LOG_DIR, exist_ok=True)
    os.makedirs(settings.BACKUP_DIR, exist_ok=True)
    watchkit.configure(
        service_name="bookings",
        environment="production",
        # The load balancer (here: the traffic script on loopback) sets X-Forwarded-For;
        # only its address is trusted to, so a client cannot forge its own IP.
        trusted_proxies=["127.0.0.1"],
    )
    # The payment provider is an external dependency: http.client.request.duration gets
    # service.peer.name="payments", and our trace headers are never sent to it.
    watchkit.http_client.instrument(
        dependencies={"payments": [urlsplit(settings.PAYMENTS_URL).hostname or ""]}
    )
    # Free space of the log and backup file systems: system.filesystem.usage/utilization.
    watchkit.runtime.enable(system=True, filesystem_paths=[settings.LOG_DIR, settings.BACKUP_DIR])
