"""audit(): the record's schema, validation, redaction and odd values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import watchkit
from tests.support.receiver import OtlpReceiver
from tests.support.rotel import RotelCollector
from watchkit._audit.verify import verify_lines


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


def test_invalid_arguments_keep_the_record_marked_in_production(telemetry, caplog) -> None:
    """Without the test switch nothing raises and nothing is dropped: the record is marked."""
    from watchkit._internal import guard

    previous = guard.set_raise(False)
    try:
        watchkit.audit("login", actor="user:1", outcome="ok")
        watchkit.audit("bad action!", actor="", outcome="denied", **{"audit.seq": 7, "ip": "x"})
    finally:
        guard.set_raise(previous)
    first, second = _records(telemetry)
    assert first["audit.outcome"] == "ok"
    assert "audit outcome 'ok' is not accepted" in first["audit.invalid"]
    assert first["audit.action"] == "login" and first["audit.actor"] == "user:1"
    assert second["event.name"] == "audit.invalid"
    assert second["invalid.action"] == "bad action!"
    assert second["invalid.audit.seq"] == 7 and second["ip"] == "x"
    assert second["audit.seq"] == first["audit.seq"] + 1  # still chained, in order
    assert "action" in second["audit.invalid"] and "actor" in second["audit.invalid"]
    assert verify_lines([json.dumps(first), json.dumps(second)]).ok
    warnings = [r.getMessage() for r in caplog.records if r.name == "watchkit"]
    assert len(warnings) == 2 and all("watchkit.audit() at" in w for w in warnings)


def test_not_filtered_by_log_level(telemetry, clean_env) -> None:
    """log_level=critical does not silence audit records."""
    watchkit.configure(exporter="none", log_level="critical")
    watchkit.audit("login", actor="user:1", outcome="denied")
    assert len(_records(telemetry)) == 1


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
