"""The durable audit spool: JSON-lines files on disk, shipped in order over OTLP.

Used by :func:`watchkit.audit`; ``configure()`` starts it when the OTLP
exporter is on. Every audit record is appended to this process's spool file
(one file per process, fsync'd at least every second) *before* it is
exported; a background thread ships records in file order through a
dedicated OTLP log exporter and acknowledges a position (the ``.ack`` file
next to the spool) only after the exporter reported success. Files of
processes that are gone (no ``flock`` held) are claimed and re-sent by the
next process using the directory. Fully acknowledged files are deleted.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

from opentelemetry import trace
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from watchkit._internal import fork, semconv
from watchkit._internal.guard import internal_logger
from watchkit._internal.state import Pipeline
from watchkit._version import __version__

if TYPE_CHECKING:
    from opentelemetry.sdk._logs import ReadableLogRecord
    from opentelemetry.sdk._logs.export import LogRecordExporter
    from opentelemetry.sdk.resources import Resource

    from watchkit._internal.settings import Settings

_fcntl: Any
try:
    import fcntl as _fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks, best effort
    _fcntl = None

__all__ = ["SCOPE", "Trail", "current_trail", "default_spool_dir", "start_for_pipeline"]

SCOPE: Final = "watchkit.audit"
"""Instrumentation scope (the OTLP "stream") of audit records."""
OUTCOME = semconv.AUDIT_OUTCOME
CHAIN_LOCK = threading.Lock()
"""Held while a record is numbered, hashed and appended (and while a file rotates)."""

_BATCH = 512
_READ_CHUNK = 1 << 20
_FSYNC_INTERVAL = 0.5  # seconds; the promise is "at least every second"
_RESCAN_INTERVAL = 10.0
_ROTATE_BYTES = 8 << 20
_MAX_BACKOFF = 30.0


def default_spool_dir(service_name: str) -> str:
    """``$XDG_STATE_HOME/watchkit/audit/<service>`` (``~/.local/state`` when unset)."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state"
    )
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", service_name) or "unknown_service"
    return os.path.join(base, "watchkit", "audit", safe)


def _spool_line(attributes: Mapping[str, Any], now: int, span_context: SpanContext) -> bytes:
    envelope: dict[str, Any] = {"time_unix_nano": now}
    if span_context.is_valid:
        envelope["trace_id"] = format(span_context.trace_id, "032x")
        envelope["span_id"] = format(span_context.span_id, "016x")
        envelope["trace_flags"] = int(span_context.trace_flags)
    envelope["attributes"] = attributes
    return (json.dumps(envelope, separators=(",", ":"), ensure_ascii=True) + "\n").encode()


class _File:
    """One spool file: read position, acknowledgement and (for own files) the writer."""

    def __init__(self, path: str, own: bool) -> None:
        self.path = path
        self.own = own
        self.ack_path = path + ".ack"
        self.offset = 0
        self.read_fd = -1
        self.write_fd = -1
        self.lock_fd = -1
        self.dirty = False
        self._load_ack()

    def _load_ack(self) -> None:
        try:
            with open(self.ack_path, encoding="utf-8") as handle:
                self.offset = int(json.load(handle)["offset"])
        except (OSError, ValueError, KeyError, TypeError):
            self.offset = 0

    def ack(self, offset: int) -> None:
        tmp = self.ack_path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump({"offset": offset}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.ack_path)
        self.offset = offset

    def size(self) -> int:
        try:
            return os.stat(self.path).st_size
        except OSError:
            return 0

    def read_batch(self, limit: int) -> tuple[list[dict[str, Any]], int, bool]:
        """Up to ``limit`` parsed records after the acknowledged offset.

        Returns (records, new offset, at_end). Unparseable lines are skipped
        (and counted past); an incomplete last line is left for later.
        """
        if self.read_fd < 0:
            self.read_fd = os.open(self.path, os.O_RDONLY)
        size = _READ_CHUNK
        while True:
            data = os.pread(self.read_fd, size, self.offset)
            end = data.rfind(b"\n")
            if end >= 0 or len(data) < size:
                break
            size *= 2  # one line longer than the chunk: read until its end
        eof = len(data) < size
        if end < 0:
            if data and eof and not self.own:
                internal_logger.warning(
                    "watchkit: audit spool %s ends with an incomplete line (the process "
                    "stopped mid-write); it is skipped",
                    self.path,
                )
            return [], self.offset, eof
        records: list[dict[str, Any]] = []
        position = self.offset
        for raw in data[: end + 1].splitlines(keepends=True):
            if len(records) >= limit:
                break
            position += len(raw)
            try:
                parsed = json.loads(raw)
                if isinstance(parsed, dict) and isinstance(parsed.get("attributes"), dict):
                    records.append(parsed)
                    continue
            except ValueError:
                pass
            internal_logger.warning("watchkit: skipped a corrupt line in audit spool %s", self.path)
        at_end = position >= self.offset + end + 1 and eof
        return records, position, at_end

    def close(self) -> None:
        for name in ("read_fd", "write_fd", "lock_fd"):
            fd = getattr(self, name)
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
                setattr(self, name, -1)

    def remove(self) -> None:
        self.close()
        for path in (self.path, self.ack_path):
            with contextlib.suppress(OSError):
                os.unlink(path)


def _try_lock(fd: int) -> bool:
    if _fcntl is None:  # pragma: no cover
        return True
    try:
        _fcntl.flock(fd, _fcntl.LOCK_EX | _fcntl.LOCK_NB)
    except OSError:
        return False
    return True


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
        self.own: _File | None = None
        self.orphans: list[_File] = []
        self.known: set[str] = set()
        self.wake = threading.Condition()
        self.stopped = threading.Event()  # ends the fsync loop (appends do not wake it)
        self.stopping = False
        self.threads: list[threading.Thread] = []
        self.exported = 0
        self.exporter_failing = False
        _TRAILS.add(self)

    # Writer (called with _CHAIN.lock held) ----------------------------------
    def append(self, attributes: Mapping[str, Any], now: int, span_context: SpanContext) -> None:
        if self.pid != os.getpid():
            self._after_fork()
        own = self.own
        if own is None:
            own = self.own = self._open_own()
        data = _spool_line(attributes, now, span_context)
        written = os.write(own.write_fd, data)
        while written < len(data):  # pragma: no cover - regular files write fully
            written += os.write(own.write_fd, data[written:])
        own.dirty = True
        self._ensure_threads()
        with self.wake:
            self.wake.notify_all()

    def _open_own(self) -> _File:
        # Created on the first record, not at configure(): no directory for nothing.
        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
        except OSError:
            fallback = _fallback_dir(self.directory)
            internal_logger.warning(
                "watchkit: cannot create the audit spool directory %s; using %s (set "
                "audit_spool_dir to persistent storage)",
                self.directory,
                fallback,
            )
            self.directory = fallback
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
        name = f"audit-{time.time_ns():020d}-{os.getpid()}.jsonl"
        path = os.path.join(self.directory, name)
        own = _File(path, own=True)
        own.write_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        _try_lock(own.write_fd)
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
            if not name.endswith(".jsonl") or path in self.known:
                continue
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                continue
            if not _try_lock(fd):
                os.close(fd)  # its process is alive and ships it itself
                continue
            orphan = _File(path, own=False)
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

    def _finish_orphan(self, spool: _File) -> None:
        spool.remove()
        self.orphans.remove(spool)

    def _rotate(self, spool: _File) -> None:
        with CHAIN_LOCK:
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
    # lock some parent thread held at fork time must not deadlock the child.
    global CHAIN_LOCK
    CHAIN_LOCK = threading.Lock()
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


def _fallback_dir(directory: str) -> str:
    name = os.path.basename(directory)
    uid = getattr(os, "getuid", lambda: 0)()
    return os.path.join(tempfile.gettempdir(), f"watchkit-audit-{uid}", name)


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
