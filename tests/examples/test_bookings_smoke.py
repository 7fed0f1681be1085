"""The bookings example end to end: its one command, real servers, real Redis, real rotel.

``python -m examples.bookings`` starts the stand-in providers, a prefork Celery worker and
the Django app under gunicorn (2 workers) against the session's private redis-server,
drives its traffic script for a few seconds and stops everything; every process exports
to the rotel collector. The test then finds the telemetry each requirement asks for.
"""

# ruff: noqa: F811 - pytest fixtures imported by name
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.support.fixtures import otlp_receiver, rotel_collector  # noqa: F401
from tests.support.receiver import OtlpReceiver
from tests.support.redis_server import redis_server  # noqa: F401

pytestmark = [pytest.mark.collector, pytest.mark.server]

ROOT = Path(__file__).resolve().parents[2]
PAYMENT_ROUTE = "/bookings/<int:booking_id>/payment"


def _run_example(endpoint: str, redis_url: str, log: Path) -> int:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "WATCHKIT_", "PYTEST_"))
    }
    env.update(
        PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
        OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_METRIC_EXPORT_INTERVAL="2000",
        OTEL_BSP_SCHEDULE_DELAY="500",
        OTEL_BLRP_SCHEDULE_DELAY="500",
        # A watchkit error inside any of the example's processes is raised, not swallowed.
        WATCHKIT_RAISE_INTERNAL_ERRORS="1",
    )
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "examples.bookings", "--duration", "8",
             "--redis-url", redis_url],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            return process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            # SIGTERM, not SIGKILL: the example stops its children (in sessions of their own).
            process.terminate()
            process.wait(timeout=60)
            raise


def _total(receiver: OtlpReceiver, name: str, **wanted: str) -> float:
    """Sum over processes of the last value of every series of ``name`` matching ``wanted``."""
    last: dict[Any, Any] = {}
    for point in receiver.metrics(name):
        if all(point.attributes.get(k) == v for k, v in wanted.items()):
            key = (point.resource_attributes.get("service.instance.id"),
                   tuple(sorted(point.attributes.items())))  # fmt: skip
            last[key] = point
    return sum(float(p.value if p.value is not None else p.count or 0) for p in last.values())


def test_example_runs_and_its_telemetry_arrives(
    rotel_collector, otlp_receiver, redis_server, tmp_path
):
    client = redis.Redis(port=redis_server.port)
    client.flushdb()
    client.close()
    log = tmp_path / "example.log"
    status = _run_example(rotel_collector.http_endpoint, redis_server.url, log)
    output = log.read_text(errors="replace")
    print(output[-20000:])
    assert status == 0, output[-5000:]
    assert "bookings: " in output and "requests, by status" in output
    # Log records are JSON lines (a failed task's carries its traceback as a JSON string); a
    # bare traceback is a crash of one of the example's processes, or a watchkit error raised.
    crashes = [n for n, line in enumerate(output.splitlines()) if line.startswith("Traceback")]
    assert not crashes, "\n".join(output.splitlines()[crashes[0] - 40 :][:80]) if crashes else ""
    r = otlp_receiver

    # Bookings, calendar, payments and webhooks: server spans named after the Django route.
    r.wait_for_span(f"POST {PAYMENT_ROUTE}", timeout=20)
    names = {s.name for s in r.spans()}
    for route in ("POST /login", "POST /logout", "GET /calendar/availability",
                  "POST /bookings", "GET /bookings/<int:booking_id>",
                  "POST /webhooks/payments"):  # fmt: skip
        assert route in names, sorted(names)
    durations = {
        (p.attributes.get("http.route"), p.attributes.get("http.response.status_code"))
        for p in r.metrics("http.server.request.duration")
    }
    assert (PAYMENT_ROUTE, 200) in durations
    assert (PAYMENT_ROUTE, 402) in durations  # declined
    assert {(PAYMENT_ROUTE, 502), (PAYMENT_ROUTE, 504)} <= durations  # provider error, timeout
    assert ("/login", 429) in durations  # the guessing address, blocked
    assert not [d for d in durations if d[1] == 500], durations  # 5xx only from the provider
    assert not [
        p
        for p in r.metrics("http.server.request.duration")
        if str(p.attributes.get("http.route", "")).endswith("z")
    ]  # probes: no points
    assert _total(r, "db.client.operation.duration", **{"db.system.name": "sqlite"}) > 0

    # Logins and logouts by outcome; the brute-force alert across gunicorn workers.
    assert _total(r, "watchkit.security.login.attempts", outcome="success") > 0
    assert _total(r, "watchkit.security.login.attempts", outcome="failure") >= 6
    assert _total(r, "watchkit.security.alerts", kind="brute_force") >= 1
    for action, outcome in (("login", "success"), ("login", "failure"), ("login", "blocked"),
                            ("logout", "success")):  # fmt: skip
        assert _total(r, "bookings.auth.attempts", action=action, outcome=outcome) > 0
    alert = r.wait_for(lambda rr: rr.logs("security.brute_force_suspected"), timeout=10)[0]
    assert (
        alert.attributes.get("client.address") == "203.0.113.66"
        or alert.attributes.get("user.name") == "learner01"
    )

    # Payments: attempts by outcome; the provider as a dependency, without our trace headers.
    for outcome in ("approved", "declined", "error"):
        assert _total(r, "bookings.payment.attempts", outcome=outcome) > 0, outcome
    assert _total(r, "http.client.request.duration", **{"service.peer.name": "payments"}) > 0
    # Webhooks: the provider's status against ours; a mismatch is counted, logged and audited.
    assert _total(r, "bookings.payment.webhooks", result="match") > 0
    assert _total(r, "bookings.payment.webhooks", result="mismatch") > 0
    assert _total(r, "watchkit.events", **{"event.name": "payment.status_mismatch"}) > 0
    event = r.wait_for(
        lambda rr: [
            g for g in rr.logs() if g.attributes.get("event.name") == "payment.status_mismatch"
        ],
        timeout=10,
    )[0]
    assert event.attributes["provider_status"] != event.attributes["internal_status"]
    audit = r.wait_for(lambda rr: rr.logs("audit.payment.status_mismatch"), timeout=10)[0]
    assert audit.attributes["audit.outcome"] == "failure"
    assert audit.attributes["audit.target"].startswith("payment:")
    assert {"provider_status", "internal_status"} <= set(audit.attributes)

    # Notifications through Celery: one trace from the payment request to the task.
    payment = next(s for s in r.spans(f"POST {PAYMENT_ROUTE}")
                   if s.attributes.get("http.response.status_code") == 200)  # fmt: skip
    tasks = r.wait_for(
        lambda rr: [
            s for s in rr.spans("process bookings.send_email") if s.trace_id == payment.trace_id
        ],
        timeout=20,
    )
    assert tasks[0].kind == "consumer"
    assert tasks[0].resource_attributes["process.pid"] != payment.resource_attributes["process.pid"]
    assert _total(r, "watchkit.queue.jobs", **{"job.name": "bookings.send_sms",
                                                "job.outcome": "success"}) > 0  # fmt: skip
    assert r.metrics("watchkit.queue.depth"), "no queue depth from the Celery integration"
    queues = {
        p.attributes.get("messaging.destination.name") for p in r.metrics("watchkit.queue.depth")
    }
    assert queues == {"notifications", "sms"}
    assert _total(r, "bookings.notifications", channel="email", outcome="delivered") > 0
    assert _total(r, "bookings.notifications", channel="email", outcome="bounced") > 0
    assert _total(r, "bookings.notifications", channel="sms", outcome="failed") > 0
    assert _total(r, "watchkit.events", **{"event.name": "notification.bounced"}) > 0
    bounced = r.wait_for(
        lambda rr: [g for g in rr.logs("notification.bounced") if g.attributes.get("task_name")],
        timeout=10,
    )[0]
    assert bounced.attributes["task_name"] == "bookings.send_email"
    # SMS and e-mail providers as dependencies of the worker.
    for peer in ("sms", "email"):
        assert _total(r, "watchkit.dependency.duration", **{"service.peer.name": peer}) > 0, peer

    # Disk space of the log and backup paths: runtime metrics and health checks.
    mounts = {str(p.attributes.get("system.filesystem.mountpoint"))
              for p in r.metrics("system.filesystem.utilization")}  # fmt: skip
    assert any(m.endswith("/log") for m in mounts) and any(m.endswith("/backups") for m in mounts)
    checks = {
        p.attributes.get("health.check.name") for p in r.metrics("watchkit.health.check.status")
    }
    assert {"disk-logs", "disk-backups", "database", "redis", "notification-backlog"} <= checks
