"""The SDK's batch processors, adapted: queue-full drops counted, shutdown bounded.

* **Queue-full drops are export failures.** When telemetry is produced faster
  than it is delivered (a collector down, or slow), the SDK drops what does not
  fit in the queue and logs one "Queue full" warning per 20 s. watchkit counts
  every dropped item instead and reports it through
  :mod:`watchkit._internal.diagnostics`, which puts export into the failing
  state (one warning a minute with the real counts, one line when delivery
  works again).
* **Bounded shutdown.** ``provider.shutdown()`` ends by the deadline the
  pipeline's life cycle sets (see :func:`watchkit._internal.pipeline.remaining_millis`),
  even where no helper thread can be started.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from watchkit._internal.diagnostics import export_health, exporting
from watchkit._internal.guard import internal_logger
from watchkit._internal.pipeline import remaining_millis

__all__ = ["LogBatchProcessor", "SpanBatchProcessor"]


class _CountingProcessorMetrics:
    """The SDK batch processor's self-metrics hook, also counting queue drops for watchkit.

    A private SDK interface whose signatures differ between releases (1.44's
    ``finish_items(count, error)``, 1.45's ``finish_items(count)``): every call is
    passed on exactly as it came, and watchkit's own counting can never raise
    into the SDK's export thread.
    """

    def __init__(self, inner: Any, signal: str, endpoint: str) -> None:
        self._inner = inner
        self._signal = signal
        self._endpoint = endpoint

    def drop_items(self, count: int, *args: Any, **kwargs: Any) -> None:
        self._inner.drop_items(count, *args, **kwargs)
        try:
            error_type = args[0] if args else kwargs.get("error_type", "queue_full")
            if error_type == "queue_full":
                export_health.queue_full(self._signal, self._endpoint, count)
        except Exception:
            internal_logger.debug("watchkit: counting a queue drop failed", exc_info=True)

    def __getattr__(self, name: str) -> Any:
        # register_queue_size, finish_items and whatever a later SDK adds.
        return getattr(self._inner, name)


class _QueueWatch:
    """Counts what a batch processor drops from its full queue, without a log line per item.

    Relies on the SDK's ``BatchProcessor`` internals (1.3x+); if they change,
    nothing is counted and the SDK's own once-in-20-s warning shows instead.
    """

    def __init__(self, processor: object, signal: str, endpoint: str) -> None:
        batch = getattr(processor, "_batch_processor", None)
        inner = getattr(batch, "_metrics", None)
        self.queue: Any = getattr(batch, "_queue", None)
        self.capacity: int = getattr(batch, "_max_queue_size", 0)
        if inner is None or self.queue is None or not self.capacity:
            self.queue = None
            return
        batch._metrics = _CountingProcessorMetrics(inner, signal, endpoint)  # type: ignore[union-attr]

    def full(self) -> bool:
        queue = self.queue
        return queue is not None and len(queue) >= self.capacity


def _bounded_shutdown(processor: Any, fallback: Callable[[], object]) -> None:
    # The SDK's BatchProcessor joins its worker for at most timeout_millis, then
    # shuts the exporter down, which interrupts a retry backoff in progress.
    batch = getattr(processor, "_batch_processor", None)
    try:
        batch.shutdown(timeout_millis=remaining_millis())  # type: ignore[union-attr]
    except (AttributeError, TypeError):  # an SDK without that internal: plain shutdown
        fallback()


class SpanBatchProcessor(BatchSpanProcessor):
    """The SDK's batch span processor with counted queue drops and a bounded shutdown."""

    def __init__(self, exporter: SpanExporter, endpoint: str, delay: int | None) -> None:
        super().__init__(exporter, schedule_delay_millis=delay)
        self._watch = _QueueWatch(self, "spans", endpoint)

    def shutdown(self) -> None:
        _bounded_shutdown(self, super().shutdown)

    def on_end(self, span: ReadableSpan) -> None:
        if self._watch.full():
            with exporting:  # the SDK's "Queue full" warning: counted instead
                super().on_end(span)
        else:
            super().on_end(span)


class LogBatchProcessor(BatchLogRecordProcessor):
    """The SDK's batch log-record processor with counted queue drops and a bounded shutdown."""

    def __init__(self, exporter: LogRecordExporter, endpoint: str, delay: int | None) -> None:
        super().__init__(exporter, schedule_delay_millis=delay)
        self._watch = _QueueWatch(self, "log records", endpoint)

    def shutdown(self) -> None:
        _bounded_shutdown(self, super().shutdown)

    def on_emit(self, log_record: Any) -> None:
        if self._watch.full():
            with exporting:
                super().on_emit(log_record)
        else:
            super().on_emit(log_record)
