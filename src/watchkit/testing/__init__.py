"""Capture watchkit's telemetry in memory, for your tests and ours.

With the pytest plugin (installed with watchkit) every test can ask for the
``telemetry`` fixture::

    def test_checkout_records_a_flow(telemetry):
        place_order()
        assert telemetry.span("checkout.place_order").status.is_ok
        outcome = {"flow.name": "checkout.place_order", "flow.outcome": "success"}
        assert telemetry.histogram("watchkit.flow.duration", outcome).count == 1
        assert telemetry.counter("orders.placed", {"payment.method": "card"}) == 1

Outside pytest, use :func:`capture` as a context manager. While a capture is
active it takes precedence over ``watchkit.configure()``; when it ends, the
configured pipeline (if any) is back.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from watchkit._internal.settings import resolve_or_defaults
from watchkit._internal.state import STATE, Pipeline

__all__ = ["HistogramSummary", "TelemetryCapture", "capture"]


@dataclass(frozen=True)
class HistogramSummary:
    """Count and sum of the matching histogram points, added up."""

    count: int
    sum: float
    bucket_counts: tuple[int, ...]
    explicit_bounds: tuple[float, ...]


def _matches(actual: Mapping[str, Any] | None, wanted: Mapping[str, Any] | None) -> bool:
    if not wanted:
        return True
    actual = actual or {}
    return all(key in actual and actual[key] == value for key, value in wanted.items())


class TelemetryCapture:
    """In-memory providers plus query helpers. Create through :func:`capture`.

    Attribute filters are subset matches: ``{"http.route": "/orders/{id}"}``
    matches any item that has that attribute with that value.
    """

    def __init__(self, resource: Resource | None = None) -> None:
        self.resource = resource or Resource.create({"service.name": "watchkit-test"})
        self.span_exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider(resource=self.resource, shutdown_on_exit=False)
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.span_exporter))
        self.metric_reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(
            resource=self.resource, metric_readers=[self.metric_reader], shutdown_on_exit=False
        )
        self.log_exporter = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
        self.logger_provider = LoggerProvider(resource=self.resource, shutdown_on_exit=False)
        self.logger_provider.add_log_record_processor(SimpleLogRecordProcessor(self.log_exporter))

    def pipeline(self) -> Pipeline:
        """The pipeline that routes watchkit's telemetry here.

        Its settings are the configured pipeline's (so ``configure(redact_keys=...)``
        still applies under a capture), or the environment's before configure().
        """
        configured = STATE.configured
        settings = resolve_or_defaults() if configured is None else configured.settings
        return Pipeline(
            self.tracer_provider,
            self.meter_provider,
            self.logger_provider,
            settings=settings,
            duration_buckets=settings.duration_buckets,
            owned=frozenset({"traces", "metrics", "logs"}),
            capture=True,
        )

    # Spans ------------------------------------------------------------------
    def spans(
        self, name: str | None = None, attributes: Mapping[str, Any] | None = None
    ) -> list[ReadableSpan]:
        """Finished spans, oldest first, optionally filtered by name and attributes."""
        return [
            span
            for span in self.span_exporter.get_finished_spans()
            if (name is None or span.name == name) and _matches(span.attributes, attributes)
        ]

    def span(self, name: str, attributes: Mapping[str, Any] | None = None) -> ReadableSpan:
        """The one finished span with this name (and attributes); AssertionError otherwise."""
        found = self.spans(name, attributes)
        if len(found) != 1:
            names = [span.name for span in self.span_exporter.get_finished_spans()]
            raise AssertionError(
                f"expected exactly one span {name!r} matching {dict(attributes or {})}, "
                f"found {len(found)}; finished spans: {names}"
            )
        return found[0]

    # Metrics ----------------------------------------------------------------
    def metric_points(self, name: str, attributes: Mapping[str, Any] | None = None) -> list[Any]:
        """Current data points of instrument ``name`` (cumulative), filtered by attributes."""
        data = self.metric_reader.get_metrics_data()
        points: list[Any] = []
        if data is None:
            return points
        for rm in data.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name == name:
                        points.extend(
                            p for p in metric.data.data_points if _matches(p.attributes, attributes)
                        )
        return points

    def metric_names(self) -> set[str]:
        """Names of every instrument that has recorded at least one point."""
        data = self.metric_reader.get_metrics_data()
        if data is None:
            return set()
        return {
            metric.name
            for rm in data.resource_metrics
            for sm in rm.scope_metrics
            for metric in sm.metrics
        }

    def counter(self, name: str, attributes: Mapping[str, Any] | None = None) -> float:
        """Sum of a counter's (or up-down counter's, or gauge's) matching points; 0 if none."""
        return float(sum(point.value for point in self.metric_points(name, attributes)))

    def histogram(self, name: str, attributes: Mapping[str, Any] | None = None) -> HistogramSummary:
        """Count, sum and buckets of a histogram's matching points, added up."""
        points = [
            p for p in self.metric_points(name, attributes) if isinstance(p, HistogramDataPoint)
        ]
        if not points:
            return HistogramSummary(0, 0.0, (), ())
        bounds = tuple(points[0].explicit_bounds)
        buckets = [0] * len(points[0].bucket_counts)
        for point in points:
            for i, count in enumerate(point.bucket_counts):
                buckets[i] += count
        return HistogramSummary(
            count=sum(p.count for p in points),
            sum=sum(p.sum for p in points),
            bucket_counts=tuple(buckets),
            explicit_bounds=bounds,
        )

    # Logs -------------------------------------------------------------------
    def logs(
        self,
        event: str | None = None,
        level: str | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> list[LogRecord]:
        """Emitted OpenTelemetry log records, filtered by event name, level and attributes.

        ``event`` matches the record's ``event_name`` or its ``event.name``
        attribute; ``level`` matches the severity text case-insensitively
        (``"warning"`` also matches ``WARN``).
        """
        wanted_level = _severity(level) if level else None
        records = []
        for readable in self.log_exporter.get_finished_logs():
            record = readable.log_record
            attrs = record.attributes or {}
            name = getattr(record, "event_name", None) or attrs.get("event.name")
            if event is not None and name != event:
                continue
            if wanted_level is not None and _record_severity(record) != wanted_level:
                continue
            if not _matches(attrs, attributes):
                continue
            records.append(record)
        return records

    def clear(self) -> None:
        """Forget spans and log records captured so far (metrics are cumulative)."""
        self.span_exporter.clear()
        self.log_exporter.clear()

    def close(self) -> None:
        """Release the providers."""
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()
        self.logger_provider.shutdown()


def _severity(level: str) -> int:
    names = {
        "trace": 1, "debug": 5, "info": 9, "warn": 13, "warning": 13,
        "error": 17, "exception": 17, "critical": 21, "fatal": 21,
    }  # fmt: skip
    try:
        return names[level.lower()]
    except KeyError:
        known = sorted(names)
        raise ValueError(f"level {level!r} is not a log level; use one of {known}") from None


def _record_severity(record: LogRecord) -> int | None:
    number = record.severity_number
    if isinstance(number, SeverityNumber):
        # Round down to the base of the range (WARN2..4 -> WARN).
        return ((number.value - 1) // 4) * 4 + 1
    if record.severity_text:
        try:
            return _severity(record.severity_text)
        except ValueError:
            return None
    return None


@contextmanager
def capture() -> Iterator[TelemetryCapture]:
    """Route all watchkit telemetry into memory inside the ``with`` block."""
    captured = TelemetryCapture()
    previous = STATE.set_override(captured.pipeline())
    try:
        yield captured
    finally:
        STATE.set_override(previous)
        captured.close()
