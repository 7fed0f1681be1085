"""Console exporters: readable trees, one line per record, no forged lines, short summaries."""

from __future__ import annotations

import io

from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode

from watchkit._export.console import ConsoleLogExporter, ConsoleMetricExporter, ConsoleSpanExporter


def test_children_are_held_until_the_root_ends_then_printed_in_order() -> None:
    """A trace prints top-down when its local root ends, children indented by depth."""
    out = io.StringIO()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out)))
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("root"):
        with tracer.start_as_current_span("child") as child:
            with tracer.start_as_current_span("grandchild"):
                pass
            child.set_status(Status(StatusCode.ERROR))
        assert out.getvalue() == ""  # nothing until the root ends
    lines = out.getvalue().splitlines()
    assert [line.split()[1] for line in lines] == ["root", "child", "grandchild"]
    indents = [len(line.split("  ", 1)[1]) - len(line.split("  ", 1)[1].lstrip()) for line in lines]
    assert indents == sorted(indents) and len(set(indents)) == 3
    assert "ERROR" in lines[1] and "trace=" in lines[0] and "trace=" not in lines[1]
    provider.shutdown()


def test_control_characters_cannot_forge_lines() -> None:
    """Newlines in names, bodies and attributes are escaped: one record, one line."""
    out = io.StringIO()
    provider = LoggerProvider(shutdown_on_exit=False)
    provider.add_log_record_processor(SimpleLogRecordProcessor(ConsoleLogExporter(out)))
    provider.get_logger("t").emit(
        body='hello\n{"level":"critical"}', attributes={"user\nname": "a\rb\x1b[31m"}
    )
    text = out.getvalue()
    assert text.count("\n") == 1
    assert "\\n" in text and "\\x1b" in text
    provider.shutdown()


def test_metric_summary_is_short() -> None:
    """Histograms show count/avg/max in readable units; many series are cut off."""
    out = io.StringIO()
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    meter = provider.get_meter("t")
    meter.create_histogram("http.server.request.duration", unit="s").record(0.012, {"r": "/a"})
    counter = meter.create_counter("orders")
    for i in range(40):
        counter.add(1, {"i": i})
    data = reader.get_metrics_data()
    assert data is not None
    ConsoleMetricExporter(out).export(data)
    text = out.getvalue()
    wide = io.StringIO()  # the histogram may be watchkit's name, listed after the counter
    ConsoleMetricExporter(wide, max_series=100).export(data)
    assert "count=1 avg=12.0 ms" in wide.getvalue()
    assert "more series" in text
    assert len(text.splitlines()) <= 28
    provider.shutdown()


def _nested(tracer: object, depth: int) -> list[object]:
    from opentelemetry import trace

    spans: list[object] = []
    for i in range(depth):
        parent = trace.set_span_in_context(spans[-1]) if spans else None  # type: ignore[arg-type]
        spans.append(tracer.start_span(f"level-{i}", context=parent))  # type: ignore[attr-defined]
    return spans


def test_very_deep_trees_print_without_recursion_errors() -> None:
    """2000 nested spans print as 2000 lines (no RecursionError in the export thread)."""
    out = io.StringIO()
    exporter = ConsoleSpanExporter(out)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    spans = _nested(provider.get_tracer("t"), 2000)
    for span in reversed(spans):
        span.end()  # type: ignore[attr-defined]
    lines = out.getvalue().splitlines()
    assert len(lines) == 2000
    assert lines[0].split()[1] == "level-0" and lines[-1].split()[1] == "level-1999"
    provider.shutdown()


def test_children_of_a_root_that_never_ends_are_bounded() -> None:
    """A long-lived root (a worker loop) cannot make the exporter hold its children forever."""
    out = io.StringIO()
    exporter = ConsoleSpanExporter(out)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    from opentelemetry import trace

    root = tracer.start_span("worker-loop")
    context = trace.set_span_in_context(root)
    for i in range(20_000):
        tracer.start_span(f"job-{i}", context=context).end()
    held = sum(len(group) for group in exporter._pending.values())
    assert held <= 2000, held
    assert "job-0" in out.getvalue()  # printed (flat) rather than held
    root.end()
    provider.shutdown()


def test_a_closed_stream_never_raises_into_the_export_thread() -> None:
    """stderr closed (daemons, pytest teardown): output is dropped, exporters return."""
    out = io.StringIO()
    out.close()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out)))
    with provider.get_tracer("t").start_as_current_span("lost"):
        pass
    logs = LoggerProvider(shutdown_on_exit=False)
    logs.add_log_record_processor(SimpleLogRecordProcessor(ConsoleLogExporter(out)))
    logs.get_logger("t").emit(body="lost")
    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    meters.get_meter("t").create_counter("c").add(1)
    data = reader.get_metrics_data()
    assert data is not None
    ConsoleMetricExporter(out).export(data)  # must not raise
    provider.shutdown()
    logs.shutdown()
    meters.shutdown()


def test_metric_summary_shows_application_metrics_before_watchkit_ones() -> None:
    """Business metrics first, then watchkit's own series, then one line counting the rest,
    with the cap from configure(console_max_series=...)."""
    import watchkit
    from watchkit._export.console import MAX_SERIES
    from watchkit.testing import capture

    flows = [f"console.flow.{i}" for i in range(30)]
    with capture() as telemetry:
        for name in flows:  # watchkit's own series (flow duration, flow.active), recorded first
            with watchkit.flow(name):
                pass
        watchkit.counter("console.orders.placed").add(1, channel="app")
        data = telemetry.metric_reader.get_metrics_data()
    assert data is not None
    out = io.StringIO()
    ConsoleMetricExporter(out).export(data)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 + MAX_SERIES + 1
    assert lines[1].startswith("  console.orders.placed{channel=app}  1")
    assert all(line.startswith("  watchkit.") for line in lines[2:-1])  # flows, and others
    assert "more series (configure(console_max_series=...) shows more)" in lines[-1]
    wide = io.StringIO()
    ConsoleMetricExporter(wide, max_series=1000).export(data)
    assert "more series" not in wide.getvalue()


def test_console_max_series_setting_is_validated() -> None:
    """A bad value is a ConfigError naming the parameter or variable."""
    import pytest

    from watchkit import ConfigError
    from watchkit._internal.settings import resolve

    assert resolve(environ={}).console_max_series == 25
    assert resolve(environ={"WATCHKIT_CONSOLE_MAX_SERIES": "80"}).console_max_series == 80
    with pytest.raises(ConfigError, match="console_max_series"):
        resolve(console_max_series=0, environ={})
    with pytest.raises(ConfigError, match="WATCHKIT_CONSOLE_MAX_SERIES"):
        resolve(environ={"WATCHKIT_CONSOLE_MAX_SERIES": "many"})
