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
import datetime as _dt
import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from opentelemetry.trace import SpanContext

from watchkit._audit.chain import HASH, SEQ, STREAM
from watchkit._internal.guard import internal_logger

_fcntl: Any
try:
    import fcntl as _fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks, best effort
    _fcntl = None

__all__ = [
    "PREFIX",
    "QUARANTINE",
    "QUARANTINE_KEY",
    "SCOPE",
    "Quarantine",
    "QuarantineContents",
    "SpoolFile",
    "default_spool_dir",
    "fallback_dir",
    "record_key",
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


# --------------------------------------------------------------------------------------
# Quarantine: records the collector rejected for good


QUARANTINE: Final = "quarantine.jsonl"
"""Name of the quarantine file in the spool directory (never claimed as a spool file)."""
_QUARANTINE_LOCK = "quarantine.lock"
QUARANTINE_KEY: Final = "quarantine"
"""Key of a quarantine line's metadata (``reason``, ``time``) beside the spool envelope."""

Key = tuple[str, int, str]
"""A record's identity: ``(audit.stream, audit.seq, audit.hash)``."""


def record_key(record: Mapping[str, Any]) -> Key | None:
    """The identity of a spool or quarantine line, or None if it has none."""
    attributes = record.get("attributes")
    if not isinstance(attributes, Mapping):
        return None
    stream, seq, digest = attributes.get(STREAM), attributes.get(SEQ), attributes.get(HASH)
    if not isinstance(stream, str) or not isinstance(seq, int) or not isinstance(digest, str):
        return None
    return stream, seq, digest


@dataclass(frozen=True)
class QuarantineContents:
    """What a quarantine file holds: usable records and the lines that are not."""

    records: list[tuple[int, dict[str, Any]]]
    """``(line number, line)`` of each distinct record, oldest first."""
    problems: list[tuple[int, str]]
    """``(line number, why)`` of each line that is not a quarantined record; kept in the file."""


class Quarantine:
    """The quarantine file beside the spool: append-only for shippers, rewritten by resend.

    Writers and the re-sender coordinate with an ``flock`` on a separate lock file,
    because a resend replaces the file (``os.replace``) and a writer holding the old
    one open would append to a deleted file.
    """

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.path = os.path.join(directory, QUARANTINE)
        self._lock_path = os.path.join(directory, _QUARANTINE_LOCK)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if _fcntl is not None:
                _fcntl.flock(fd, _fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def add(self, records: Iterable[Mapping[str, Any]], reason: str) -> None:
        """Append ``records`` (spool lines) with why they were rejected; durable on return."""
        meta = {"reason": reason, "time": _dt.datetime.now(_dt.timezone.utc).isoformat()}
        data = b"".join(
            (
                json.dumps(
                    {**record, QUARANTINE_KEY: meta}, separators=(",", ":"), ensure_ascii=True
                )
                + "\n"
            ).encode()
            for record in records
        )
        with self._locked():
            created = not os.path.exists(self.path)
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    data = b"\n" + data  # a torn last line must not swallow this record
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            if created:
                _fsync_directory(self.directory)

    def count(self) -> int:
        """Lines in the file (a cheap upper bound of the records it holds)."""
        try:
            with open(self.path, "rb") as handle:
                return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
        except FileNotFoundError:
            return 0

    def read(self) -> QuarantineContents:
        """Parse the file; a missing file is an empty quarantine.

        Raises:
            OSError: the file exists but cannot be read.
        """
        try:
            with open(self.path, "rb") as handle:
                raw = handle.read()
        except FileNotFoundError:
            return QuarantineContents([], [])
        records: list[tuple[int, dict[str, Any]]] = []
        problems: list[tuple[int, str]] = []
        seen: set[Key] = set()
        for number, line in enumerate(raw.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                parsed = json.loads(line)
            except ValueError as error:
                problems.append((number, f"not valid JSON ({getattr(error, 'msg', error)})"))
                continue
            key = record_key(parsed) if isinstance(parsed, dict) else None
            if key is None:
                problems.append((number, "not an audit record (no audit.stream/seq/hash)"))
                continue
            if key not in seen:  # a crash between quarantine and ack adds a repeat
                seen.add(key)
                records.append((number, parsed))
        return QuarantineContents(records, problems)

    def remove(self, keys: Iterable[Key]) -> None:
        """Drop the records with these identities; every other line is kept byte for byte."""
        drop = set(keys)
        if not drop:
            return
        with self._locked():
            try:
                with open(self.path, "rb") as handle:
                    lines = handle.read().splitlines(keepends=True)
            except FileNotFoundError:
                return
            kept = []
            for line in lines:
                try:
                    parsed = json.loads(line)
                    key = record_key(parsed) if isinstance(parsed, dict) else None
                except ValueError:
                    key = None
                if key is None or key not in drop:
                    kept.append(line)
            if not any(line.strip() for line in kept):
                os.unlink(self.path)
                return
            tmp = self.path + ".tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, b"".join(kept))
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
            _fsync_directory(self.directory)


def _fsync_directory(directory: str) -> None:
    # A new or replaced file survives a power cut only once its directory entry is synced.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
