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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from opentelemetry import trace
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from watchkit._audit.chain import CHAIN
from watchkit._audit.spool import (
    PREFIX,
    SCOPE,
    SUFFIX,
    Quarantine,
    QuarantineContents,
    SpoolFile,
    default_spool_dir,
    fallback_dir,
    record_key,
    spool_line,
    try_lock,
)
from watchkit._internal import fork, semconv
from watchkit._internal.diagnostics import export_health
from watchkit._internal.guard import internal_logger
from watchkit._internal.state import Pipeline
from watchkit._metrics import Counter
from watchkit._version import __version__

if TYPE_CHECKING:
    from opentelemetry.sdk._logs import ReadableLogRecord
    from opentelemetry.sdk._logs.export import LogRecordExporter
    from opentelemetry.sdk.resources import Resource

    from watchkit._internal.settings import Settings

__all__ = [
    "PERMANENT_TRIES",
    "ResendReport",
    "Trail",
    "Verdicts",
    "current_trail",
    "rejection_reason",
    "resend_quarantine",
    "spool_dir",
    "start_for_pipeline",
]

OUTCOME = semconv.AUDIT_OUTCOME
_QUARANTINED = Counter(
    semconv.AUDIT_QUARANTINED,
    "{record}",
    "Audit records the collector rejected for good, kept in the quarantine.",
    scope=SCOPE,
)

_BATCH = 512
_FSYNC_INTERVAL = 0.5  # seconds; the promise is "at least every second"
_RESCAN_INTERVAL = 10.0
_ROTATE_BYTES = 8 << 20
_MAX_BACKOFF = 30.0
_RESEND_BATCH = 64

# What one ship_once() did.
SENT: Final = "sent"
IDLE: Final = "idle"
FAILED: Final = "failed"  # temporary: retried with backoff
REJECTED: Final = "rejected"  # refused for good: tried again shortly, then quarantined
SPLIT: Final = "split"  # refused for good: retried at once in a smaller batch


# --------------------------------------------------------------------------------------
# Why an export failed


PERMANENT_TRIES: Final = 3
"""Tries of a single rejected record before it is quarantined."""
_REJECTED_RETRY = 1.0  # seconds between tries of a record the collector rejected for good
# OTLP/HTTP: 4xx are final except these two (the OTLP specification's retryable set
# adds 502-504; 5xx are all retried here: a failing collector recovers).
_RETRYABLE_4XX = frozenset({408, 429})
# OTLP/gRPC codes that name the request, not the collector's state. UNKNOWN and
# INTERNAL (a crashing collector) and the specification's retryable codes are retried.
_FINAL_GRPC = frozenset(
    {
        "INVALID_ARGUMENT",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "UNAUTHENTICATED",
        "FAILED_PRECONDITION",
        "UNIMPLEMENTED",
    }
)
_TOO_LARGE = "RequestPayloadTooLargeError"  # the HTTP exporter's own size limit


def rejection_reason(
    error: BaseException | None, attributes: Mapping[str, Any] | None
) -> str | None:
    """Why an export was refused for good (``"HTTP 400"``), or None if retrying may help.

    ``error`` and ``attributes`` are what the SDK's OTLP exporters record about a
    failed export (its ``error`` and ``error_attrs``).
    """
    attributes = attributes or {}
    status = attributes.get(semconv.HTTP_RESPONSE_STATUS_CODE)
    if isinstance(status, int):
        return f"HTTP {status}" if 400 <= status < 500 and status not in _RETRYABLE_4XX else None
    code = attributes.get(semconv.RPC_RESPONSE_STATUS_CODE)
    if isinstance(code, str):
        if code not in _FINAL_GRPC:
            return None
        details = getattr(error, "details", None)
        text = details() if callable(details) else None
        return f"gRPC {code}: {str(text)[:200]}" if text else f"gRPC {code}"
    if type(error).__name__ == _TOO_LARGE:
        return "request larger than the exporter's max_request_size"
    return None


class _Observed:
    """Stands in for an SDK exporter's self-metrics hook and remembers each outcome."""

    def __init__(self, inner: Any, verdicts: Verdicts) -> None:
        self._inner = inner
        self._verdicts = verdicts

    @contextlib.contextmanager
    def export_operation(self, num_items: int) -> Iterator[Any]:
        with self._inner.export_operation(num_items) as result:
            self._verdicts.last = result
            yield result


class Verdicts:
    """Learns from the SDK's OTLP log exporter why its last export failed.

    The SDK's exporters return only SUCCESS or FAILURE. Both the HTTP and the gRPC
    exporter record the status of a failed export on the object their self-metrics
    hook (the private ``_metrics`` attribute) yields; :meth:`adapt` wraps that hook.
    ``tests/audit/test_quarantine.py`` pins this against a real HTTP and a real
    gRPC server, so an SDK release that changes it fails loudly. Without the hook
    every failure counts as temporary: records wait in the spool, as before.
    """

    def __init__(self) -> None:
        self.last: Any = None

    def adapt(self, exporter: LogRecordExporter) -> LogRecordExporter:
        """Install the observer on a freshly built SDK exporter (again after a fork)."""
        inner = getattr(exporter, "_metrics", None)
        if inner is None or not callable(getattr(inner, "export_operation", None)):
            internal_logger.warning(
                "watchkit: this OpenTelemetry SDK does not say why an export failed; "
                "audit records the collector rejects for good are retried, not quarantined"
            )
            return exporter
        exporter._metrics = _Observed(inner, self)  # type: ignore[attr-defined]
        return exporter

    def clear(self) -> None:
        """Forget the last outcome (call before each export)."""
        self.last = None

    def rejection(self) -> str | None:
        """Why the last export was refused for good, or None."""
        last = self.last
        if last is None:
            return None
        return rejection_reason(getattr(last, "error", None), getattr(last, "error_attrs", None))


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
        verdicts: Verdicts | None = None,
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
        self.retry_now = threading.Event()  # ends a backoff early (close(): one last try)
        self.stopping = False
        self.threads: list[threading.Thread] = []
        self.exported = 0
        self.exporter_failing = False
        self.verdicts = verdicts
        self.limit = _BATCH
        """Records per export; halved while the collector rejects a batch for good."""
        self.quarantined = 0
        self._strike: tuple[str, int] | None = None  # the rejected record: (file, offset)
        self._strikes = 0
        self._warned = False
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
        self.retry_now = threading.Event()
        if self.stopping:
            self.stopped.set()
            self.retry_now.set()
        self.exporter_failing = False
        self._strike, self._strikes = None, 0
        self.limit = _BATCH
        self.pid = os.getpid()

    # Threads ------------------------------------------------------------------
    def start(self) -> None:
        """Start shipping if spooled records from earlier processes are waiting."""
        waiting = Quarantine(self.directory).count()
        if waiting:
            internal_logger.warning(
                "watchkit: %d audit records the collector rejected for good wait in %s; "
                "list them with `python -m watchkit audit quarantine list --dir %s`",
                waiting,
                Quarantine(self.directory).path,
                self.directory,
            )
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
                outcome = self.ship_once()
            except Exception:
                internal_logger.warning("watchkit: audit shipping failed", exc_info=True)
                outcome = FAILED
            if outcome == FAILED:
                # Not woken by new records: under load a dead collector would be
                # retried once per record instead of once per backoff.
                self._pause(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF)
                continue
            backoff = 1.0
            if outcome == REJECTED:
                self._pause(_REJECTED_RETRY)
            elif outcome == IDLE:
                if time.monotonic() - last_scan > _RESCAN_INTERVAL:
                    self._scan()
                    last_scan = time.monotonic()
                self._wait(1.0)

    def _pause(self, seconds: float) -> None:
        self.retry_now.wait(seconds)
        self.retry_now.clear()

    def _wait(self, seconds: float) -> None:
        with self.wake:
            if not self.stopping:
                self.wake.wait(seconds)

    def ship_once(self) -> str:
        """Export the next batch; returns SENT, IDLE, FAILED, REJECTED or SPLIT."""
        from opentelemetry.sdk._logs.export import LogRecordExportResult

        for spool in [*self.orphans, *([self.own] if self.own else [])]:
            records, position, at_end = spool.read_batch(self.limit)
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
                return SENT
            if self.verdicts is not None:
                self.verdicts.clear()
            result = self.exporter.export(batch)
            if result is LogRecordExportResult.SUCCESS:
                self.exporter_failing = False
                self.limit = _BATCH
                spool.ack(position)
                self.exported += len(batch)
                if spool.own and position >= _ROTATE_BYTES:
                    self._rotate(spool)
                return SENT
            self.exporter_failing = True
            reason = None if self.verdicts is None else self.verdicts.rejection()
            if reason is None:
                return FAILED
            return self._rejected(spool, records, position, reason)
        return IDLE

    def _rejected(
        self, spool: SpoolFile, records: list[dict[str, Any]], position: int, reason: str
    ) -> str:
        """The collector refused ``records`` for good: narrow down, retry, then quarantine."""
        if len(records) > 1:
            # One bad record must not quarantine the good ones beside it: halve the
            # batch until the refused record is alone (at most 9 steps from 512).
            self.limit = max(1, len(records) // 2)
            return SPLIT
        head = (spool.path, spool.offset)
        if head != self._strike:
            self._strike, self._strikes = head, 0
        self._strikes += 1
        if self._strikes < PERMANENT_TRIES:
            return REJECTED
        quarantine = Quarantine(self.directory)
        quarantine.add(records, reason)  # durable before the ack: nothing is lost
        spool.ack(position)
        self._strike, self._strikes = None, 0
        self.limit = _BATCH
        self.quarantined += len(records)
        export_health.quarantined("log records", len(records))
        _QUARANTINED.add(len(records), {semconv.ERROR_TYPE: reason.split(":", 1)[0]})
        if not self._warned:
            self._warned = True
            internal_logger.warning(
                "watchkit: the collector rejected an audit record for good (%s, %d tries); "
                "it is kept in %s and later records are sent. List the quarantine with "
                "`python -m watchkit audit quarantine list --dir %s` and send it again "
                "with `... quarantine resend`",
                reason,
                PERMANENT_TRIES,
                quarantine.path,
                self.directory,
            )
        else:
            internal_logger.debug("watchkit: quarantined an audit record (%s)", reason)
        return SENT

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
        self.retry_now.set()
        with self.wake:
            self.wake.notify_all()
        self._drain(deadline)
        self.stopping = True
        self.stopped.set()
        self.retry_now.set()
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


def spool_dir(settings: Settings) -> str:
    """The spool directory ``settings`` name (``audit_spool_dir``, else per service)."""
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
    if settings.exporter != "otlp":
        return lambda: None
    from watchkit._export.otlp import build_log_exporter
    from watchkit._internal.resource import build_resource

    verdicts = Verdicts()
    trail = Trail(
        pipeline,
        spool_dir(settings),
        build_log_exporter(settings.otlp_for("logs"), adapt=verdicts.adapt),
        build_resource(settings),
        settings.shutdown_timeout,
        verdicts,
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


# --------------------------------------------------------------------------------------
# Re-sending the quarantine (python -m watchkit audit quarantine resend)


@dataclass
class ResendReport:
    """What :func:`resend_quarantine` did."""

    sent: int = 0
    """Records the collector accepted (and that were removed from the quarantine)."""
    remaining: int = 0
    """Records still in the quarantine (rejected again, or not tried)."""
    rejected: list[tuple[int, str]] = field(default_factory=list)
    """``(line, reason)`` of records the collector refused again."""
    failure: str | None = None
    """Why sending stopped early (the collector unreachable), if it did."""


def resend_quarantine(
    settings: Settings, quarantine: Quarantine, contents: QuarantineContents | None = None
) -> ResendReport:
    """Send the quarantined records again through an OTLP exporter built from ``settings``.

    Each batch the collector accepts is removed from the file at once, so an
    interrupted resend sends nothing twice; a record refused again stays, as
    does every line that is not a record. Re-sent records carry the resource
    of the process re-sending them; ``audit.stream`` still names their origin.
    """
    from opentelemetry.sdk._logs.export import LogRecordExportResult
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    from watchkit._export.otlp import build_log_exporter
    from watchkit._internal.resource import build_resource

    if contents is None:
        contents = quarantine.read()
    report = ResendReport()
    verdicts = Verdicts()
    exporter = build_log_exporter(settings.otlp_for("logs"), adapt=verdicts.adapt)
    resource = build_resource(settings)
    scope = InstrumentationScope(SCOPE, __version__)
    pending = [
        contents.records[i : i + _RESEND_BATCH]
        for i in range(0, len(contents.records), _RESEND_BATCH)
    ]
    try:
        while pending and report.failure is None:
            chunk = pending.pop(0)
            try:
                batch = [_to_readable(record, resource, scope) for _, record in chunk]
            except Exception:
                if len(chunk) > 1:
                    pending[:0] = [[entry] for entry in chunk]
                else:
                    report.rejected.append((chunk[0][0], "not a usable record"))
                continue
            verdicts.clear()
            if exporter.export(batch) is LogRecordExportResult.SUCCESS:
                keys = [key for _, record in chunk if (key := record_key(record)) is not None]
                quarantine.remove(keys)
                report.sent += len(chunk)
                continue
            reason = verdicts.rejection()
            if reason is None:
                report.failure = "the collector did not accept the records (unreachable or busy)"
            elif len(chunk) > 1:
                pending[:0] = [[entry] for entry in chunk]  # find the ones it refuses
            else:
                report.rejected.append((chunk[0][0], reason))
    finally:
        with contextlib.suppress(Exception):
            exporter.shutdown()  # type: ignore[no-untyped-call]
    report.remaining = len(contents.records) - report.sent
    return report
