"""Celery end to end: a real Redis broker, a real prefork worker, a real web server, rotel.

The worker exports with a one-minute batch delay and export interval, so what
reaches the receiver was flushed when a pool child exited (or at the worker's
shutdown), not exported on a timer.
"""

# ruff: noqa: F811 - pytest fixtures imported by name
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask import Flask, jsonify

import watchkit
import watchkit.integrations.celery
from tests.integrations.servers import WsgiThread
from tests.support.fixtures import otlp_receiver, rotel_collector  # noqa: F401
from tests.support.receiver import OtlpReceiver
from tests.support.redis_server import redis_server  # noqa: F401

pytestmark = [pytest.mark.collector, pytest.mark.server, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def _worker_env(endpoint: str, broker: str, **overrides: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "WATCHKIT_", "PYTEST_"))
    }
    env.update(
        PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
        WATCHKIT_TEST_CELERY_BROKER=broker,
        WATCHKIT_RAISE_INTERNAL_ERRORS="1",
        OTEL_SERVICE_NAME="bookings-worker",
        WATCHKIT_EXPORTER="otlp",
        OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_BSP_SCHEDULE_DELAY="60000",
        OTEL_BLRP_SCHEDULE_DELAY="60000",
        OTEL_METRIC_EXPORT_INTERVAL="60000",
    )
    env.update(overrides)
    return env


@contextmanager
def _worker(
    endpoint: str, broker: str, *extra: str, **env: str
) -> Iterator[subprocess.Popen[bytes]]:
    command = [
        sys.executable, "-m", "celery", "-A", "tests.integrations.apps.celery_app", "worker",
        "--pool=prefork", "--concurrency=2", "-Q", "notifications", "--loglevel=WARNING",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
        "-n", f"worker-{os.getpid()}@localhost", *extra,
    ]  # fmt: skip
    # A file, not a pipe: a worker that logs a lot would block on a full pipe.
    with tempfile.TemporaryFile() as output_file:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=_worker_env(endpoint, broker, **env),
            stdout=output_file,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)  # warm shutdown: children exit, then the parent
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            output_file.seek(0)
            output = output_file.read().decode(errors="replace")
            print(f"celery worker output:\n{output}")
            # Task failures are logged as JSON; a bare traceback is a crash of the worker.
            assert not [line for line in output.splitlines() if line.startswith("Traceback")], (
                output
            )


@pytest.fixture
def celery_app(redis_server) -> Iterator[Any]:
    """The test app, pointed at the private Redis, with a clean broker database."""
    from tests.integrations.apps import celery_app as module

    module.app.conf.update(broker_url=redis_server.url, result_backend=redis_server.url)
    import redis

    client = redis.Redis(port=redis_server.port)
    client.flushdb()
    client.close()
    yield module
    watchkit.integrations.celery.uninstrument()
    module.app.close()


def _latest(receiver: OtlpReceiver, name: str) -> list[Any]:
    """The last point of every series of ``name``, across all process instances."""
    last: dict[Any, Any] = {}
    for point in receiver.metrics(name):
        key = (
            point.resource_attributes.get("service.instance.id"),
            tuple(sorted(point.attributes.items())),
        )
        last[key] = point
    return list(last.values())


def _total(receiver: OtlpReceiver, name: str, **attributes: str) -> float:
    wanted = {k.replace("_", "."): v for k, v in attributes.items()}
    return sum(
        float(p.value if p.value is not None else p.count or 0)
        for p in _latest(receiver, name)
        if all(p.attributes.get(k) == v for k, v in wanted.items())
    )


def test_request_to_task_is_one_trace_with_metrics_and_logs(
    rotel_collector, otlp_receiver, celery_app
):
    """Web request -> task in a prefork child: one trace, task log lines, outcomes, wait, depth."""
    watchkit.configure(
        service_name="bookings-web", exporter="otlp", endpoint=rotel_collector.http_endpoint
    )
    app = celery_app.app
    watchkit.integrations.celery.instrument(app, queues=celery_app.QUEUES)
    web = Flask("bookings")

    @web.post("/bookings/<int:booking_id>")
    def book(booking_id: int) -> Any:
        # A fixed id: about one random UUID in 500 holds a digit run that the log
        # redaction's card-number rule masks, which this test is not about.
        result = celery_app.send_confirmation.apply_async(
            (booking_id,), task_id=f"booking-{booking_id}-confirmation"
        )
        return jsonify(task_id=result.id)

    watchkit.instrument_flask(web)
    # Waiting in a queue no worker consumes, at three priorities (three Redis lists).
    for priority in (0, 5, 9):
        celery_app.send_confirmation.apply_async((0,), queue="sms", priority=priority)
    # The children export on short timers here: Celery does not guarantee
    # worker_process_shutdown at a warm shutdown, and this test is about the trace,
    # logs and metrics, not the exit flush (test_max_tasks_per_child_one_loses_no_span).
    with _worker(
        rotel_collector.http_endpoint,
        app.conf.broker_url,
        OTEL_BSP_SCHEDULE_DELAY="200",
        OTEL_BLRP_SCHEDULE_DELAY="200",
        OTEL_METRIC_EXPORT_INTERVAL="500",
    ):
        with WsgiThread(web) as server:
            response = httpx.post(f"{server.url}/bookings/42", timeout=10)
        assert response.status_code == 200
        task_id = response.json()["task_id"]
        assert app.AsyncResult(task_id).get(timeout=30) == 42
        assert celery_app.send_sms.delay().get(timeout=30) == "sent"
        failed = celery_app.charge_card.delay()
        failed.get(timeout=30, propagate=False)
        assert failed.failed()
        expired = datetime.now(timezone.utc) - timedelta(seconds=5)
        celery_app.send_confirmation.apply_async((7,), expires=expired)
        # One more task behind the expired one: when it is done, the expiry was seen.
        assert celery_app.send_confirmation.delay(8).get(timeout=30) == 8
        # The children's spans and log lines arrive while they live, on their timers: a
        # warm shutdown may cut their exit flush short (Celery does not promise the signal).
        # The outcome counters are checked after the stop (the revoked one is counted by
        # the main process, which flushes at its exit).
        otlp_receiver.wait_for(
            lambda r: (
                len(r.logs("confirmation sent")) >= 2
                and len(r.spans("process send_confirmation")) >= 2
                and any(
                    isinstance(log.body, str) and log.body.startswith("Task charge_card[")
                    for log in r.logs()
                )
            ),
            timeout=30,
        )
    assert watchkit.force_flush()

    request = otlp_receiver.wait_for_span("POST /bookings/<int:booking_id>")
    spans = otlp_receiver.wait_for(
        lambda r: [
            s for s in r.spans("process send_confirmation") if s.trace_id == request.trace_id
        ],
        timeout=20,
    )
    sent = next(
        s for s in otlp_receiver.spans("send send_confirmation") if s.trace_id == request.trace_id
    )
    processed = spans[0]
    assert sent.kind == "producer" and sent.parent_span_id == request.span_id
    assert processed.kind == "consumer" and processed.parent_span_id == sent.span_id
    assert processed.attributes["messaging.message.id"] == task_id
    assert processed.attributes["messaging.destination.name"] == "notifications"
    assert processed.attributes["job.name"] == "send_confirmation"
    assert processed.resource_attributes["service.name"] == "bookings-worker"
    assert processed.resource_attributes["process.pid"] != os.getpid()

    line = otlp_receiver.wait_for(
        lambda r: [log for log in r.logs("confirmation sent") if log.trace_id == request.trace_id]
    )[0]
    assert line.span_id == processed.span_id
    assert line.attributes["task_id"] == task_id
    assert line.attributes["task_name"] == "send_confirmation"
    assert line.attributes["queue"] == "notifications"

    # Celery's own standard-library record about a task carries the same context.
    charge = next(
        s
        for s in otlp_receiver.spans("process charge_card")
        if s.attributes.get("messaging.message.id") == failed.id
    )
    celery_line = otlp_receiver.wait_for(
        lambda r: [
            log
            for log in r.logs()
            if isinstance(log.body, str) and log.body.startswith(f"Task charge_card[{failed.id}]")
        ]
    )[0]
    assert celery_line.trace_id == charge.trace_id
    assert celery_line.attributes["task_name"] == "charge_card"

    # Each pool child reports as its own instance.
    instances: dict[Any, set[Any]] = {}
    for span in otlp_receiver.spans():
        resource = span.resource_attributes
        instances.setdefault(resource["process.pid"], set()).add(resource["service.instance.id"])
    assert all(len(ids) == 1 for ids in instances.values()), instances
    assert len({next(iter(ids)) for ids in instances.values()}) == len(instances)

    def outcomes() -> dict[str, float]:
        return {
            outcome: _total(otlp_receiver, "watchkit.queue.jobs", job_outcome=outcome)
            for outcome in ("success", "failure", "retry", "revoked")
        }

    otlp_receiver.wait_for(lambda r: outcomes()["revoked"] == 1, timeout=20)
    assert outcomes() == {"success": 3, "failure": 1, "retry": 1, "revoked": 1}
    assert (
        _total(otlp_receiver, "watchkit.queue.jobs", job_outcome="failure", job_name="charge_card")
        == 1
    )
    failure = [
        p
        for p in _latest(otlp_receiver, "messaging.process.duration")
        if p.attributes.get("job.name") == "charge_card"
    ]
    assert [p.attributes.get("error.type") for p in failure] == ["ValueError"]
    waits = [
        p
        for p in _latest(otlp_receiver, "watchkit.queue.wait.duration")
        if p.attributes.get("messaging.destination.name") == "notifications"
    ]
    assert sum(p.count for p in waits) >= 4
    assert waits[0].explicit_bounds[-1] == 1800.0
    # Three to sms, five to notifications from here; the retry is sent by the worker.
    otlp_receiver.wait_for(
        lambda r: _total(r, "messaging.client.sent.messages", messaging_system="celery") == 9
    )

    def depth(queue: str) -> list[float]:
        return [
            float(p.value)
            for p in otlp_receiver.metrics("watchkit.queue.depth")
            if p.attributes.get("messaging.destination.name") == queue
        ]

    otlp_receiver.wait_for(lambda r: depth("sms"), timeout=20)
    assert set(depth("sms")) == {3.0}  # the three priority lists, from one process at a time


def test_max_tasks_per_child_one_loses_no_span(rotel_collector, otlp_receiver, celery_app):
    """Every child runs one task and exits: each task's span arrives, flushed before the exit."""
    app = celery_app.app
    with _worker(
        rotel_collector.http_endpoint, app.conf.broker_url, "--max-tasks-per-child=1"
    ) as worker:
        results = [celery_app.send_confirmation.delay(n) for n in range(6)]
        assert [r.get(timeout=40) for r in results] == list(range(6))
        # Checked while the worker still runs: the spans came from the children's exits.
        spans = otlp_receiver.wait_for(
            lambda r: (
                len(r.spans("process send_confirmation")) >= 6
                and r.spans("process send_confirmation")
            ),
            timeout=20,
        )
        assert worker.poll() is None
    ids = {s.attributes["messaging.message.id"] for s in spans}
    assert ids == {r.id for r in results}
    assert len({s.resource_attributes["process.pid"] for s in spans}) == 6


def test_children_forked_while_the_main_process_logs_flush_at_exit(
    rotel_collector, otlp_receiver, celery_app
):
    """Children forked while a thread of the main process writes a line run, exit, and flush.

    The main process logs without pause, so the pool forks its children (the first
    two and each replacement after max_tasks_per_child) while that thread holds the
    line lock. A child that inherited it held would hang on its first line: no task,
    no exit, a warm shutdown ended by SIGKILL, its telemetry lost. With one-minute
    timers, what arrives was flushed at a child's exit, some at the warm shutdown
    (eight tasks do not split into whole runs of three).
    """
    app = celery_app.app
    stop_started = 0.0
    with _worker(
        rotel_collector.http_endpoint,
        app.conf.broker_url,
        "--max-tasks-per-child=3",
        WATCHKIT_TEST_CHATTY_MAIN="1",
    ):
        results = [celery_app.send_confirmation.delay(n) for n in range(8)]
        assert [r.get(timeout=20) for r in results] == list(range(8))
        stop_started = time.monotonic()
    # A hung child keeps the warm shutdown waiting until _worker kills it (30 s).
    assert time.monotonic() - stop_started < 20

    ids = {r.id for r in results}

    def arrived(r: OtlpReceiver) -> bool:
        spans = {
            s.attributes.get("messaging.message.id") for s in r.spans("process send_confirmation")
        }
        return (
            spans >= ids
            and {log.attributes.get("task_id") for log in r.logs("confirmation sent")} >= ids
            and _total(r, "watchkit.queue.jobs", job_name="send_confirmation") == 8
        )

    otlp_receiver.wait_for(arrived, timeout=20)
    spans = otlp_receiver.spans("process send_confirmation")
    assert len(spans) == 8
    pids = {s.resource_attributes["process.pid"] for s in spans}
    assert len(pids) >= 3  # at least one replacement child ran tasks
    assert {
        log.resource_attributes["process.pid"] for log in otlp_receiver.logs("confirmation sent")
    } == pids


def test_pool_children_export_on_their_own(rotel_collector, otlp_receiver, celery_app):
    """A child's batch processor thread works after the fork: spans arrive while it lives."""
    app = celery_app.app
    with _worker(
        rotel_collector.http_endpoint, app.conf.broker_url, OTEL_BSP_SCHEDULE_DELAY="100"
    ) as worker:
        assert celery_app.send_confirmation.delay(5).get(timeout=30) == 5
        span = otlp_receiver.wait_for_span("process send_confirmation", timeout=20)
        assert worker.poll() is None
    assert span.resource_attributes["service.name"] == "bookings-worker"
