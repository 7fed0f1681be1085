"""The spool on disk: one JSON-lines file per process and its acknowledged offset.

A spool line is ``{"time_unix_nano": ..., "trace_id": ..., "span_id": ...,
"trace_flags": ..., "attributes": {...}}`` (trace fields only inside a span),
written with one ``write()`` on an ``O_APPEND`` descriptor. The offset up to
which the collector accepted the file is kept in ``<file>.ack`` (replaced
atomically); a file whose ack reaches its end is deleted. A live process holds
an advisory ``flock`` on its own file, which tells the files of processes that
are gone (claimable) from those of processes still shipping them.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Mapping
from typing import Any, Final

from opentelemetry.trace import SpanContext

from watchkit._internal.guard import internal_logger

_fcntl: Any
try:
    import fcntl as _fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks, best effort
    _fcntl = None

__all__ = [
    "PREFIX",
    "SCOPE",
    "SpoolFile",
    "default_spool_dir",
    "fallback_dir",
    "spool_line",
    "try_lock",
]

SCOPE: Final = "watchkit.audit"
"""Instrumentation scope (the OTLP "stream") of audit records."""
PREFIX: Final = "audit-"
"""Spool file names are ``audit-<time ns>-<pid>.jsonl``; nothing else is claimed."""
SUFFIX: Final = ".jsonl"
_READ_CHUNK = 1 << 20


def default_spool_dir(service_name: str) -> str:
    """``$XDG_STATE_HOME/watchkit/audit/<service>`` (``~/.local/state`` when unset)."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state"
    )
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", service_name) or "unknown_service"
    return os.path.join(base, "watchkit", "audit", safe)


def spool_line(attributes: Mapping[str, Any], now: int, span_context: SpanContext) -> bytes:
    """One spool line (with its line end) for a record."""
    envelope: dict[str, Any] = {"time_unix_nano": now}
    if span_context.is_valid:
        envelope["trace_id"] = format(span_context.trace_id, "032x")
        envelope["span_id"] = format(span_context.span_id, "016x")
        envelope["trace_flags"] = int(span_context.trace_flags)
    envelope["attributes"] = attributes
    return (json.dumps(envelope, separators=(",", ":"), ensure_ascii=True) + "\n").encode()


class SpoolFile:
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


def try_lock(fd: int) -> bool:
    """Take an exclusive advisory lock on ``fd`` without waiting; False if another holds it."""
    if _fcntl is None:  # pragma: no cover
        return True
    try:
        _fcntl.flock(fd, _fcntl.LOCK_EX | _fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def fallback_dir(directory: str) -> str:
    """A private directory under the system temp dir, for an unusable spool directory."""
    name = os.path.basename(directory)
    uid = getattr(os, "getuid", lambda: 0)()
    return os.path.join(tempfile.gettempdir(), f"watchkit-audit-{uid}", name)
