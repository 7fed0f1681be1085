"""The shipper: outages, restarts, forks, fsync cadence and records it cannot use."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.audit.helpers import EMIT, ScriptedExporter, make_trail, spooled
from tests.helpers import run_python
from tests.support.receiver import OtlpReceiver
from tests.support.rotel import RotelCollector
from watchkit._audit.verify import verify_file, verify_lines


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
    run_python(EMIT.format(count=1000, after=""), env=env, timeout=60)
    files = spooled(spool)
    assert len(files) == 1
    assert verify_file(files[0]).ok
    assert verify_file(files[0]).records == 1000
    assert otlp_receiver.logs() == []

    rotel_collector.start()
    wait = (
        "import time\n"
        "from watchkit._audit.shipper import current_trail\n"
        "deadline = time.monotonic() + 30\n"
        "while time.monotonic() < deadline and current_trail().orphans:\n"
        "    time.sleep(0.05)\n"
        "watchkit.shutdown()\n"
    )
    run_python(EMIT.format(count=0, after=wait), env=env, timeout=60)
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
    assert spooled(spool) == []  # acknowledged files are removed


def test_a_record_larger_than_the_read_chunk_is_shipped_not_lost(tmp_path: Path) -> None:
    """A spooled line of more than 1 MiB neither stalls the spool nor deletes what follows."""
    from opentelemetry.trace import INVALID_SPAN_CONTEXT

    down = make_trail(tmp_path, ScriptedExporter(ok=False))
    for seq, size in ((1, 1), (2, 2_500_000), (3, 1)):
        down.append({"audit.seq": seq, "blob": "x" * size}, 1, INVALID_SPAN_CONTEXT)
    down.close()
    up = ScriptedExporter()
    trail = make_trail(tmp_path, up)
    trail._scan()
    for _ in range(10):
        trail.ship_once()
    assert [r["audit.seq"] for r in up.received] == [1, 2, 3]
    assert list(tmp_path.glob("*.jsonl")) == []


def test_fsync_runs_about_every_half_second_not_per_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under steady load the spool is fsync'd regularly, but not once per record."""
    import os
    import time

    from opentelemetry.trace import INVALID_SPAN_CONTEXT

    from watchkit._audit import shipper

    calls: list[int] = []
    real = os.fsync
    monkeypatch.setattr(shipper.os, "fsync", lambda fd: (calls.append(fd), real(fd))[1])
    exporter = ScriptedExporter(ok=False)  # collector down: records stay on disk
    trail = make_trail(tmp_path, exporter)
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

    exporter = ScriptedExporter()
    exporter.release.clear()  # the parent's export hangs (slow collector)
    trail = make_trail(tmp_path, exporter)
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
    exporter = ScriptedExporter()
    trail = make_trail(tmp_path, exporter)
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
