"""audit(): schema, chain, validation, spool durability end to end, redaction at the collector."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import watchkit
from tests.helpers import run_python
from tests.support.receiver import OtlpReceiver
from tests.support.rotel import RotelCollector
from watchkit._audit import GENESIS_HASH, verify_file, verify_lines


def _records(telemetry) -> list[dict]:
    return [dict(r.attributes or {}) for r in telemetry.logs() if r.event_name.startswith("audit.")]


def test_audit_record_schema(telemetry) -> None:
    """One record with event.name, action, actor, outcome, target, details, time, seq, hash."""
    import structlog

    from watchkit._internal.state import get_tracer

    structlog.contextvars.bind_contextvars(request_id="req-9", **{"client.address": "203.0.113.5"})
    try:
        with get_tracer().start_as_current_span("cancel"):
            watchkit.audit(
                "reservation.cancel",
                actor="user:42",
                outcome="success",
                target="reservation:R-1042",
                reason="guest request",
                nights=3,
            )
    finally:
        structlog.contextvars.clear_contextvars()
    (record,) = telemetry.logs(event="audit.reservation.cancel")
    attributes = dict(record.attributes or {})
    assert attributes["event.name"] == "audit.reservation.cancel"
    assert attributes["audit.action"] == "reservation.cancel"
    assert attributes["audit.actor"] == "user:42"
    assert attributes["audit.outcome"] == "success"
    assert attributes["audit.target"] == "reservation:R-1042"
    assert attributes["reason"] == "guest request"
    assert attributes["nights"] == 3
    assert attributes["client.address"] == "203.0.113.5"
    assert attributes["request_id"] == "req-9"
    assert attributes["audit.time"].endswith("Z")
    assert isinstance(attributes["audit.seq"], int)
    assert len(attributes["audit.hash"]) == 64
    assert record.trace_id == telemetry.span("cancel").context.trace_id


def test_records_chain_and_verify(telemetry) -> None:
    """Consecutive records link by hash; deleting or editing one is detected."""
    for i in range(5):
        watchkit.audit("login", actor=f"user:{i}", outcome="failure")
    lines = [json.dumps(r) for r in _records(telemetry)]
    assert verify_lines(lines).ok
    assert verify_lines(lines).records == 5
    deleted = lines[:2] + lines[3:]
    result = verify_lines(deleted)
    assert (result.ok, result.line) == (False, 3)
    assert "missing" in (result.reason or "")
    edited = json.loads(lines[1])
    edited["audit.actor"] = "user:admin"
    result = verify_lines([lines[0], json.dumps(edited), *lines[2:]])
    assert (result.ok, result.line) == (False, 2)
    assert "modified" in (result.reason or "")


def test_first_record_must_start_from_genesis() -> None:
    """A chain starting at seq 1 with a forged prev_hash is rejected."""
    from watchkit._audit import chain_hash

    record = {"audit.seq": 1, "audit.prev_hash": "f" * 64, "audit.stream": "s"}
    record["audit.hash"] = chain_hash("f" * 64, record)
    assert not verify_lines([json.dumps(record)]).ok
    record = {"audit.seq": 1, "audit.prev_hash": GENESIS_HASH, "audit.stream": "s"}
    record["audit.hash"] = chain_hash(GENESIS_HASH, record)
    assert verify_lines([json.dumps(record)]).ok


def test_details_are_redacted(telemetry) -> None:
    """Sensitive detail keys and value patterns are scrubbed before hashing and export."""
    watchkit.audit(
        "payment.update",
        actor="user:7",
        outcome="success",
        card_number="4111111111111111",
        note="auth was Bearer abc.def.ghi",
        extra={"password": "x"},
    )
    (record,) = _records(telemetry)
    assert record["card_number"] == "[REDACTED]"
    assert record["note"] == "auth was [REDACTED]"
    assert json.loads(record["extra"]) == {"password": "[REDACTED]"}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"outcome": "ok"}, "outcome"),
        ({"outcome": "success", "action": ""}, "action"),
        ({"outcome": "success", "actor": ""}, "actor"),
        ({"outcome": "success", "audit.seq": 1}, "reserved"),
    ],
)
def test_invalid_arguments_are_value_errors(telemetry, kwargs, match) -> None:
    """Bad outcome, action, actor or a reserved detail name raise ValueError."""
    arguments = {"action": "login", "actor": "user:1", **kwargs}
    action = arguments.pop("action")
    with pytest.raises(ValueError, match=match):
        watchkit.audit(action, **arguments)
    assert _records(telemetry) == []


def test_not_filtered_by_log_level(telemetry, clean_env) -> None:
    """log_level=critical does not silence audit records."""
    watchkit.configure(exporter="none", log_level="critical")
    watchkit.audit("login", actor="user:1", outcome="denied")
    assert len(_records(telemetry)) == 1


# ---------------------------------------------------------------- spool and collector

_EMIT = """
import os, sys, watchkit
watchkit.configure(service_name="hotel", endpoint=os.environ["ENDPOINT"], timeout=1,
                   shutdown_timeout=2)
for i in range({count}):
    watchkit.audit("reservation.create", actor=f"user:{{i}}", outcome="success",
                   target=f"reservation:R-{{i}}", password="hunter2",
                   note="Bearer abcdefgh paid 4111 1111 1111 1111")
{after}
"""


def _spooled(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.jsonl"))


@pytest.mark.collector
@pytest.mark.slow
def test_audit_survives_collector_outage_and_restart_exactly_once(
    rotel_collector: RotelCollector,
    otlp_receiver: OtlpReceiver,
    tmp_path: Path,
) -> None:
    """Collector down: 1,000 spooled; new process, collector up: all arrive once, chained."""
    spool = tmp_path / "spool"
    env = {"ENDPOINT": rotel_collector.http_endpoint, "WATCHKIT_AUDIT_SPOOL_DIR": str(spool)}
    rotel_collector.stop()
    run_python(_EMIT.format(count=1000, after=""), env=env, timeout=60)
    files = _spooled(spool)
    assert len(files) == 1
    assert verify_file(files[0]).ok
    assert verify_file(files[0]).records == 1000
    assert otlp_receiver.logs() == []

    rotel_collector.start()
    wait = (
        "import time\n"
        "from watchkit._export.audit_spool import current_trail\n"
        "deadline = time.monotonic() + 30\n"
        "while time.monotonic() < deadline and current_trail().orphans:\n"
        "    time.sleep(0.05)\n"
        "watchkit.shutdown()\n"
    )
    run_python(_EMIT.format(count=0, after=wait), env=env, timeout=60)
    received = otlp_receiver.wait_for(
        lambda r: (
            (logs := [x for x in r.logs() if x.scope_name == "watchkit.audit"])
            and len(logs) >= 1000
            and logs
        ),
        timeout=20,
    )
    attributes = [dict(log.attributes) for log in received]
    assert len(attributes) == 1000  # exactly once
    assert [a["audit.seq"] for a in attributes] == list(range(1, 1001))  # in order
    assert verify_lines([json.dumps(a) for a in attributes]).ok  # intact chain
    assert all(a["password"] == "[REDACTED]" for a in attributes)
    assert all(a["note"] == "[REDACTED] paid [REDACTED]" for a in attributes)
    assert received[0].event_name == "audit.reservation.create"
    assert _spooled(spool) == []  # acknowledged files are removed


def test_tampered_spool_line_is_reported(tmp_path: Path) -> None:
    """Editing one spooled line makes `python -m watchkit audit verify` fail at that line."""
    spool = tmp_path / "spool"
    env = {"ENDPOINT": "http://127.0.0.1:9", "WATCHKIT_AUDIT_SPOOL_DIR": str(spool)}
    run_python(_EMIT.format(count=20, after=""), env=env, timeout=60)
    (path,) = _spooled(spool)
    ok = run_python(
        f"import sys; sys.argv=['watchkit','audit','verify',{str(path)!r}]; "
        "import runpy; runpy.run_module('watchkit', run_name='__main__')",
        check=False,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "20 audit records" in ok.stdout
    lines = path.read_text().splitlines()
    record = json.loads(lines[6])
    record["attributes"]["audit.outcome"] = "failure"
    lines[6] = json.dumps(record)
    path.write_text("\n".join(lines) + "\n")
    broken = run_python(
        f"import sys; sys.argv=['watchkit','audit','verify',{str(path)!r}]; "
        "import runpy; runpy.run_module('watchkit', run_name='__main__')",
        check=False,
    )
    assert broken.returncode == 1
    assert "line 7" in broken.stdout
    assert "modified" in broken.stdout


@pytest.mark.collector
def test_logs_exported_over_otlp_are_redacted_and_correlated(
    rotel_collector: RotelCollector,
    otlp_receiver: OtlpReceiver,
    clean_env,
    capsys,
) -> None:
    """At the real collector: log records redacted, with the span's trace id, no id duplicates."""
    from watchkit._internal.state import get_tracer

    watchkit.configure(
        service_name="hotel", endpoint=rotel_collector.http_endpoint, log_format="json"
    )
    with get_tracer().start_as_current_span("reserve") as span:
        watchkit.get_logger("bookings").info(
            "reservation.created",
            api_key="k-123",
            note="Bearer abcdefgh",
            guest={"ssn": "123-45-6789", "name": "Ana"},
        )
    trace_id = format(span.get_span_context().trace_id, "032x")
    watchkit.force_flush()
    (log,) = otlp_receiver.wait_for(lambda r: r.logs("reservation.created"))
    assert log.trace_id == trace_id
    assert log.severity_text == "INFO"
    assert log.attributes["api_key"] == "[REDACTED]"
    assert log.attributes["note"] == "[REDACTED]"
    assert log.attributes["guest"] == {"ssn": "[REDACTED]", "name": "Ana"}
    assert "trace_id" not in log.attributes
    assert log.resource_attributes["service.name"] == "hotel"
    line = json.loads(capsys.readouterr().out.splitlines()[0])
    assert line["trace_id"] == trace_id


# ---------------------------------------------------------------- review findings


class _Exporter:
    """An exporter that records batches (or fails, or blocks until released)."""

    def __init__(self, ok: bool = True) -> None:
        import threading

        self.ok = ok
        self.received: list[dict] = []
        self.release = threading.Event()
        self.release.set()

    def export(self, batch):
        from opentelemetry.sdk._logs.export import LogRecordExportResult

        self.release.wait()
        if not self.ok:
            return LogRecordExportResult.FAILURE
        self.received += [dict(r.log_record.attributes or {}) for r in batch]
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        self.release.set()


def _trail(directory: Path, exporter: _Exporter):
    from opentelemetry.sdk.resources import Resource

    from watchkit._export.audit_spool import Trail

    return Trail(None, str(directory), exporter, Resource.create({}), 1.0)  # type: ignore[arg-type]


def test_a_record_larger_than_the_read_chunk_is_shipped_not_lost(tmp_path: Path) -> None:
    """A spooled line of more than 1 MiB neither stalls the spool nor deletes what follows."""
    from opentelemetry.trace import INVALID_SPAN_CONTEXT

    down = _trail(tmp_path, _Exporter(ok=False))
    for seq, size in ((1, 1), (2, 2_500_000), (3, 1)):
        down.append({"audit.seq": seq, "blob": "x" * size}, 1, INVALID_SPAN_CONTEXT)
    down.close()
    up = _Exporter()
    trail = _trail(tmp_path, up)
    trail._scan()
    for _ in range(10):
        trail.ship_once()
    assert [r["audit.seq"] for r in up.received] == [1, 2, 3]
    assert list(tmp_path.glob("*.jsonl")) == []


def test_huge_detail_values_are_capped(telemetry) -> None:
    """A 10 MB detail is cut (so the record can still be exported) and the chain stays valid."""
    watchkit.audit("upload", actor="user:1", outcome="success", body="y" * 10_000_000)
    (record,) = _records(telemetry)
    assert len(record["body"]) <= 70_000
    assert record["body"].endswith("[TRUNCATED]")
    assert verify_lines([json.dumps(record)]).ok


def test_odd_details_are_recorded_and_never_break_the_chain(telemetry) -> None:
    """Unrepresentable objects, lone surrogates and bytes: recorded, redacted, chain intact."""

    class Unprintable:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    watchkit.audit("a", actor="user:1", outcome="success", note="bad \udc80 text")
    watchkit.audit("b", actor="user:1", outcome="success", obj=Unprintable())
    watchkit.audit("c", actor="user:\ud800", outcome="success", target="t\udfff")
    watchkit.audit("d", actor="user:1", outcome="success", raw=b"Bearer abcdefghij")
    records = _records(telemetry)
    assert [r["audit.action"] for r in records] == ["a", "b", "c", "d"]
    assert "Unprintable" in records[1]["obj"]
    assert "abcdefghij" not in records[3]["raw"]
    assert verify_lines([json.dumps(r) for r in records]).ok  # no sequence gap


def test_fsync_runs_about_every_half_second_not_per_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under steady load the spool is fsync'd regularly, but not once per record."""
    import os
    import time

    from opentelemetry.trace import INVALID_SPAN_CONTEXT

    from watchkit._export import audit_spool

    calls: list[int] = []
    real = os.fsync
    monkeypatch.setattr(audit_spool.os, "fsync", lambda fd: (calls.append(fd), real(fd))[1])
    exporter = _Exporter(ok=False)  # collector down: records stay on disk
    trail = _trail(tmp_path, exporter)
    seq = 0
    deadline = time.monotonic() + 1.6
    while time.monotonic() < deadline:
        seq += 1
        trail.append({"audit.seq": seq}, 1, INVALID_SPAN_CONTEXT)
        time.sleep(0.002)
    syncs = len(calls)
    trail.close()
    assert seq > 200
    assert 2 <= syncs <= 6, f"{syncs} fsyncs for {seq} records in 1.6 s"


def test_forked_child_does_not_wait_for_the_parents_spool(tmp_path: Path) -> None:
    """A child forked with the parent's export in flight shuts down at once, own file only."""
    import os
    import time

    from opentelemetry.trace import INVALID_SPAN_CONTEXT

    exporter = _Exporter()
    exporter.release.clear()  # the parent's export hangs (slow collector)
    trail = _trail(tmp_path, exporter)
    trail.append({"audit.seq": 1}, 1, INVALID_SPAN_CONTEXT)
    time.sleep(0.1)  # the shipping thread is inside export()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        started = time.monotonic()
        trail.close()
        code = 0 if time.monotonic() - started < 0.5 else 1
        trail.append({"audit.seq": 1}, 1, INVALID_SPAN_CONTEXT)
        os._exit(
            code
            if trail.own is not None and trail.own.path.endswith(f"-{os.getpid()}.jsonl")
            else 3
        )
    _, status = os.waitpid(pid, 0)
    exporter.release.set()
    trail.close()
    assert os.waitstatus_to_exitcode(status) == 0


def test_a_malformed_but_parseable_spool_line_does_not_stall_shipping(tmp_path: Path) -> None:
    """A JSON line that is not a usable record (bad trace id) is skipped, not retried forever."""
    good = {"time_unix_nano": 1, "attributes": {"audit.seq": 1}}
    bad = {"time_unix_nano": "x", "trace_id": "zz", "span_id": "yy", "attributes": {"audit.seq": 2}}
    last = {"time_unix_nano": 3, "attributes": {"audit.seq": 3}}
    path = tmp_path / "audit-00000000000000000001-1.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in (good, bad, last)))
    exporter = _Exporter()
    trail = _trail(tmp_path, exporter)
    trail._scan()
    for _ in range(5):
        trail.ship_once()
    assert [r["audit.seq"] for r in exporter.received] == [1, 3]
    assert list(tmp_path.glob("*.jsonl")) == []


@pytest.mark.collector
def test_forked_workers_audit_records_carry_their_own_resource(
    rotel_collector: RotelCollector, otlp_receiver: OtlpReceiver, tmp_path: Path
) -> None:
    """gunicorn --preload: a worker's audit records name the worker, not the master."""
    result = run_python(
        f"""
        import json, os
        import watchkit
        watchkit.configure(exporter="otlp", endpoint="{rotel_collector.http_endpoint}",
                           audit_spool_dir={str(tmp_path)!r}, service_name="preforked")
        pid = os.fork()
        if pid == 0:
            watchkit.audit("booking.cancel", actor="worker", outcome="success")
            os._exit(0 if watchkit.shutdown(timeout=10) else 3)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({{"child": pid, "status": status}}))
        watchkit.shutdown(timeout=5)
        """,
        timeout=60,
    )
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["status"] == 0, result.stderr
    record = otlp_receiver.wait_for(
        lambda r: [x for x in r.logs() if x.attributes.get("audit.actor") == "worker"]
    )[0]
    assert record.resource_attributes["process.pid"] == out["child"]
    assert record.resource_attributes["service.name"] == "preforked"


@pytest.mark.collector
def test_audit_records_are_never_sampled(
    rotel_collector: RotelCollector, otlp_receiver: OtlpReceiver, tmp_path: Path, clean_env
) -> None:
    """With traces sampled at 0 %, an audit call inside an unsampled span still arrives."""
    from watchkit._internal.state import get_tracer

    watchkit.configure(
        exporter="otlp",
        endpoint=rotel_collector.http_endpoint,
        sample_ratio=0.0,
        audit_spool_dir=str(tmp_path),
    )
    with get_tracer().start_as_current_span("unsampled") as span:
        assert not span.get_span_context().trace_flags.sampled
        watchkit.audit("refund.issue", actor="support:ana", outcome="success")
    assert watchkit.shutdown(timeout=10)
    otlp_receiver.wait_for(
        lambda r: [x for x in r.logs() if x.attributes.get("audit.action") == "refund.issue"]
    )
    assert not [s for s in otlp_receiver.spans() if s.name == "unsampled"]
