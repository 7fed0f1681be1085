"""Health checks behind /readyz and /healthz: the database, Redis, the backlog, the disks."""

from __future__ import annotations

import sqlite3
from functools import partial

import redis
from examples.bookings import settings

from watchkit import health

#: Confirmations waiting in the broker above which the notification pipeline is behind.
BACKLOG_WARN = 100


def register() -> None:
    """Declare the checks once per process (``health.add`` refuses a name twice)."""
    client = redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=0.5, socket_connect_timeout=0.5
    )
    health.add(
        "database",
        health.sql(partial(sqlite3.connect, settings.DB_PATH, timeout=0.5)),
        component_type="datastore",
        ttl=2.0,
    )
    # Redis is the broker and the login monitor's store: without it, no confirmations.
    health.add("redis", health.redis(client), component_type="datastore", ttl=2.0)

    def notification_backlog() -> health.Observation:
        """Messages waiting in both queues; warns when the worker falls behind."""
        waiting = sum(int(client.llen(queue)) for queue in ("notifications", "sms"))
        return health.Observation(
            value=waiting, unit="{message}", status="warn" if waiting > BACKLOG_WARN else "pass"
        )

    health.add("notification-backlog", notification_backlog, critical=False, ttl=5.0)
    # Full log or backup disks: warn at 80 %, fail at 90 %, without taking the service
    # out of rotation (critical=False): it still serves bookings.
    health.add("disk-logs", health.disk(settings.LOG_DIR, warn=80, fail=90), critical=False)
    health.add("disk-backups", health.disk(settings.BACKUP_DIR, warn=80, fail=90), critical=False)
    health.add(
        "payments-provider",
        health.http(f"{settings.PAYMENTS_URL}/health", timeout=0.5),
        component_type="component",
        critical=False,
        ttl=5.0,
    )
    health.add("telemetry", health.export(), critical=False)
