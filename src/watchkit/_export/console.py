"""Human-readable development output: span trees, key=value log lines, metric summaries.

Not a JSON dump. Spans are held back until the local root span of their trace
ends and then printed as one indented tree, so a request reads top-down:

    12:00:01.120 GET /orders/{order_id}  14.2 ms  200  trace=4bf92f35
    12:00:01.121   checkout.place_order  12.9 ms  flow.outcome=success
    12:00:01.125     payments.charge  8.1 ms  ERROR error.type=card_declined

Output goes to ``sys.stderr`` (looked up at write time, so pytest's capture and
redirection work), keeping the application's stdout for its own output.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import IO, Any

from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Gauge,
    Histogram,
    MetricExporter,
    MetricExportResult,
    MetricsData,
    Sum,
)
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import StatusCode

from watchkit._internal.semconv import (
    EVENT_NAME,
    HTTP_RESPONSE_STATUS_CODE,
    RESERVED_METRIC_PREFIX,
)
from watchkit._metrics import own_metric_names

__all__ = ["ConsoleLogExporter", "ConsoleMetricExporter", "ConsoleSpanExporter"]

_MAX_ATTRIBUTES = 6
_MAX_VALUE = 60
_MAX_PENDING_TRACES = 1000
# Spans held back per trace and in all: a root that never ends (a worker loop,
# a stream) gets its children printed in chunks instead of held forever.
_MAX_PENDING_PER_TRACE = 2000
_MAX_PENDING_SPANS = 10_000
MAX_SERIES = 25
"""Series the metric summary prints by default (``configure(console_max_series=...)``)."""
# C0 and C1 control characters and DEL, shown escaped so that a value can never
# start a new line or move the cursor on the developer's terminal.
_CONTROL = {i: f"\\x{i:02x}" for i in [*range(0x20), *range(0x7F, 0xA0)]}
_CONTROL.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})


def _clean(value: object, limit: int = _MAX_VALUE) -> str:
    text = value if isinstance(value, str) else repr(value)
    text = text.translate(_CONTROL)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _pairs(attributes: Mapping[str, Any] | None, limit: int = _MAX_ATTRIBUTES) -> str:
    if not attributes:
        return ""
    items = list(attributes.items())
    shown = " ".join(f"{_clean(k, 40)}={_clean(v)}" for k, v in items[:limit])
    if len(items) > limit:
        shown += f" (+{len(items) - limit})"
    return shown


def _clock(ns: int | None) -> str:
    seconds = (ns or time.time_ns()) / 1e9
    return time.strftime("%H:%M:%S", time.localtime(seconds)) + f".{int(seconds % 1 * 1000):03d}"


def _duration(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


class _Writer:
    def __init__(self, stream: IO[str] | None) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def write(self, lines: Sequence[str]) -> None:
        if not lines:
            return
        stream = self._stream or sys.stderr
        with self._lock:
            try:
                stream.write("\n".join(lines) + "\n")
                stream.flush()
            except Exception:  # closed or broken stream (daemon, pytest teardown): drop it
                return


class ConsoleSpanExporter(SpanExporter):
    """Prints each trace as an indented tree once its local root span has ended."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self._writer = _Writer(stream)
        self._pending: OrderedDict[int, list[ReadableSpan]] = OrderedDict()
        self._held = 0
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        ready: list[list[ReadableSpan]] = []
        with self._lock:
            for span in spans:
                trace_id = span.context.trace_id if span.context else 0
                group = self._pending.setdefault(trace_id, [])
                group.append(span)
                self._held += 1
                is_root = span.parent is None or span.parent.is_remote
                if is_root or len(group) >= _MAX_PENDING_PER_TRACE:
                    ready.append(self._pending.pop(trace_id))
                    self._held -= len(group)
            while self._pending and (
                len(self._pending) > _MAX_PENDING_TRACES or self._held > _MAX_PENDING_SPANS
            ):
                group = self._pending.popitem(last=False)[1]
                self._held -= len(group)
                ready.append(group)
        lines: list[str] = []
        for group in ready:
            lines.extend(self._render(group))
        self._writer.write(lines)
        return SpanExportResult.SUCCESS

    def _render(self, group: list[ReadableSpan]) -> list[str]:
        by_id = {s.context.span_id: s for s in group if s.context}
        children: dict[int | None, list[ReadableSpan]] = {}
        for span in group:
            parent = span.parent.span_id if span.parent else None
            key = parent if parent in by_id else None
            children.setdefault(key, []).append(span)
        lines: list[str] = []

        def start(span: ReadableSpan) -> int:
            return span.start_time or 0

        # Depth-first with an explicit stack: traces can be deeper than the recursion limit.
        stack = [(root, 0) for root in sorted(children.get(None, []), key=start, reverse=True)]
        while stack:
            span, depth = stack.pop()
            lines.append(self._line(span, depth))
            kids = children.get(span.context.span_id, []) if span.context else []
            stack.extend((kid, depth + 1) for kid in sorted(kids, key=start, reverse=True))
        return lines

    @staticmethod
    def _line(span: ReadableSpan, depth: int) -> str:
        seconds = ((span.end_time or 0) - (span.start_time or 0)) / 1e9
        parts = [_clock(span.start_time), "  " * depth + _clean(span.name, 80), _duration(seconds)]
        if span.status.status_code is StatusCode.ERROR:
            parts.append("ERROR")
        attributes = dict(span.attributes or {})
        status = attributes.pop(HTTP_RESPONSE_STATUS_CODE, None)
        if status is not None:
            parts.append(str(status))
        if attributes:
            parts.append(_pairs(attributes))
        is_root = span.parent is None or span.parent.is_remote
        if is_root and span.context is not None:
            parts.append(f"trace={span.context.trace_id:032x}"[:14])
        for event in span.events:
            if event.name == "exception" and event.attributes:
                parts.append(f"exception={_clean(event.attributes.get('exception.type', '?'), 80)}")
        return "  ".join(parts)

    def shutdown(self) -> None:
        self.force_flush()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        with self._lock:
            groups = list(self._pending.values())
            self._pending.clear()
            self._held = 0
        lines: list[str] = []
        for group in groups:
            lines.extend(self._render(group))
        self._writer.write(lines)
        return True


class ConsoleLogExporter(LogRecordExporter):
    """Prints log records as ``time LEVEL body key=value ...``, one line each."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self._writer = _Writer(stream)

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        lines = []
        for readable in batch:
            record = readable.log_record
            level = (record.severity_text or "INFO").upper()
            attributes = dict(record.attributes or {})
            body = record.body
            name = getattr(record, "event_name", None) or attributes.get(EVENT_NAME)
            text = _clean(body if body is not None else name or "", 200)
            line = f"{_clock(record.timestamp)} {level:<7} {text}"
            if attributes:
                line += "  " + _pairs(attributes, limit=12)
            lines.append(line)
        self._writer.write(lines)
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class ConsoleMetricExporter(MetricExporter):
    """Prints a short summary of the metric series at each export.

    The application's metrics come first, then watchkit's own (HTTP, database,
    cache, flow, runtime), each in the order the SDK reports them, so a
    developer sees the business metrics however many series watchkit records;
    past ``max_series`` one line says how many more there are.
    """

    def __init__(self, stream: IO[str] | None = None, max_series: int = MAX_SERIES) -> None:
        super().__init__(preferred_temporality={})
        self._writer = _Writer(stream)
        self._max_series = max_series

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        own = own_metric_names()
        application: list[tuple[Any, Any]] = []
        watchkit: list[tuple[Any, Any]] = []
        for rm in metrics_data.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    ours = metric.name in own or metric.name.startswith(RESERVED_METRIC_PREFIX)
                    found = watchkit if ours else application
                    found.extend((metric, point) for point in metric.data.data_points)
        series = [*application, *watchkit]
        if not series:
            return MetricExportResult.SUCCESS
        lines = [f"{_clock(None)} metrics (totals since start)"]
        for metric, point in series[: self._max_series]:
            labels = _pairs(point.attributes, limit=8)
            name = metric.name + (f"{{{labels}}}" if labels else "")
            lines.append(f"  {name}  {self._value(metric.data, point, metric.unit or '')}")
        if len(series) > self._max_series:
            lines.append(
                f"  … {len(series) - self._max_series} more series "
                "(configure(console_max_series=...) shows more)"
            )
        self._writer.write(lines)
        return MetricExportResult.SUCCESS

    @staticmethod
    def _value(data: object, point: Any, unit: str) -> str:
        if isinstance(data, Histogram):
            if not point.count:
                return "count=0"
            avg = point.sum / point.count
            if unit == "s":
                return f"count={point.count} avg={_duration(avg)} max={_duration(point.max)}"
            return f"count={point.count} sum={point.sum:g} avg={avg:g} max={point.max:g}"
        if isinstance(data, Sum) and data.aggregation_temporality is AggregationTemporality.DELTA:
            return f"+{point.value:g}"
        if isinstance(data, (Sum, Gauge)):
            return f"{point.value:g}{' ' + unit if unit and not unit.startswith('{') else ''}"
        return str(getattr(point, "value", "?"))

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        return None
