"""The shipper: the threads that fsync the spool and export it, in order, over OTLP.

Used by :func:`watchkit.audit`; ``configure()`` starts it when the OTLP
exporter is on. Every audit record is appended to this process's spool file
(:mod:`watchkit._audit.spool`) *before* it is exported; a background thread
ships records in file order through a dedicated OTLP log exporter and
acknowledges a position only after the exporter reported success. Files of
processes that are gone are claimed and re-sent by the next process using the
directory. Fully acknowledged files are deleted.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from watchkit._audit.chain import CHAIN
from watchkit._audit.spool import (
    PREFIX,
    SCOPE,
    SUFFIX,
    SpoolFile,
    default_spool_dir,
    fallback_dir,
    spool_line,
    try_lock,
)
from watchkit._internal import fork, semconv
from watchkit._internal.guard import internal_logger
from watchkit._internal.state import Pipeline
from watchkit._version import __version__

if TYPE_CHECKING:
    from opentelemetry.sdk._logs import ReadableLogRecord
    from opentelemetry.sdk._logs.export import LogRecordExporter
    from opentelemetry.sdk.resources import Resource

    from watchkit._internal.settings import Settings

__all__ = ["Trail", "current_trail", "start_for_pipeline"]

OUTCOME = semconv.AUDIT_OUTCOME

_BATCH = 512
_FSYNC_INTERVAL = 0.5  # seconds; the promise is "at least every second"
_RESCAN_INTERVAL = 10.0
_ROTATE_BYTES = 8 << 20
_MAX_BACKOFF = 30.0


def _to_readable(record: Mapping[str, Any], resource: Resource, scope: Any) -> ReadableLogRecord:
    from opentelemetry import context as otel_context
    from opentelemetry.sdk._logs import ReadableLogRecord

    attributes = record["attributes"]
    ctx = None
    trace_hex, span_hex = record.get("trace_id"), record.get("span_id")
    if trace_hex and span_hex:
        span_context = SpanContext(
            int(trace_hex, 16),
            int(span_hex, 16),
            is_remote=False,
            trace_flags=TraceFlags(int(record.get("trace_flags", 0))),
        )
        ctx = trace.set_span_in_context(NonRecordingSpan(span_context), otel_context.Context())
    else:
        ctx = trace.set_span_in_context(trace.INVALID_SPAN, otel_context.Context())
    outcome = attributes.get(OUTCOME)
    severity = SeverityNumber.INFO if outcome == "success" else SeverityNumber.WARN
    now = int(record.get("time_unix_nano") or time.time_ns())
    name = attributes.get(semconv.EVENT_NAME)
    log_record = LogRecord(
        timestamp=now,
        observed_timestamp=now,
        context=ctx,
        severity_text=severity.name,
        severity_number=severity,
        body=name,
        attributes=attributes,
        event_name=name,
    )
    return ReadableLogRecord(log_record=log_record, resource=resource, instrumentation_scope=scope)


class Trail:
    """Spool writer plus the shipping and fsync threads for one configured pipeline."""

    def resource(self) -> Resource:
        """The pipeline's current resource: renewed after a fork (pid, instance id)."""
        from opentelemetry.sdk.resources import Resource as SdkResource

        provider = getattr(self.pipeline, "logger_provider", None)
        current = getattr(provider, "resource", None)
        return current if isinstance(current, SdkResource) else self._resource

    def __init__(
        self,
        pipeline: Pipeline,
        directory: str,
        exporter: LogRecordExporter,
        resource: Resource,
        shutdown_timeout: float,
    ) -> None:
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope

        self.pipeline = pipeline
        self.directory = directory
        self.exporter = exporter
        self._resource = resource
        self.scope = InstrumentationScope(SCOPE, __version__)
        self.shutdown_timeout = shutdown_timeout
        self.pid = os.getpid()
        self.own: SpoolFile | None = None
        self.orphans: list[SpoolFile] = []
        self.known: set[str] = set()
        self.wake = threading.Condition()
        self.stopped = threading.Event()  # ends the fsync loop (appends do not wake it)
        self.stopping = False
        self.threads: list[threading.Thread] = []
        self.exported = 0
        self.exporter_failing = False
        _TRAILS.add(self)

    # Writer (called with CHAIN.lock held) -----------------------------------
    def append(self, attributes: Mapping[str, Any], now: int, span_context: SpanContext) -> None:
        if self.pid != os.getpid():
            self._after_fork()
        own = self.own
        if own is None:
            own = self.own = self._open_own()
        data = spool_line(attributes, now, span_context)
        written = os.write(own.write_fd, data)
        while written < len(data):  # pragma: no cover - regular files write fully
            written += os.write(own.write_fd, data[written:])
        own.dirty = True
        self._ensure_threads()
        with self.wake:
            self.wake.notify_all()

    def _open_own(self) -> SpoolFile:
        # Created on the first record, not at configure(): no directory for nothing.
        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
        except OSError:
            fallback = fallback_dir(self.directory)
            internal_logger.warning(
                "watchkit: cannot create the audit spool directory %s; using %s (set "
                "audit_spool_dir to persistent storage)",
                self.directory,
                fallback,
            )
            self.directory = fallback
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
        name = f"{PREFIX}{time.time_ns():020d}-{os.getpid()}{SUFFIX}"
        path = os.path.join(self.directory, name)
        own = SpoolFile(path, own=True)
        own.write_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try_lock(own.write_fd)
        self.known.add(path)
        return own

    def _after_fork(self) -> None:
        # The child must not write to, lock or ship the parent's file.
        if self.own is not None:
            self.own.close()
        for orphan in self.orphans:
            orphan.close()
        self.own = None
        self.orphans = []
        self.known = set()
        self.threads = []
        self.wake = threading.Condition()
        self.stopped = threading.Event()
        if self.stopping:
            self.stopped.set()
        self.exporter_failing = False
        self.pid = os.getpid()

    # Threads ------------------------------------------------------------------
    def start(self) -> None:
        """Start shipping if spooled records from earlier processes are waiting."""
        if self._scan():
            self._ensure_threads()

    def _ensure_threads(self) -> None:
        if self.threads or self.stopping:
            return
        for target, name in ((self._ship_loop, "watchkit-audit"), (self._sync_loop, "fsync")):
            thread = threading.Thread(target=target, name=f"{name}", daemon=True)
            thread.start()
            self.threads.append(thread)

    def _scan(self) -> bool:
        """Claim spool files no live process holds; True if any is waiting."""
        try:
            names = sorted(os.listdir(self.directory))
        except OSError:
            return False
        for name in names:
            path = os.path.join(self.directory, name)
            if not (name.startswith(PREFIX) and name.endswith(SUFFIX)) or path in self.known:
                continue
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                continue
            if not try_lock(fd):
                os.close(fd)  # its process is alive and ships it itself
                continue
            orphan = SpoolFile(path, own=False)
            orphan.lock_fd = fd
            self.orphans.append(orphan)
            self.known.add(path)
        return bool(self.orphans)

    def _sync_loop(self) -> None:
        # A fixed period, not woken by appends: one fsync per interval under load.
        while not self.stopping:
            self.stopped.wait(_FSYNC_INTERVAL)
            self.sync()

    def sync(self) -> None:
        own = self.own
        if own is not None and own.dirty and own.write_fd >= 0:
            own.dirty = False
            try:
                os.fsync(own.write_fd)
            except OSError:
                internal_logger.debug("watchkit: audit spool fsync failed", exc_info=True)

    def _ship_loop(self) -> None:
        backoff = 1.0
        last_scan = time.monotonic()
        while not self.stopping:
            try:
                progressed, failed = self.ship_once()
            except Exception:
                internal_logger.warning("watchkit: audit shipping failed", exc_info=True)
                progressed, failed = False, True
            if failed:
                self._wait(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF)
                continue
            backoff = 1.0
            if not progressed:
                if time.monotonic() - last_scan > _RESCAN_INTERVAL:
                    self._scan()
                    last_scan = time.monotonic()
                self._wait(1.0)

    def _wait(self, seconds: float) -> None:
        with self.wake:
            if not self.stopping:
                self.wake.wait(seconds)

    def ship_once(self) -> tuple[bool, bool]:
        """Export the next batch; returns (something was exported, the export failed)."""
        from opentelemetry.sdk._logs.export import LogRecordExportResult

        for spool in [*self.orphans, *([self.own] if self.own else [])]:
            records, position, at_end = spool.read_batch(_BATCH)
            if not records:
                if position != spool.offset:
                    spool.ack(position)  # only corrupt lines: step over them
                if at_end and not spool.own:
                    self._finish_orphan(spool)
                continue
            batch = []
            for record in records:
                try:
                    batch.append(_to_readable(record, self.resource(), self.scope))
                except Exception:
                    # Edited or damaged yet valid JSON: retrying cannot fix it, and it
                    # must not hold up the records behind it (verify reports the gap).
                    internal_logger.warning(
                        "watchkit: skipped an unusable record in audit spool %s", spool.path
                    )
            if not batch:
                spool.ack(position)
                return True, False
            result = self.exporter.export(batch)
            if result is not LogRecordExportResult.SUCCESS:
                self.exporter_failing = True
                return False, True
            self.exporter_failing = False
            spool.ack(position)
            self.exported += len(batch)
            if spool.own and position >= _ROTATE_BYTES:
                self._rotate(spool)
            return True, False
        return False, False

    def _finish_orphan(self, spool: SpoolFile) -> None:
        spool.remove()
        self.orphans.remove(spool)

    def _rotate(self, spool: SpoolFile) -> None:
        with CHAIN.lock:
            if spool.size() == spool.offset and self.own is spool:
                spool.remove()
                self.own = None  # the next record opens a new file; the chain continues

    # Life cycle -----------------------------------------------------------------
    def close(self) -> None:
        """Stop within the shutdown timeout; unsent records stay spooled for next time."""
        deadline = time.monotonic() + min(self.shutdown_timeout, 10.0)
        # One last attempt to ship what is pending, then stop.
        with self.wake:
            self.wake.notify_all()
        self._drain(deadline)
        self.stopping = True
        self.stopped.set()
        with self.wake:
            self.wake.notify_all()
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if any(thread.is_alive() for thread in self.threads):
            # An export is hanging on a dead collector: interrupt its retries.
            with contextlib.suppress(Exception):
                self.exporter.shutdown()  # type: ignore[no-untyped-call]
            for thread in self.threads:
                thread.join(1.0)
        alive = any(thread.is_alive() for thread in self.threads)
        self.sync()
        if not alive:
            with contextlib.suppress(Exception):
                self.exporter.shutdown()  # type: ignore[no-untyped-call]
            for spool in [*self.orphans, *([self.own] if self.own else [])]:
                spool.close()

    def _drain(self, deadline: float) -> None:
        if not self.threads:
            return
        # Wait (bounded) for the shipper to catch up with what is spooled.
        while time.monotonic() < deadline:
            pending = [*self.orphans, *([self.own] if self.own else [])]
            if all(s.offset >= s.size() for s in pending):
                return
            if self.exporter_failing:
                return
            time.sleep(0.02)


_TRAIL: Trail | None = None
_TRAILS: weakref.WeakSet[Trail] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # Right at fork, not at the child's first record: a child that never audits
    # must not wait for, fsync or ship the parent's file at its shutdown, and a
    # lock some parent thread held at fork time must not deadlock the child
    # (the chain's own hook, in the LOCKS phase, has renewed CHAIN.lock).
    for trail in list(_TRAILS):
        if trail.pid != os.getpid():
            with contextlib.suppress(Exception):
                trail._after_fork()


fork.at_fork(fork.STATE, "audit.trails", _after_fork_in_child)


def _spool_dir(settings: Settings) -> str:
    if settings.audit_spool_dir:
        return settings.audit_spool_dir
    name = dict(settings.resource_attributes).get(semconv.SERVICE_NAME) or "unknown_service"
    return default_spool_dir(name)


def start_for_pipeline(pipeline: Pipeline) -> Callable[[], None]:
    """Set up the audit spool for a configured pipeline; return the shutdown hook.

    Called by ``configure()``. With the OTLP exporter, audit records are spooled
    and shipped by a dedicated exporter, and files left by earlier processes are
    re-sent now. Otherwise audit records go to the pipeline's logger provider.
    """
    global _TRAIL
    settings = pipeline.settings
    if settings is None or settings.exporter != "otlp":
        return lambda: None
    from watchkit._export.otlp import build_log_exporter
    from watchkit._internal.resource import build_resource

    trail = Trail(
        pipeline,
        _spool_dir(settings),
        build_log_exporter(settings.otlp_for("logs")),
        build_resource(settings),
        settings.shutdown_timeout,
    )
    _TRAIL = trail
    try:
        trail.start()
    except Exception:
        internal_logger.warning("watchkit: could not scan the audit spool", exc_info=True)

    def stop() -> None:
        global _TRAIL
        if _TRAIL is trail:
            _TRAIL = None
        trail.close()

    return stop


def current_trail() -> Trail | None:
    """The spool of the configured pipeline, if the OTLP exporter is on."""
    return _TRAIL
