"""Flush and shut down the providers of a pipeline, within a deadline.

Bounded time: the SDK's exporters retry with backoff and a dead collector makes
a plain ``provider.shutdown()`` take longer than a deploy should wait. Flush and
shutdown here run the providers in parallel worker threads and stop waiting at
the deadline; the batch processors (``watchkit._export.batch``) read the same
deadline through :func:`remaining_millis`.

Building a pipeline (exporters, providers, the OpenTelemetry globals) is the
composition root's job, in ``watchkit._compose``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

from watchkit._internal import fork
from watchkit._internal.diagnostics import export_health
from watchkit._internal.guard import internal_logger
from watchkit._internal.resource import process_resource
from watchkit._internal.state import STATE, Pipeline

__all__ = [
    "flush_configured",
    "flush_pipeline",
    "owned_providers",
    "remaining_millis",
    "run_with_deadline",
    "shutdown_pipeline",
]

# Monotonic time by which a shutdown in progress must end (None: no deadline).
# Read by the batch processors so that provider.shutdown() is bounded even
# where no helper thread can be started (Python 3.12 refuses new threads at exit).
_deadline: float | None = None


def remaining_millis() -> int:
    """Milliseconds left before the deadline of the flush or shutdown in progress."""
    deadline = _deadline
    if deadline is None:
        return 30_000  # the SDK's own default
    return max(0, int((deadline - time.monotonic()) * 1000))


def owned_providers(pipeline: Pipeline) -> list[Any]:
    """The providers of ``pipeline`` that watchkit created (and so flushes and shuts down)."""
    pairs = (
        ("traces", pipeline.tracer_provider),
        ("metrics", pipeline.meter_provider),
        ("logs", pipeline.logger_provider),
    )
    return [provider for signal, provider in pairs if signal in pipeline.owned]


def run_with_deadline(tasks: list[Callable[[], object]], timeout: float) -> bool:
    """Run ``tasks`` in parallel daemon threads; True if all finished within ``timeout``.

    Threads still running at the deadline are abandoned: they are daemons, so
    they cannot keep the interpreter alive. Where no thread can be started
    (Python 3.12 at interpreter exit) the tasks run inline; they are then bounded
    by the deadline the batch processors read (see :func:`remaining_millis`).
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


def flush_pipeline(pipeline: Pipeline, timeout: float) -> bool:
    """Export what is pending, waiting at most ``timeout`` seconds."""
    millis = int(timeout * 1000)
    providers = owned_providers(pipeline)
    tasks: list[Callable[[], object]] = [partial(p.force_flush, millis) for p in providers]
    return run_with_deadline(tasks, timeout)


def _shutdown_task(provider: Any) -> Callable[[], object]:
    if isinstance(provider, MeterProvider):
        # Its readers take a timeout: the time left when the task runs.
        return lambda: provider.shutdown(timeout_millis=remaining_millis())
    return provider.shutdown  # type: ignore[no-any-return]


def shutdown_pipeline(pipeline: Pipeline, timeout: float) -> bool:
    """Flush and stop the providers watchkit owns, waiting at most ``timeout`` seconds."""
    for hook in pipeline.on_shutdown:
        try:
            hook()
        except Exception:
            internal_logger.debug("watchkit: shutdown hook failed", exc_info=True)
    tasks: list[Callable[[], object]] = [_shutdown_task(p) for p in owned_providers(pipeline)]
    finished = run_with_deadline(tasks, timeout)
    if not finished:
        internal_logger.warning(
            "watchkit: shutdown gave up after %.1f s; telemetry still queued was dropped "
            "(is the collector reachable?)",
            timeout,
        )
    return finished


def flush_configured() -> bool:
    """``force_flush()`` of the configured pipeline, for server shutdown paths (True if none)."""
    pipeline = STATE.configured
    if pipeline is None:
        return True
    return flush_pipeline(pipeline, pipeline.settings.shutdown_timeout)


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


def renew_export_locks(provider: object) -> int:
    """Give each periodic metric reader of ``provider`` a fresh export lock; how many.

    The SDK (1.45) restarts a periodic reader's thread after a fork but keeps
    the lock its export holds. A child forked while the parent's reader was
    exporting (a few milliseconds of every interval: one pre-fork child in a
    few hundred) inherits it held, and none of that child's metrics ever
    leave, not even at its exit flush. No thread of the child is exporting
    yet, so a fresh lock is always right.
    """
    readers = getattr(provider, "_metric_readers", ())
    renewed = 0
    for reader in readers:
        if isinstance(reader, PeriodicExportingMetricReader) and hasattr(reader, "_export_lock"):
            reader._export_lock = threading.Lock()
            renewed += 1
    return renewed


def _after_fork_in_child() -> None:
    # The SDK's providers renew service.instance.id and restart their worker
    # threads after a fork; process.pid is watchkit's and is renewed here.
    export_health.reset_after_fork()  # before anything else: it may need the lock
    pipeline = STATE.pipeline
    if pipeline is None:
        return
    for provider in owned_providers(pipeline):
        if isinstance(provider, MeterProvider):
            if not forget_parent_measurements(provider):
                internal_logger.debug("watchkit: cannot reset inherited metric points after fork")
            renew_export_locks(provider)
        update = getattr(provider, "_update_resource", None)
        if update is not None:
            try:
                update(process_resource())
            except Exception:
                internal_logger.debug("watchkit: resource update after fork failed", exc_info=True)


fork.at_fork(fork.PIPELINE, "pipeline.resource", _after_fork_in_child)
