"""The one set of SDK providers every OpenTelemetry-based benchmark row records into.

Fairness: watchkit and its peers (contrib instrumentations, logfire) get the same
``TracerProvider`` with a ``BatchSpanProcessor`` whose exporter discards, the same
``MeterProvider`` with an in-memory reader, and the same ``LoggerProvider``.
watchkit is pointed at them the way its test capture is; ``configure(exporter=
"none")`` would add no span processor and flatter watchkit.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

# A queue large enough that no span is dropped while timing (dropping is cheaper).
QUEUE = 1 << 16


class DiscardSpans(SpanExporter):
    """Accepts every batch and drops it: export cost is not what is measured."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def discarding_processor() -> BatchSpanProcessor:
    """A batch processor like the shared one, for peers that want their own."""
    return BatchSpanProcessor(DiscardSpans(), max_queue_size=QUEUE)


class Providers:
    """One set of SDK providers shared by every variant of a benchmark module."""

    def __init__(self) -> None:
        self.tracer_provider = TracerProvider(shutdown_on_exit=False)
        self.tracer_provider.add_span_processor(discarding_processor())
        # A tight loop can still outrun the export thread; a full queue would log a
        # warning per span and time the logging instead of the instrumentation.
        logging.getLogger("opentelemetry.sdk._shared_internal").setLevel(logging.ERROR)
        self.meter_provider = MeterProvider(
            metric_readers=[InMemoryMetricReader()], shutdown_on_exit=False
        )
        self.logger_provider = LoggerProvider(shutdown_on_exit=False)
        self._previous: Any = None

    def install(self) -> None:
        """Route watchkit's telemetry to these providers."""
        from watchkit._internal.settings import resolve_or_defaults
        from watchkit._internal.state import STATE, Pipeline

        pipeline = Pipeline(
            self.tracer_provider, self.meter_provider, self.logger_provider, resolve_or_defaults()
        )
        self._previous = STATE.set_override(pipeline)

    def uninstall(self) -> None:
        """Give watchkit back its previous pipeline and stop these providers."""
        from watchkit._internal.state import STATE

        STATE.set_override(self._previous)
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()
        self.logger_provider.shutdown()
