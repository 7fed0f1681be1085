"""The background worker: sends confirmation and cancellation e-mails queued by the app.

    RESERVATIONS_REDIS_URL=redis://127.0.0.1:6379/0 python -m examples.reservations.worker

Jobs come from the Redis list ``confirmations`` (``LPUSH`` by the app, ``BRPOP`` here). Each
is processed inside :func:`watchkit.queue.process`: a CONSUMER span in the trace of the
request that booked, ``messaging.process.duration``, ``watchkit.queue.wait.duration``,
``watchkit.queue.jobs`` by ``job.outcome``, and the queue's depth
(``watchkit.queue.redis_depth``, reported by one process). The outcomes a mail server
produces: a bounce is dead-lettered, a greylisted address is retried, a timeout fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import tempfile
import time
from pathlib import Path
from typing import Any, cast

import redis
import sqlalchemy as sa

import watchkit
import watchkit.db
import watchkit.queue

DATABASE_URL = os.environ.get(
    "RESERVATIONS_DATABASE_URL",
    f"sqlite:///{Path(tempfile.gettempdir()) / 'watchkit-reservations.sqlite3'}",
)
REDIS_URL = os.environ.get("RESERVATIONS_REDIS_URL", "redis://127.0.0.1:6379/0")
QUEUE = "confirmations"
MAX_ATTEMPTS = 3

log = watchkit.get_logger("reservations.worker")


class SmtpTimeoutError(Exception):
    """The mail server did not answer."""


def send_email(job: str, reservation_id: int, email: str, attempt: int) -> str:
    """Pretend to talk to a mail server: ``sent``, ``bounced`` or ``greylisted``."""
    time.sleep(0.02 + (reservation_id % 5) * 0.01)
    if email.endswith("@bounce.example"):
        return "bounced"
    if reservation_id % 7 == 0 and attempt == 1:
        return "greylisted"  # try again later
    if reservation_id % 31 == 0:
        raise SmtpTimeoutError("mail server timed out")
    return "sent"


def handle(message: dict[str, Any], queue: redis.Redis, engine: sa.Engine) -> None:
    """Process one message; the outcome goes to ``watchkit.queue.jobs``."""
    body = message["body"]
    with watchkit.queue.process(
        QUEUE, message["headers"], system="redis", job=body["job"]
    ) as delivery:
        result = send_email(body["job"], body["reservation_id"], body["email"], body["attempt"])
        if result == "bounced":
            delivery.dead_letter("bounced")
            log.warning("email.bounced", reservation_id=body["reservation_id"], job=body["job"])
        elif result == "greylisted" and body["attempt"] < MAX_ATTEMPTS:
            delivery.retry("greylisted")
            headers: dict[str, str] = {}
            with watchkit.queue.send(QUEUE, headers, system="redis"):
                retry = {**body, "attempt": body["attempt"] + 1}
                queue.lpush(QUEUE, json.dumps({"headers": headers, "body": retry}))
        else:
            with engine.begin() as conn:
                conn.execute(
                    sa.text("UPDATE reservations SET confirmation_sent = 1 WHERE id = :id"),
                    {"id": body["reservation_id"]},
                )
            log.info("email.sent", reservation_id=body["reservation_id"], job=body["job"])


def run(stop: list[bool]) -> None:
    """Take jobs until ``stop[0]`` is set (checked at least every second)."""
    queue = redis.Redis.from_url(REDIS_URL, socket_timeout=5, socket_connect_timeout=2)
    engine = watchkit.db.instrument_sqlalchemy(
        sa.create_engine(DATABASE_URL, connect_args={"timeout": 15}),
        namespace="reservations",
        pool_name="reservations-worker-db",
    )
    watchkit.queue.redis_depth(REDIS_URL, [QUEUE])  # the app calls it too: one of them reports
    log.info("worker.started", queue=QUEUE)
    while not stop[0]:
        try:
            # At most once: a worker killed mid-job loses that job. For at least once, move
            # it to a processing list (BLMOVE) and remove it when done.
            popped = cast("tuple[bytes, bytes] | None", queue.brpop([QUEUE], timeout=1))
        except redis.RedisError as error:
            log.warning("worker.redis_unavailable", error=type(error).__name__)
            time.sleep(1)
            continue
        if popped is None:
            continue
        # A timeout is recorded as job.outcome=failure with its error.type; the next job goes on.
        with contextlib.suppress(SmtpTimeoutError):
            handle(json.loads(popped[1]), queue, engine)


def main() -> None:
    # The same service as the app (one service, two kinds of process): its queries count in
    # the database SLO, its jobs on the service's dashboard.
    watchkit.configure(service_name="reservations")
    stop = [False]

    def request_stop(*_: object) -> None:
        stop[0] = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    run(stop)
    watchkit.shutdown()


if __name__ == "__main__":
    main()
