"""The `telemetry` fixture and capture(): routing, query helpers, restoring the pipeline."""

from __future__ import annotations

import pytest

import watchkit
from watchkit._internal.state import STATE, get_logger, get_meter, get_tracer
from watchkit.testing import TelemetryCapture, capture

pytest_plugins = ["pytester"]


def test_fixture_captures_spans_metrics_and_logs(telemetry: TelemetryCapture) -> None:
    """Everything watchkit emits during the test is queryable in memory."""
    meter = get_meter()
    with get_tracer().start_as_current_span("book_lesson", attributes={"school": "north"}):
        meter.create_counter("lessons.booked").add(2, {"kind": "manual"})
        meter.create_counter("lessons.booked").add(1, {"kind": "auto"})
        meter.create_histogram("lesson.duration", unit="s").record(0.5, {"kind": "manual"})
        get_logger().emit(body="booked", event_name="lesson.booked", severity_text="WARN")

    assert telemetry.span("book_lesson").attributes == {"school": "north"}
    assert telemetry.spans(attributes={"school": "south"}) == []
    assert telemetry.counter("lessons.booked") == 3
    assert telemetry.counter("lessons.booked", {"kind": "manual"}) == 2
    hist = telemetry.histogram("lesson.duration", {"kind": "manual"})
    assert (hist.count, hist.sum) == (1, 0.5)
    assert telemetry.histogram("lesson.duration", {"kind": "none"}).count == 0
    assert len(telemetry.logs(event="lesson.booked")) == 1
    assert len(telemetry.logs(level="warning")) == 1
    assert telemetry.logs(level="error") == []
    assert {"lessons.booked", "lesson.duration"} <= telemetry.metric_names()


def test_span_helper_explains_a_mismatch(telemetry: TelemetryCapture) -> None:
    """span() asserts exactly one match and lists what was there."""
    with get_tracer().start_as_current_span("a"):
        pass
    with pytest.raises(AssertionError, match=r"found 0; finished spans: \['a'\]"):
        telemetry.span("b")


def test_unknown_level_is_a_clear_error(telemetry: TelemetryCapture) -> None:
    """A typo in a level name fails loudly instead of matching nothing."""
    with pytest.raises(ValueError, match="not a log level"):
        telemetry.logs(level="loud")


def test_capture_takes_precedence_over_configure_and_restores_it(clean_env: object) -> None:
    """A capture overrides the configured pipeline and gives it back afterwards."""
    handle = watchkit.configure(exporter="none")
    with capture() as captured:
        assert STATE.pipeline is not None
        assert STATE.pipeline.tracer_provider is captured.tracer_provider
        with get_tracer().start_as_current_span("captured"):
            pass
    assert STATE.pipeline is not None
    assert STATE.pipeline.tracer_provider is handle.tracer_provider
    assert [s.name for s in captured.spans()] == ["captured"]


def test_clear_forgets_spans_and_logs(telemetry: TelemetryCapture) -> None:
    """clear() starts the span and log lists afresh."""
    with get_tracer().start_as_current_span("old"):
        get_logger().emit(body="old")
    telemetry.clear()
    assert telemetry.spans() == [] and telemetry.logs() == []


def test_plugin_is_registered_for_users_suites(pytester: pytest.Pytester) -> None:
    """A user's test suite gets the fixture through the pytest11 entry point, no conftest."""
    pytester.makepyfile(
        """
        from watchkit._internal.state import get_tracer

        def test_uses_fixture(telemetry):
            with get_tracer().start_as_current_span("user-span"):
                pass
            assert telemetry.span("user-span").name == "user-span"
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_a_capture_carries_real_settings(clean_env: pytest.MonkeyPatch) -> None:
    """Every pipeline has settings: a capture takes the configured ones, else the environment's."""
    clean_env.setenv("WATCHKIT_CARDINALITY_LIMIT", "7")
    with capture():
        assert STATE.pipeline is not None and STATE.pipeline.capture
        assert STATE.pipeline.settings.cardinality_limit == 7
    clean_env.setenv("WATCHKIT_CARDINALITY_LIMIT", "not a number")  # configure() reports it
    with capture():
        assert STATE.pipeline is not None
        assert STATE.pipeline.settings.cardinality_limit == 2000
    clean_env.delenv("WATCHKIT_CARDINALITY_LIMIT")
    handle = watchkit.configure(exporter="none", redact_keys=["guest_email"])
    with capture():
        assert STATE.pipeline is not None
        assert STATE.pipeline.settings is handle.settings
        assert not STATE.configured or not STATE.configured.capture
