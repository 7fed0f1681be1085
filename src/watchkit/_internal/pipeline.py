"""Build, flush and shut down the OpenTelemetry providers behind watchkit.

Coexistence: if the application (or ``opentelemetry-instrument``) already set
global SDK providers, watchkit uses them as they are — it adds no processor,
reader or exporter to them, so nothing is exported twice — and says so once.
Otherwise it builds its own providers around one Resource and sets them as the
OpenTelemetry globals, so other OpenTelemetry instrumentations in the process
share the same pipeline.

Bounded time: the SDK's exporters retry with backoff and a dead collector makes
a plain ``provider.shutdown()`` take longer than a deploy should wait. Flush and
shutdown here run the providers in parallel worker threads and stop waiting at
the deadline.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from opentelemetry import _logs as otel_logs
from opentelemetry import metrics, trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider, sampling
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from watchkit._internal import fork
from watchkit._internal.diagnostics import export_health, exporting, install_sdk_log_filter
from watchkit._internal.guard import internal_logger
from watchkit._internal.resource import build_resource, process_resource
from watchkit._internal.settings import Settings, Signal
from watchkit._internal.state import STATE, Pipeline

__all__ = ["build_pipeline", "flush_pipeline", "run_with_deadline", "shutdown_pipeline"]

# Console output should appear promptly for a developer; OTLP keeps the SDK's
# defaults (OTEL_BSP_SCHEDULE_DELAY etc., read by the SDK itself).
_CONSOLE_DELAY_MS = 200

# Providers watchkit created (by id, weakly), so that a later configure() does
# not mistake them for an application's own and "reuse" a shut-down provider.
# Ids rather than a WeakSet: other libraries' providers may be unhashable.
_created: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()


def _api_proxy_classes() -> tuple[type, ...]:
    # The API installs these until somebody sets a real provider. Matched by
    # identity: vendors ship classes with the same names (logfire does).
    from opentelemetry._logs._internal import ProxyLoggerProvider
    from opentelemetry.metrics._internal import _ProxyMeterProvider

    return (trace.ProxyTracerProvider, _ProxyMeterProvider, ProxyLoggerProvider)


_PROXY_CLASSES = _api_proxy_classes()


def _is_unset(provider: object) -> bool:
    return type(provider) in _PROXY_CLASSES


def _foreign(provider: object) -> bool:
    """An SDK (or vendor) provider the application installed itself."""
    return not _is_unset(provider) and _created.get(id(provider)) is not provider


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


# Monotonic time by which a shutdown in progress must end (None: no deadline).
# Read by the batch processors below so that provider.shutdown() is bounded even
# where no helper thread can be started (Python 3.12 refuses new threads at exit).
_deadline: float | None = None


def _remaining_millis() -> int:
    deadline = _deadline
    if deadline is None:
        return 30_000  # the SDK's own default
    return max(0, int((deadline - time.monotonic()) * 1000))


def _bounded_shutdown(processor: Any, fallback: Callable[[], object]) -> None:
    # The SDK's BatchProcessor joins its worker for at most timeout_millis, then
    # shuts the exporter down, which interrupts a retry backoff in progress.
    batch = getattr(processor, "_batch_processor", None)
    try:
        batch.shutdown(timeout_millis=_remaining_millis())  # type: ignore[union-attr]
    except (AttributeError, TypeError):  # an SDK without that internal: plain shutdown
        fallback()


class _BatchSpanProcessor(BatchSpanProcessor):
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


class _BatchLogRecordProcessor(BatchLogRecordProcessor):
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


def _sampler(settings: Settings) -> sampling.Sampler:
    name, ratio = settings.sampler, settings.sampler_ratio
    root: sampling.Sampler
    if name.endswith("always_off"):
        root = sampling.ALWAYS_OFF
    elif name.endswith("traceidratio"):
        root = sampling.TraceIdRatioBased(ratio)
    else:
        root = sampling.ALWAYS_ON
    return sampling.ParentBased(root) if name.startswith("parentbased") else root


def _exporters(
    settings: Settings,
) -> tuple[SpanExporter | None, MetricExporter | None, LogRecordExporter | None]:
    if settings.exporter == "console":
        from watchkit._export.console import (
            ConsoleLogExporter,
            ConsoleMetricExporter,
            ConsoleSpanExporter,
        )

        return ConsoleSpanExporter(), ConsoleMetricExporter(), ConsoleLogExporter()
    if settings.exporter == "otlp":
        from watchkit._export.otlp import (
            build_log_exporter,
            build_metric_exporter,
            build_span_exporter,
        )

        install_sdk_log_filter()
        return (
            build_span_exporter(settings.otlp_for("traces")),
            build_metric_exporter(settings.otlp_for("metrics")),
            build_log_exporter(settings.otlp_for("logs")),
        )
    return None, None, None


def _where(settings: Settings, signal: Signal) -> str:
    if settings.exporter == "otlp":
        return settings.otlp_for(signal).endpoint
    return settings.exporter


def build_pipeline(settings: Settings, extra_readers: Sequence[MetricReader] = ()) -> Pipeline:
    """Create (or adopt) the providers for ``settings``; set the globals that are unset.

    ``extra_readers`` (a pull endpoint's) join the meter provider watchkit creates.
    """
    if settings.disabled:
        return Pipeline(
            trace.NoOpTracerProvider(),
            metrics.NoOpMeterProvider(),
            otel_logs.NoOpLoggerProvider(),
            settings,
            settings.duration_buckets,
            enabled=False,
        )
    resource = build_resource(settings)
    span_exporter, metric_exporter, log_exporter = _exporters(settings)
    delay = _CONSOLE_DELAY_MS if settings.exporter == "console" else None
    owned: set[str] = set()
    reused: list[str] = []

    tracer_provider: trace.TracerProvider = trace.get_tracer_provider()
    if _foreign(tracer_provider):
        reused.append("traces")
    else:
        sdk_tracer_provider = TracerProvider(
            resource=resource, sampler=_sampler(settings), shutdown_on_exit=False
        )
        if span_exporter is not None:
            sdk_tracer_provider.add_span_processor(
                _BatchSpanProcessor(span_exporter, _where(settings, "traces"), delay)
            )
        tracer_provider = sdk_tracer_provider
        owned.add("traces")

    meter_provider: metrics.MeterProvider = metrics.get_meter_provider()
    if _foreign(meter_provider):
        reused.append("metrics")
    else:
        readers: list[MetricReader] = []
        if metric_exporter is not None:
            readers.append(
                PeriodicExportingMetricReader(
                    metric_exporter,
                    export_interval_millis=settings.metric_export_interval * 1000,
                    export_timeout_millis=settings.otlp_for("metrics").timeout * 1000,
                )
            )
        readers.extend(extra_readers)
        meter_provider = MeterProvider(
            resource=resource, metric_readers=readers, shutdown_on_exit=False
        )
        owned.add("metrics")

    logger_provider: otel_logs.LoggerProvider = otel_logs.get_logger_provider()
    if _foreign(logger_provider):
        reused.append("logs")
    else:
        sdk_logger_provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
        if log_exporter is not None:
            sdk_logger_provider.add_log_record_processor(
                _BatchLogRecordProcessor(log_exporter, _where(settings, "logs"), delay)
            )
        logger_provider = sdk_logger_provider
        owned.add("logs")

    for provider in _owned_providers(tracer_provider, meter_provider, logger_provider, owned):
        _created[id(provider)] = provider
    _set_globals(tracer_provider, meter_provider, logger_provider, owned)
    if reused:
        internal_logger.info(
            "watchkit: using the %s provider(s) the application already installed; "
            "their processors and exporters are left as they are",
            ", ".join(reused),
        )
    return Pipeline(
        tracer_provider,
        meter_provider,
        logger_provider,
        settings,
        settings.duration_buckets,
        owned=frozenset(owned),
    )


def _owned_providers(
    tracer_provider: object, meter_provider: object, logger_provider: object, owned: set[str]
) -> list[object]:
    pairs = (("traces", tracer_provider), ("metrics", meter_provider), ("logs", logger_provider))
    return [provider for signal, provider in pairs if signal in owned]


def _set_globals(
    tracer_provider: trace.TracerProvider,
    meter_provider: metrics.MeterProvider,
    logger_provider: otel_logs.LoggerProvider,
    owned: set[str],
) -> None:
    # The API allows setting each global once. After a shutdown() and a new
    # configure(), the globals keep pointing at the first pipeline's providers;
    # watchkit's own telemetry follows the new pipeline through STATE.
    if "traces" in owned and _is_unset(trace.get_tracer_provider()):
        trace.set_tracer_provider(tracer_provider)
    if "metrics" in owned and _is_unset(metrics.get_meter_provider()):
        metrics.set_meter_provider(meter_provider)
    if "logs" in owned and _is_unset(otel_logs.get_logger_provider()):
        otel_logs.set_logger_provider(logger_provider)


def run_with_deadline(tasks: list[Callable[[], object]], timeout: float) -> bool:
    """Run ``tasks`` in parallel daemon threads; True if all finished within ``timeout``.

    Threads still running at the deadline are abandoned: they are daemons, so
    they cannot keep the interpreter alive. Where no thread can be started
    (Python 3.12 at interpreter exit) the tasks run inline; they are then bounded
    by the deadline the batch processors read (see ``_remaining_millis``).
    """
    global _deadline
    if not tasks:
        return True
    deadline = time.monotonic() + timeout
    _deadline = deadline
    try:
        threads = []
        inline_ok = True
        for task in tasks:
            thread = threading.Thread(target=_quietly(task), name="watchkit-flush", daemon=True)
            try:
                thread.start()
            except RuntimeError:  # interpreter finalizing: no new threads
                _quietly(task)()
                inline_ok = inline_ok and time.monotonic() <= deadline
                continue
            threads.append(thread)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return inline_ok and not any(thread.is_alive() for thread in threads)
    finally:
        _deadline = None


def _quietly(task: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        try:
            task()
        except Exception:
            internal_logger.debug("watchkit: flush/shutdown task failed", exc_info=True)

    return run


def _owned(pipeline: Pipeline) -> list[Any]:
    return _owned_providers(
        pipeline.tracer_provider,
        pipeline.meter_provider,
        pipeline.logger_provider,
        set(pipeline.owned),
    )


def flush_pipeline(pipeline: Pipeline, timeout: float) -> bool:
    """Export what is pending, waiting at most ``timeout`` seconds."""
    millis = int(timeout * 1000)
    tasks: list[Callable[[], object]] = [partial(p.force_flush, millis) for p in _owned(pipeline)]
    return run_with_deadline(tasks, timeout)


def _shutdown_task(provider: Any) -> Callable[[], object]:
    if isinstance(provider, MeterProvider):
        # Its readers take a timeout: the time left when the task runs.
        return lambda: provider.shutdown(timeout_millis=_remaining_millis())
    return provider.shutdown  # type: ignore[no-any-return]


def shutdown_pipeline(pipeline: Pipeline, timeout: float) -> bool:
    """Flush and stop the providers watchkit owns, waiting at most ``timeout`` seconds."""
    for hook in pipeline.on_shutdown:
        try:
            hook()
        except Exception:
            internal_logger.debug("watchkit: shutdown hook failed", exc_info=True)
    tasks: list[Callable[[], object]] = [_shutdown_task(p) for p in _owned(pipeline)]
    finished = run_with_deadline(tasks, timeout)
    if not finished:
        internal_logger.warning(
            "watchkit: shutdown gave up after %.1f s; telemetry still queued was dropped "
            "(is the collector reachable?)",
            timeout,
        )
    return finished


def forget_parent_measurements(provider: object) -> bool:
    """Drop the metric points a forked child inherited from its parent; False if impossible.

    The child is a new instance (the SDK gives it its own ``service.instance.id``):
    what the parent counted is the parent's to report. Left in place, every
    cumulative counter of a new pre-fork child (a Celery pool child recycled by
    ``max_tasks_per_child``, a gunicorn worker restarted by ``max_requests``)
    starts at the parent's total, and a sum across instances counts it twice.
    The SDK (1.45) has no public way to do this: its private measurement
    consumer is renewed here, and a test fails loudly if that internal changes.
    """
    consumer = getattr(provider, "_measurement_consumer", None)
    storages = getattr(consumer, "_reader_storages", None)
    config = getattr(consumer, "_sdk_config", None)
    if consumer is None or not isinstance(storages, dict) or config is None:
        return False
    from opentelemetry.sdk.metrics._internal.metric_reader_storage import MetricReaderStorage

    consumer._lock = threading.Lock()
    consumer._reader_storages = {
        reader: MetricReaderStorage(
            config, reader._instrument_class_temporality, reader._instrument_class_aggregation
        )
        for reader in storages
    }
    return True


def _after_fork_in_child() -> None:
    # The SDK's providers renew service.instance.id and restart their worker
    # threads after a fork; process.pid is watchkit's and is renewed here.
    export_health.reset_after_fork()  # before anything else: it may need the lock
    pipeline = STATE.pipeline
    if pipeline is None:
        return
    for provider in _owned(pipeline):
        if isinstance(provider, MeterProvider) and not forget_parent_measurements(provider):
            internal_logger.debug("watchkit: cannot reset inherited metric points after fork")
        update = getattr(provider, "_update_resource", None)
        if update is not None:
            try:
                update(process_resource())
            except Exception:
                internal_logger.debug("watchkit: resource update after fork failed", exc_info=True)


fork.at_fork(fork.PIPELINE, "pipeline.resource", _after_fork_in_child)
