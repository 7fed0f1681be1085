"""watchkit.event: one log record plus one count per business event."""

from __future__ import annotations

import logging

import pytest
from opentelemetry import trace

import watchkit
from tests.support.receiver import OtlpReceiver
from tests.support.rotel import RotelCollector
from watchkit._internal import guard
from watchkit.testing import TelemetryCapture


def test_event_emits_log_record_and_counts(telemetry: TelemetryCapture) -> None:
    """The log record carries the attributes; the counter only event.name."""
    watchkit.event("order.placed", {"payment.method": "card"}, user_id="u-1", basket_items=3)
    watchkit.event("order.placed", user_id="u-2")
    watchkit.event("checkout.abandoned")
    first, _ = telemetry.logs(event="order.placed")
    assert first.event_name == "order.placed"
    assert first.severity_text == "INFO"
    assert first.attributes is not None
    assert dict(first.attributes) == {
        "payment.method": "card",
        "user_id": "u-1",
        "basket_items": 3,
        "event.name": "order.placed",
    }
    assert telemetry.counter("watchkit.events", {"event.name": "order.placed"}) == 2
    assert telemetry.counter("watchkit.events", {"event.name": "checkout.abandoned"}) == 1
    for point in telemetry.metric_points("watchkit.events"):
        assert set(point.attributes) == {"event.name"}


def test_event_name_cannot_be_overridden_by_attributes(telemetry: TelemetryCapture) -> None:
    """An ``event.name`` attribute never replaces the event's name."""
    watchkit.event("user.signup", {"event.name": "spoofed"})
    (record,) = telemetry.logs(event="user.signup")
    assert record.attributes is not None and record.attributes["event.name"] == "user.signup"


def test_event_is_correlated_with_the_current_span(telemetry: TelemetryCapture) -> None:
    """Inside a flow the event's log record has the flow's trace and span ids."""
    with watchkit.flow("checkout.place_order.events") as f:
        watchkit.event("order.placed")
        expected = f.span.get_span_context()
    (record,) = telemetry.logs(event="order.placed")
    assert record.trace_id == expected.trace_id
    assert record.span_id == expected.span_id
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_invalid_event_name_is_dropped_and_reported_once(
    telemetry: TelemetryCapture, caplog: pytest.LogCaptureFixture
) -> None:
    """A bad name raises in our tests (guard) and is dropped with one warning in production."""
    with pytest.raises(ValueError, match="event name"):
        watchkit.event("order placed!")
    old = guard.set_raise(False)
    try:
        with caplog.at_level(logging.WARNING, logger="watchkit"):
            for _ in range(2):  # one call site: one warning
                watchkit.event("order placed!")
    finally:
        guard.set_raise(old)
    assert telemetry.logs() == []
    assert telemetry.counter("watchkit.events") == 0
    assert sum("watchkit.event" in r.getMessage() for r in caplog.records) == 1


def test_event_names_are_bounded_by_the_cardinality_guard(
    telemetry: TelemetryCapture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Event names built from ids overflow into one series instead of growing without bound."""
    from watchkit.testing import capture

    monkeypatch.setenv("WATCHKIT_CARDINALITY_LIMIT", "3")
    with capture() as inner:
        for i in range(10):
            watchkit.event(f"promo.code_{i}.used")
        points = inner.metric_points("watchkit.events")
        assert len(points) == 4
        assert inner.counter("watchkit.events", {"otel.metric.overflow": True}) == 7
        assert len(inner.logs()) == 10


@pytest.mark.collector
def test_disabled_event_is_a_no_op(
    rotel_collector: RotelCollector, otlp_receiver: OtlpReceiver, clean_env: object
) -> None:
    """configure(disabled=True): nothing reaches a real collector, nothing raised.

    The same event sent after reconfiguring with telemetry on does arrive, so the
    collector path works and the absence of the first one means something.
    """
    endpoint = rotel_collector.http_endpoint
    watchkit.configure(exporter="otlp", endpoint=endpoint, disabled=True)
    watchkit.event("order.placed", user_id="u-1")
    assert watchkit.shutdown(timeout=5)
    watchkit.configure(exporter="otlp", endpoint=endpoint)
    watchkit.event("order.control", user_id="u-2")
    assert watchkit.force_flush(timeout=10)
    otlp_receiver.wait_for(lambda r: any(x.event_name == "order.control" for x in r.logs()))
    otlp_receiver.wait_for(lambda r: bool(r.metrics("watchkit.events")))
    assert [x.event_name for x in otlp_receiver.logs()] == ["order.control"]
    counted = [m.attributes.get("event.name") for m in otlp_receiver.metrics("watchkit.events")]
    assert "order.placed" not in counted and "order.control" in counted
