"""Records the collector rejects for good: tries, quarantine, resend, restart, corruption."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent import futures
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.common._exporter_metrics import ExportResult
from opentelemetry.sdk._logs.export import LogRecordExportResult
from opentelemetry.trace import INVALID_SPAN_CONTEXT

import watchkit
from tests.audit.helpers import ScriptedExporter, make_trail
from tests.helpers import run_python
from tests.support.receiver import OtlpReceiver
from watchkit._audit import shipper
from watchkit._audit.shipper import PERMANENT_TRIES, Verdicts, current_trail, rejection_reason
from watchkit._audit.spool import QUARANTINE, Quarantine
from watchkit._audit.verify import verify_lines
from watchkit._cli import main
from watchkit._internal.settings import resolve


def _audit_logs(receiver: OtlpReceiver) -> list[dict[str, Any]]:
    return [dict(x.attributes) for x in receiver.logs() if x.scope_name == "watchkit.audit"]


def _until(condition: Callable[[], object], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ({"http.response.status_code": 400}, "HTTP 400"),
        ({"http.response.status_code": 401}, "HTTP 401"),
        ({"http.response.status_code": 413}, "HTTP 413"),
        ({"http.response.status_code": 408}, None),
        ({"http.response.status_code": 429}, None),
        ({"http.response.status_code": 503}, None),
        ({"rpc.response.status_code": "INVALID_ARGUMENT"}, "gRPC INVALID_ARGUMENT"),
        ({"rpc.response.status_code": "UNAVAILABLE"}, None),
        ({"rpc.response.status_code": "RESOURCE_EXHAUSTED"}, None),
        ({"rpc.response.status_code": "INTERNAL"}, None),
        (None, None),
    ],
)
def test_which_failures_are_final(attributes: dict[str, Any] | None, expected: str | None) -> None:
    """4xx but 408/429 and non-retryable gRPC codes are final; the rest is retried."""
    assert rejection_reason(None, attributes) == expected


class _Refusing:
    """A collector that refuses (HTTP 400) every batch holding a record of ``bad`` seqs."""

    def __init__(self, verdicts: Verdicts, bad: set[int], status: int = 400) -> None:
        self.verdicts, self.bad, self.status = verdicts, bad, status
        self.received: list[int] = []
        self.calls = 0

    def export(self, batch: Any) -> LogRecordExportResult:
        self.calls += 1
        seqs = [r.log_record.attributes["audit.seq"] for r in batch]
        if self.bad & set(seqs):
            self.verdicts.last = ExportResult(
                error_attrs={"http.response.status_code": self.status}
            )
            return LogRecordExportResult.FAILURE
        self.received += seqs
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def _fill(trail: shipper.Trail, count: int) -> None:
    for seq in range(1, count + 1):
        trail.append(
            {"audit.seq": seq, "audit.stream": "s", "audit.hash": f"h{seq}"},
            1,
            INVALID_SPAN_CONTEXT,
        )


def test_one_bad_record_in_a_backlog_is_isolated_and_the_rest_flows(
    tmp_path: Path, telemetry: Any
) -> None:
    """A refused batch is halved until the bad record is alone; it alone is quarantined."""
    verdicts = Verdicts()
    collector = _Refusing(verdicts, bad={300})
    trail = make_trail(tmp_path, collector)
    trail.verdicts = verdicts
    trail.stopping = True  # no threads: this test drives ship_once() itself
    _fill(trail, 600)
    outcomes = []
    for _ in range(100):
        outcome = trail.ship_once()
        outcomes.append(outcome)
        if outcome == shipper.IDLE:
            break
    assert collector.received == [s for s in range(1, 601) if s != 300]
    assert outcomes.count(shipper.REJECTED) == PERMANENT_TRIES - 1
    assert trail.quarantined == 1
    (entry,) = Quarantine(str(tmp_path)).read().records
    assert entry[1]["attributes"]["audit.seq"] == 300
    assert entry[1]["quarantine"]["reason"] == "HTTP 400"
    assert collector.calls < 40  # bisection, not one request per record
    assert telemetry.counter("watchkit.audit.quarantined", {"error.type": "HTTP 400"}) == 1


def test_a_temporary_failure_is_never_quarantined(tmp_path: Path) -> None:
    """503 (or no answer) keeps the record in the spool however often it fails."""
    verdicts = Verdicts()
    collector = _Refusing(verdicts, bad={1}, status=503)
    trail = make_trail(tmp_path, collector)
    trail.verdicts = verdicts
    trail.stopping = True
    _fill(trail, 1)
    assert {trail.ship_once() for _ in range(10)} == {shipper.FAILED}
    assert trail.quarantined == 0
    assert not (tmp_path / QUARANTINE).exists()


@pytest.mark.collector
def test_http_rejection_is_quarantined_later_records_flow_and_resend_delivers_once(
    otlp_receiver: OtlpReceiver,
    tmp_path: Path,
    clean_env: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Real OTLP/HTTP 400: 3 tries, quarantined, counted, one warning; resend: exactly once."""
    monkeypatch.setattr(shipper, "_REJECTED_RETRY", 0.05)
    otlp_receiver.status = 400
    handle = watchkit.configure(
        service_name="hotel",
        endpoint=otlp_receiver.endpoint,
        audit_spool_dir=str(tmp_path),
        timeout=2,
    )
    watchkit.audit("refund.issue", actor="poison", outcome="success")
    trail = current_trail()
    assert trail is not None
    _until(lambda: trail.quarantined == 1)
    # At least the 3 tries (ordinary log batches may be refused too; the exact count
    # of tries is pinned by the ship_once() test above).
    refused = [r for r in otlp_receiver.request_log if r.signal == "logs" and r.status == 400]
    assert len(refused) >= PERMANENT_TRIES
    otlp_receiver.status = 200
    for i in range(3):
        watchkit.audit("refund.issue", actor=f"user:{i}", outcome="success")
    otlp_receiver.wait_for(lambda r: len(_audit_logs(r)) >= 3)
    assert [a["audit.actor"] for a in _audit_logs(otlp_receiver)] == ["user:0", "user:1", "user:2"]
    assert handle.export_stats()["log records"].quarantined == 1
    assert watchkit.shutdown(timeout=5)
    warnings = [r for r in caplog.records if "rejected an audit record for good" in r.getMessage()]
    assert len(warnings) == 1
    assert "HTTP 400" in warnings[0].getMessage()

    capsys.readouterr()
    assert main(["audit", "quarantine", "list", "--dir", str(tmp_path)]) == 0
    listed = capsys.readouterr().out
    assert "1 audit records in quarantine" in listed
    assert "actor=poison" in listed and "HTTP 400" in listed

    resend = ["audit", "quarantine", "resend", "--dir", str(tmp_path)]
    assert main([*resend, "--endpoint", otlp_receiver.endpoint]) == 0
    assert "re-sent 1 audit records; 0 left" in capsys.readouterr().out
    assert main([*resend, "--endpoint", otlp_receiver.endpoint]) == 0  # nothing left to send
    assert "re-sent 0 audit records" in capsys.readouterr().out
    received = _audit_logs(otlp_receiver)
    assert [a["audit.actor"] for a in received].count("poison") == 1  # exactly once
    assert not (tmp_path / QUARANTINE).exists()
    # Out of order at the backend (the first record last), the chain still verifies.
    seqs = [a["audit.seq"] for a in received]
    assert seqs[-1] == min(seqs) and seqs[:3] == [seqs[-1] + 1, seqs[-1] + 2, seqs[-1] + 3]
    result = verify_lines([json.dumps(a) for a in received])
    assert (result.ok, result.records) == (True, 4)


def _grpc_logs_server(refuse: threading.Event) -> tuple[Any, int, list[Any]]:
    import grpc
    from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc

    received: list[Any] = []

    class Servicer(logs_service_pb2_grpc.LogsServiceServicer):
        def Export(self, request: Any, context: Any) -> Any:
            if refuse.is_set():
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "attribute value too long")
            received.append(request)
            return logs_service_pb2.ExportLogsServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    logs_service_pb2_grpc.add_LogsServiceServicer_to_server(Servicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port, received


def test_the_sdk_exporters_say_why_an_export_failed(otlp_receiver: OtlpReceiver) -> None:
    """Pins the SDK hook: real HTTP 400 and gRPC INVALID_ARGUMENT are final, HTTP 503 is not."""
    from opentelemetry._logs import LogRecord
    from opentelemetry.sdk._logs import ReadableLogRecord
    from opentelemetry.sdk.resources import Resource

    from watchkit._export.otlp import build_log_exporter

    batch = [ReadableLogRecord(log_record=LogRecord(body="x"), resource=Resource.create({}))]

    def reason(protocol: str, endpoint: str) -> str | None:
        verdicts = Verdicts()
        settings = resolve(protocol=protocol, endpoint=endpoint, timeout=1)
        exporter = build_log_exporter(settings.otlp_for("logs"), adapt=verdicts.adapt)
        try:
            assert exporter.export(batch) is LogRecordExportResult.FAILURE
            return verdicts.rejection()
        finally:
            exporter.shutdown()

    otlp_receiver.status = 400
    assert reason("http/protobuf", otlp_receiver.endpoint) == "HTTP 400"
    otlp_receiver.status = 503
    assert reason("http/protobuf", otlp_receiver.endpoint) is None
    refuse = threading.Event()
    refuse.set()
    server, port, _ = _grpc_logs_server(refuse)
    try:
        found = reason("grpc", f"http://127.0.0.1:{port}")
    finally:
        server.stop(None)
    assert found == "gRPC INVALID_ARGUMENT: attribute value too long"


def test_grpc_rejection_is_quarantined(
    tmp_path: Path, clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real gRPC INVALID_ARGUMENT quarantines the record; the next one is delivered."""
    monkeypatch.setattr(shipper, "_REJECTED_RETRY", 0.05)
    refuse = threading.Event()
    refuse.set()
    server, port, received = _grpc_logs_server(refuse)
    try:
        watchkit.configure(
            service_name="hotel",
            exporter="otlp",
            protocol="grpc",
            endpoint=f"http://127.0.0.1:{port}",
            audit_spool_dir=str(tmp_path),
            timeout=2,
        )
        watchkit.audit("refund.issue", actor="poison", outcome="success")
        trail = current_trail()
        assert trail is not None
        _until(lambda: trail.quarantined == 1)
        refuse.clear()
        watchkit.audit("refund.issue", actor="next", outcome="success")
        _until(
            lambda: any(
                kv.value.string_value == "next"
                for request in received
                for rl in request.resource_logs
                for sl in rl.scope_logs
                for record in sl.log_records
                for kv in record.attributes
            )
        )
        watchkit.shutdown(timeout=5)
    finally:
        server.stop(None)
    (entry,) = Quarantine(str(tmp_path)).read().records
    assert entry[1]["quarantine"]["reason"].startswith("gRPC INVALID_ARGUMENT")


_QUARANTINE_ONE = """
import time, watchkit
from watchkit._audit.shipper import current_trail
watchkit.configure(service_name="hotel", endpoint={endpoint!r}, audit_spool_dir={spool!r},
                   timeout=1)
watchkit.audit("refund.issue", actor="poison", outcome="success")
deadline = time.monotonic() + 20
while current_trail().quarantined < 1 and time.monotonic() < deadline:
    time.sleep(0.05)
assert current_trail().quarantined == 1
watchkit.shutdown(timeout=5)
"""

_AFTER_RESTART = """
import watchkit
watchkit.configure(service_name="hotel", endpoint={endpoint!r}, audit_spool_dir={spool!r},
                   timeout=1)
watchkit.audit("refund.issue", actor="after-restart", outcome="success")
assert watchkit.shutdown(timeout=10)
"""


@pytest.mark.collector
@pytest.mark.slow
def test_restart_with_a_non_empty_quarantine(otlp_receiver: OtlpReceiver, tmp_path: Path) -> None:
    """A new process warns about the quarantine, leaves it alone and ships its own records."""
    spool = str(tmp_path)
    otlp_receiver.status = 400
    run_python(_QUARANTINE_ONE.format(endpoint=otlp_receiver.endpoint, spool=spool), timeout=60)
    before = (tmp_path / QUARANTINE).read_bytes()
    otlp_receiver.status = 200
    second = run_python(
        _AFTER_RESTART.format(endpoint=otlp_receiver.endpoint, spool=spool), timeout=60
    )
    assert (
        "1 audit records the collector rejected for good wait in" in second.stdout + second.stderr
    )
    otlp_receiver.wait_for(_audit_logs)
    assert [a["audit.actor"] for a in _audit_logs(otlp_receiver)] == ["after-restart"]
    assert (tmp_path / QUARANTINE).read_bytes() == before  # neither claimed, sent nor emptied


def test_a_corrupt_quarantine_file_is_reported_and_nothing_is_lost(
    otlp_receiver: OtlpReceiver, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Unreadable lines are named and kept byte for byte; the readable record is re-sent."""
    quarantine = Quarantine(str(tmp_path))
    record = {
        "time_unix_nano": 1,
        "attributes": {
            "audit.stream": "s",
            "audit.seq": 4,
            "audit.hash": "h",
            "event.name": "audit.x",
            "audit.actor": "ana",
        },
    }
    quarantine.add([record], "HTTP 400")
    path = tmp_path / QUARANTINE
    path.write_bytes(path.read_bytes() + b"{garbage\n" + b'{"partial": tr')
    quarantine.add([{**record, "attributes": {**record["attributes"], "audit.seq": 5}}], "HTTP 400")
    assert main(["audit", "quarantine", "list", "--dir", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert "2 audit records in quarantine" in captured.out
    assert "line 2: not valid JSON" in captured.err and "nothing was removed" in captured.err
    assert "line 3: not valid JSON" in captured.err  # the torn line did not swallow seq 5
    argv = [
        "audit",
        "quarantine",
        "resend",
        "--dir",
        str(tmp_path),
        "--endpoint",
        otlp_receiver.endpoint,
    ]
    assert main(argv) == 1  # the corrupt lines remain
    assert "re-sent 2 audit records; 0 left" in capsys.readouterr().out
    assert path.read_bytes() == b"{garbage\n" + b'{"partial": tr\n'
    otlp_receiver.wait_for(lambda r: len(_audit_logs(r)) >= 2)
    assert sorted(a["audit.seq"] for a in _audit_logs(otlp_receiver)) == [4, 5]


def test_an_unreadable_quarantine_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A quarantine path that cannot be read: exit 2 naming the file."""
    (tmp_path / QUARANTINE).mkdir()
    assert main(["audit", "quarantine", "list", "--dir", str(tmp_path)]) == 2
    assert QUARANTINE in capsys.readouterr().err


def test_a_dead_collector_is_retried_per_backoff_not_per_new_record(tmp_path: Path) -> None:
    """New records do not cut the backoff short: a burst while down costs one or two tries."""
    collector = ScriptedExporter(ok=False)
    calls = []
    export = collector.export
    collector.export = lambda batch: (calls.append(len(batch)), export(batch))[1]  # type: ignore[method-assign]
    trail = make_trail(tmp_path, collector)
    deadline = time.monotonic() + 0.8
    seq = 0
    while time.monotonic() < deadline:
        seq += 1
        trail.append({"audit.seq": seq}, 1, INVALID_SPAN_CONTEXT)
        time.sleep(0.005)
    trail.close()
    assert seq > 50
    assert len(calls) <= 3, f"{len(calls)} export attempts for {seq} records in 0.8 s"
