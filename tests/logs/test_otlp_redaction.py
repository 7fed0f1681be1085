"""Log records exported over OTLP: redacted and correlated at a real collector."""

from __future__ import annotations

import json

import pytest

import watchkit
from tests.support.receiver import OtlpReceiver
from tests.support.rotel import RotelCollector


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
