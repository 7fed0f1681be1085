"""Self-diagnostics of the export pipeline: counts and rate-limited warnings.

A dead collector must cost the host one warning, not a log storm. The SDK's
OTLP exporters log an error (and a warning per retry) for every failed batch
of every signal; watchkit silences those records on its own exporters'
loggers, keeps the last message as the detail, and reports one combined
warning per endpoint at most every ``interval`` seconds, plus one line when
export recovers.

Only records logged *while one of watchkit's exporters is exporting* (on that
thread, see :func:`exporting`) are folded into the report; the same loggers
stay untouched for the application's own exporters and for everything else
(configuration problems, for example). Endpoints are shown without user info
or query string, which may hold credentials.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import urlsplit

from watchkit._internal.guard import internal_logger

__all__ = [
    "ExportStats",
    "display_endpoint",
    "export_health",
    "exporting",
    "install_sdk_log_filter",
]

# The loggers through which the SDK's batch processors and OTLP exporters
# report failed exports. Filters do not inherit, so each is named.
_SDK_EXPORT_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
    "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
    "opentelemetry.exporter.otlp.proto.grpc.metric_exporter",
    "opentelemetry.exporter.otlp.proto.grpc._log_exporter",
    "opentelemetry.exporter.otlp.proto.http._common",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.proto.http.metric_exporter",
    "opentelemetry.exporter.otlp.proto.http._log_exporter",
    "opentelemetry.exporter.otlp.common.http",
    "opentelemetry.sdk._shared_internal",
    "opentelemetry.sdk.trace.export",
    "opentelemetry.sdk.metrics._internal.export",
    "opentelemetry.sdk._logs._internal.export",
)


@dataclass
class ExportStats:
    """Counters of one signal's export since configure()."""

    exported: int = 0
    """Items (spans, metric export batches' data points, log records) accepted by the exporter."""
    dropped: int = 0
    """Items lost: an export failed (collector down, refused, timed out) or the queue was full."""
    failed_exports: int = 0
    """Export calls that failed."""
    quarantined: int = 0
    """Audit records the collector rejected for good, moved to the audit quarantine (kept)."""


@dataclass
class _Health:
    """Export health: counts per signal, the failing state, and its rate-limited report.

    Export is *failing* from the first item lost (an export call that failed, or
    items dropped from a full queue: the SDK's exporters retry a short outage
    inside one call, so a full queue is often the first sign) until the next
    successful export. While failing, one warning a minute at most gives the
    real totals, the same numbers as ``Telemetry.export_stats()``; the first
    successful export after a warning says that delivery works again, with the
    totals then. Drops that no warning reported yet (the minute was not over)
    are reported by the next line, whichever it is.
    """

    interval: float = 60.0
    stats: dict[str, ExportStats] = field(default_factory=dict)
    last_detail: str = ""
    failing: bool = False
    announced: bool = False
    """A warning was written for the current failing period (a recovery line is owed)."""
    unreported: bool = False
    """Items were dropped since the last line, which no line has reported yet."""
    last_warning: float = float("-inf")
    lock: threading.Lock = field(default_factory=threading.Lock)

    def stat(self, signal: str) -> ExportStats:
        found = self.stats.get(signal)
        if found is None:
            found = self.stats.setdefault(signal, ExportStats())
        return found

    def _totals(self) -> str:
        dropped = {name: s.dropped for name, s in self.stats.items() if s.dropped}
        return ", ".join(f"{n} {name}" for name, n in sorted(dropped.items())) or "nothing"

    def succeeded(self, signal: str, endpoint: str, count: int) -> None:
        now = time.monotonic()
        with self.lock:
            self.stat(signal).exported += count
            self.failing = False
            recovered = self.announced or (
                self.unreported and now - self.last_warning >= self.interval
            )
            if recovered:
                if not self.announced:
                    self.last_warning = now
                self.announced = self.unreported = False
                self.last_detail = ""
            totals = self._totals()
        if recovered:
            _warn(
                "watchkit: export to %s works again; dropped so far: %s",
                display_endpoint(endpoint),
                totals,
            )

    def quarantined(self, signal: str, count: int) -> None:
        """``count`` audit records were moved to the quarantine (not dropped)."""
        with self.lock:
            self.stat(signal).quarantined += count

    def failed(self, signal: str, endpoint: str, count: int) -> None:
        self._dropped(signal, endpoint, count, export_failed=True)

    def queue_full(self, signal: str, endpoint: str, count: int) -> None:
        """``count`` items were dropped because the export queue was full."""
        self._dropped(signal, endpoint, count, export_failed=False)

    def _dropped(self, signal: str, endpoint: str, count: int, export_failed: bool) -> None:
        now = time.monotonic()
        with self.lock:
            stat = self.stat(signal)
            stat.dropped += count
            if export_failed:
                stat.failed_exports += 1
            elif not self.last_detail:
                self.last_detail = "export queue full: telemetry is produced faster than exported"
            self.failing = True
            due = now - self.last_warning >= self.interval
            if due:
                self.last_warning = now
                self.announced, self.unreported = True, False
            else:
                self.unreported = True
            totals = self._totals()
            detail = self.last_detail
        if due:
            _warn(
                "watchkit: cannot export telemetry to %s (%s); dropped so far: %s. "
                "The service keeps running; next report in %.0f s at the earliest.",
                display_endpoint(endpoint),
                detail or "no detail",
                totals,
                self.interval,
            )

    def reset(self) -> None:
        with self.lock:
            self._clear()

    def reset_after_fork(self) -> None:
        """In a forked child: start afresh without touching the inherited lock.

        Another thread of the parent may have held it at the moment of the fork;
        in the child nobody would ever release it.
        """
        self.lock = threading.Lock()
        self._clear()

    def _clear(self) -> None:
        self.stats.clear()
        self.failing = self.announced = self.unreported = False
        self.last_detail = ""
        self.last_warning = float("-inf")


def _warn(message: str, *args: object) -> None:
    # A drop is noticed on whatever thread produced the item, often one serving
    # a request: its context (request_id, trace_id, contextvars bound through
    # structlog) says nothing about the export, so the line is written from an
    # empty context.
    contextvars.Context().run(internal_logger.warning, message, *args)


export_health = _Health()


def display_endpoint(endpoint: str) -> str:
    """``endpoint`` without user info and query string, safe to print."""
    try:
        parts = urlsplit(endpoint)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}{parts.path}"
    except ValueError:
        return "<endpoint>"


_scope = threading.local()


class _Exporting:
    """Marks the current thread as running one of watchkit's exporters."""

    __slots__ = ()

    def __enter__(self) -> None:
        _scope.depth = getattr(_scope, "depth", 0) + 1

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        _scope.depth -= 1


exporting = _Exporting()
"""``with exporting:`` around a watchkit exporter's work: its SDK complaints become detail."""


class _SdkExportLogFilter(logging.Filter):
    """Keeps the SDK's per-batch export complaints as detail instead of log lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or not getattr(_scope, "depth", 0):
            return True
        try:
            export_health.last_detail = record.getMessage()[:300]
        except Exception:  # a malformed record must not break the export thread
            export_health.last_detail = str(record.msg)[:300]
        return False


_FILTER = _SdkExportLogFilter("watchkit")


def install_sdk_log_filter() -> None:
    """Install the filter on the SDK's export loggers (idempotent)."""
    for name in _SDK_EXPORT_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


def remove_sdk_log_filter() -> None:
    """Undo :func:`install_sdk_log_filter`."""
    for name in _SDK_EXPORT_LOGGERS:
        logging.getLogger(name).removeFilter(_FILTER)
