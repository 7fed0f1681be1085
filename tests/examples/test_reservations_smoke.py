"""The reservations example end to end: its one command, exporting to a real collector.

``python -m examples.reservations`` starts a private redis-server (small ``maxmemory``,
``volatile-lru``), the stand-in payment provider, the Flask app under werkzeug and the
worker, drives its traffic script for a few seconds and stops everything. Every process
exports to rotel; the test finds at the receiver what each requirement of the example
promises: the business counters and the critical flow, payments by outcome and the
provider as a dependency, cache hits, misses and real evictions, the job queue (one trace
from the request to the worker), database durations and slow-query logs, the audit trail
and the brute-force alert.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from tests.support.fixtures import otlp_receiver, rotel_collector  # noqa: F401 - fixtures
from tests.support.receiver import OtlpReceiver, ReceivedMetricPoint

pytestmark = [pytest.mark.server, pytest.mark.collector]
ROOT = Path(__file__).resolve().parents[2]


def _last(points: Iterable[ReceivedMetricPoint], **attributes: Any) -> dict[tuple[Any, ...], Any]:
    """The latest point of each series (per process) whose attributes include ``attributes``."""
    return {
        (p.resource_attributes.get("service.instance.id"), *sorted(p.attributes.items())): p
        for p in points
        if all(p.attributes.get(k) == v for k, v in attributes.items())
    }


def _values(receiver: OtlpReceiver, name: str, by: str, **attributes: Any) -> dict[Any, Any]:
    """Latest value (or count) of metric ``name`` per value of attribute ``by``, summed."""
    totals: dict[Any, Any] = {}
    for point in _last(receiver.metrics(name), **attributes).values():
        key = point.attributes.get(by)
        value = point.value if point.value is not None else point.count
        totals[key] = totals.get(key, 0) + value
    return totals


def test_example_telemetry_reaches_the_collector(  # type: ignore[no-untyped-def]
    rotel_collector,  # noqa: F811
    otlp_receiver,  # noqa: F811
    tmp_path: Path,
) -> None:
    """One run of the example: its spans, metrics and logs, requirement by requirement."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "WATCHKIT_", "PYTEST_"))
    }
    paths = [str(Path(p).resolve()) for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env.update(
        PYTHONPATH=os.pathsep.join([str(ROOT), *paths]),
        WATCHKIT_EXPORTER="otlp",
        OTEL_EXPORTER_OTLP_ENDPOINT=rotel_collector.http_endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_METRIC_EXPORT_INTERVAL="1000",
        WATCHKIT_AUDIT_SPOOL_DIR=str(tmp_path / "audit"),
    )
    output = tmp_path / "example.log"
    with output.open("wb") as log:
        run = subprocess.run(
            [sys.executable, "-m", "examples.reservations", "--duration", "8"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=120,
            check=False,
        )
    text = output.read_text(errors="replace")
    assert run.returncode == 0, text[-3000:]
    assert "server errors" in text  # the traffic summary
    r = otlp_receiver

    # Reservations created and cancelled; the critical flow around "create reservation".
    created = r.wait_for(lambda r: _values(r, "reservations.created", "room.type"))
    assert sum(created.values()) >= 5
    assert r.wait_for(lambda r: _values(r, "reservations.cancelled", "cancellation.reason"))
    flows = r.wait_for(
        lambda r: _values(
            r, "watchkit.flow.duration", "flow.outcome", **{"flow.name": "reservation.create"}
        )
    )
    assert flows.get("success", 0) >= 5
    flow_span = r.wait_for_span("reservation.create")
    parent = {s.span_id: s for s in r.spans()}[flow_span.parent_span_id]
    assert parent.name == "POST /reservations" and parent.kind == "server"

    # Payments by outcome; the provider is the dependency "payments".
    payments = r.wait_for(lambda r: _values(r, "reservations.payments", "payment.outcome"))
    assert payments.get("approved", 0) >= 5
    assert {"approved", "declined"} <= set(payments)
    calls = _values(
        r,
        "http.client.request.duration",
        "http.response.status_code",
        **{"service.peer.name": "payments"},
    )
    assert {200, 402} <= set(calls)

    # HTTP: routes, not paths; 5xx from the failing provider are errors.
    routes = _values(r, "http.server.request.duration", "http.route")
    assert {
        "/reservations",
        "/hotels/<hotel>/availability",
        "/reservations/<int:reservation_id>/cancel",
        "/reports/occupancy",
    } <= set(routes)
    booking = _values(
        r,
        "http.server.request.duration",
        "http.response.status_code",
        **{"http.route": "/reservations"},
    )
    assert {201, 402, 502} <= set(booking), booking

    # The availability cache in Redis: hits, misses, and the server's evictions.
    cache = r.wait_for(
        lambda r: _values(
            r, "watchkit.cache.operations", "cache.result", **{"cache.name": "availability"}
        )
    )
    assert cache.get("hit", 0) > 0 and cache.get("miss", 0) > 0
    evicted = r.wait_for(lambda r: _values(r, "watchkit.cache.redis.evicted_keys", "cache.server"))
    assert max(evicted.values()) > 0, f"no eviction: {evicted}"

    # The job queue: the worker's CONSUMER span continues the request's trace.
    jobs = r.wait_for(lambda r: _values(r, "watchkit.queue.jobs", "job.outcome"))
    assert jobs.get("success", 0) > 0 and {"retry", "dead_lettered"} & set(jobs)
    assert r.wait_for(lambda r: r.metrics("watchkit.queue.depth"))
    assert r.wait_for(lambda r: r.metrics("watchkit.queue.wait.duration"))
    sent = {s.span_id: s for s in r.spans("send confirmations")}
    processed = r.wait_for_span("process confirmations")
    assert processed.kind == "consumer"
    assert processed.resource_attributes["service.name"] == "reservations"
    assert processed.parent_span_id in sent
    assert sent[processed.parent_span_id].trace_id == processed.trace_id

    # The database: durations per operation, and the slow report logged as a slow query.
    db = _values(
        r,
        "db.client.operation.duration",
        "db.operation.name",
        **{"db.system.name": "sqlite", "db.namespace": "reservations"},
    )
    assert {"SELECT", "INSERT", "UPDATE"} <= set(db)
    slow = r.wait_for(
        lambda r: [
            rec
            for rec in r.logs("watchkit.db.slow_query")
            if "RECURSIVE" in str(rec.attributes.get("db.query.text"))
        ]
    )
    assert slow[0].attributes["code.function.name"] == "occupancy_report"
    assert slow[0].trace_id

    # Audit records of cancellations and logins; the brute-force alert on one address.
    assert r.wait_for(lambda r: r.logs("audit.reservation.cancel"))
    assert r.wait_for(lambda r: r.logs("audit.login"))
    alert = r.wait_for(lambda r: r.logs("security.brute_force_suspected"))[0]
    assert alert.attributes["client.address"] == "203.0.113.66"
    alerts = r.wait_for(lambda r: _values(r, "watchkit.security.alerts", "kind"))
    assert alerts.get("brute_force", 0) >= 1
