"""The audit trail: tamper-evident, durable records of security-relevant actions.

``watchkit.audit("reservation.cancel", actor="user:42", outcome="success",
target="reservation:R-1042", reason="guest request")`` emits one record on the
dedicated ``watchkit.audit`` stream with:

* ``event.name`` = ``audit.<action>``, ``audit.action``, ``audit.actor``,
  ``audit.outcome``, ``audit.target`` and the details (redacted like logs);
* ``client.address`` and ``request.id`` when called inside a request (read from
  the structlog context the HTTP integrations bind), the trace context of the
  current span, ``audit.time`` (ISO-8601 UTC);
* ``audit.stream`` (this process's chain), ``audit.seq`` (1, 2, 3 ... per
  process), ``audit.prev_hash`` and ``audit.hash`` = SHA-256 over the previous
  hash and the record's canonical JSON, so a deleted, inserted or edited
  record breaks the chain (``python -m watchkit audit verify FILE``).

Durability (OTLP exporter on): every record is first appended to a spool file
(JSON lines, one file per process, fsync'd at least every second) and then
shipped, in order, by a background thread through a dedicated OTLP log
exporter. Only when that exporter reports success is the position
acknowledged (an ``.ack`` file next to the spool). If the collector is down,
records wait on disk and are re-sent when it answers again; files of a process
that died are picked up by the next process using the same directory. Each
record is delivered once unless the process dies between the collector's
answer and the acknowledgement; receivers can drop such repeats by
``(audit.stream, audit.seq)``.

Audit records are never sampled and never filtered by log level. Without the
OTLP exporter (console, tests) they go to the pipeline's logger provider like
any event, still numbered and chained.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import socket
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.trace import SpanContext

from watchkit._export import audit_spool
from watchkit._export.audit_spool import SCOPE, current_trail, default_spool_dir
from watchkit._internal import fork, guard, semconv
from watchkit._internal.guard import internal_logger
from watchkit._internal.state import STATE, get_logger
from watchkit.redaction import REDACTED, current_redactor

if TYPE_CHECKING:
    pass

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks, best effort
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "GENESIS_HASH",
    "OUTCOMES",
    "SCOPE",
    "VerifyResult",
    "audit",
    "chain_hash",
    "default_spool_dir",
    "verify_file",
    "verify_lines",
]

OUTCOMES: Final = ("success", "failure", "denied")
GENESIS_HASH: Final = "0" * 64
"""``audit.prev_hash`` of the first record of a chain."""

ACTION = semconv.AUDIT_ACTION
ACTOR = semconv.AUDIT_ACTOR
OUTCOME = semconv.AUDIT_OUTCOME
TARGET = semconv.AUDIT_TARGET
TIME = semconv.AUDIT_TIME
STREAM = semconv.AUDIT_STREAM
SEQ = semconv.AUDIT_SEQ
PREV_HASH = semconv.AUDIT_PREV_HASH
HASH = semconv.AUDIT_HASH
CLIENT_ADDRESS = semconv.CLIENT_ADDRESS
REQUEST_ID = "request_id"  # the key request logs carry too
_RESERVED = frozenset(
    {semconv.EVENT_NAME, ACTION, ACTOR, OUTCOME, TARGET, TIME, STREAM, SEQ, PREV_HASH, HASH}
)
_ACTION_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")
# Request context the HTTP integrations bind with structlog.contextvars.
_CLIENT_KEYS = (semconv.CLIENT_ADDRESS, "client_address", "client_ip")
_REQUEST_KEYS = ("request_id", "request.id", "watchkit.request.id")
_INT64 = (-(2**63), 2**63 - 1)
MAX_VALUE_CHARS: Final = 65_536
"""Longer string values (actor, target, details) are cut and end in :data:`TRUNCATED`.

A record must stay exportable (OTLP receivers reject messages of a few MB), or it
would block the in-order spool behind it forever.
"""
TRUNCATED: Final = "...[TRUNCATED]"


# --------------------------------------------------------------------------------------
# Chain


def canonical(attributes: Mapping[str, Any]) -> bytes:
    """The bytes hashed for a record: its attributes except ``audit.hash``, as sorted JSON."""
    content = {k: v for k, v in attributes.items() if k != HASH}
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(prev_hash: str, attributes: Mapping[str, Any]) -> str:
    """SHA-256 (hex) over ``prev_hash`` and the canonical JSON of ``attributes``."""
    digest = hashlib.sha256(prev_hash.encode("ascii"))
    digest.update(b"\n")
    digest.update(canonical(attributes))
    return digest.hexdigest()


class _Chain:
    """Per-process sequence and hash chain (guarded by the spool's ``CHAIN_LOCK``)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.pid = os.getpid()
        self.stream = f"{socket.gethostname()}:{self.pid}:{time.time_ns()}"
        self.seq = 0
        self.prev = GENESIS_HASH


_CHAIN = _Chain()


# --------------------------------------------------------------------------------------
# The public call


def _text(value: str) -> str:
    """``value`` cut to :data:`MAX_VALUE_CHARS` and made encodable (lone surrogates replaced)."""
    if len(value) > MAX_VALUE_CHARS:
        value = value[:MAX_VALUE_CHARS] + TRUNCATED
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = value.encode("utf-8", "replace").decode("utf-8")
    return value


def _attribute(value: Any) -> Any:
    """An attribute value that survives OTLP and JSON unchanged (for the hash); never raises."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value) if _INT64[0] <= value <= _INT64[1] else str(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return _text(str(value))
    if isinstance(value, (list, tuple)) and all(
        isinstance(v, (str, bool, float)) or (isinstance(v, int) and _INT64[0] <= v <= _INT64[1])
        for v in value
    ):
        return [_text(str(v)) if isinstance(v, str) else v for v in value]
    try:
        text = json.dumps(value, sort_keys=True, default=_repr)
    except Exception:
        text = _repr(value)
    return _text(text)


def _repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"


def _repr_or_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return str(value)
    except Exception:
        return _repr(value)


def _iso(ns: int) -> str:
    stamp = _dt.datetime.fromtimestamp(ns // 1_000_000_000, tz=_dt.timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S") + f".{ns % 1_000_000_000 // 1000:06d}Z"


def _request_context() -> tuple[Any, Any]:
    """Client address and request id: from the log context, else the server span."""
    from structlog.contextvars import get_contextvars

    values: Mapping[str, Any] = get_contextvars()
    client = next((values[k] for k in _CLIENT_KEYS if values.get(k) is not None), None)
    request = next((values[k] for k in _REQUEST_KEYS if values.get(k) is not None), None)
    if client is None or request is None:
        span_attributes = getattr(trace.get_current_span(), "attributes", None)
        if isinstance(span_attributes, Mapping):
            if client is None:
                client = span_attributes.get(semconv.CLIENT_ADDRESS)
            if request is None:
                request = next(
                    (span_attributes[k] for k in _REQUEST_KEYS if k in span_attributes), None
                )
    return client, request


def audit(
    action: str,
    *,
    actor: str,
    outcome: str,
    target: str | None = None,
    **details: Any,
) -> None:
    """Record a security-relevant action on the durable, hash-chained audit stream.

    Args:
        action: what happened, e.g. ``"login"``, ``"reservation.cancel"``
            (letters, digits, ``_ . -``); the record's ``event.name`` is
            ``audit.<action>``.
        actor: who did it, e.g. ``"user:42"`` or ``"system"``.
        outcome: ``"success"``, ``"failure"`` or ``"denied"``.
        target: what it was done to, e.g. ``"reservation:R-1042"``.
        **details: extra attributes (redacted like log fields; nested values
            are stored as JSON strings). Names starting with ``audit.`` and
            ``event.name`` are reserved.

    Raises:
        ValueError: ``outcome`` is not one of the three values, ``action`` or
            ``actor`` is empty or malformed, or a detail uses a reserved name.
            Nothing else ever raises: a failure to record is reported through
            watchkit's internal logger, never to the caller.

    Example:
        >>> import watchkit
        >>> watchkit.audit("reservation.cancel", actor="user:42", outcome="success",
        ...                target="reservation:R-1042", reason="guest request")
    """
    if outcome not in OUTCOMES:
        raise ValueError(
            f"audit outcome {outcome!r} is not accepted; use one of "
            + ", ".join(repr(o) for o in OUTCOMES)
        )
    if not isinstance(action, str) or not _ACTION_RE.match(action):
        raise ValueError(
            f"audit action {action!r} is not accepted; use 1-128 letters, digits, '_', '.', '-'"
        )
    if not isinstance(actor, str) or not actor:
        raise ValueError(f"audit actor {actor!r} is not accepted; use a non-empty string")
    for key in details:
        if key in _RESERVED or key.startswith("audit."):
            raise ValueError(f"audit detail {key!r} uses a reserved name; rename it")
    pipeline = STATE.pipeline
    if pipeline is not None and not pipeline.enabled:
        return
    try:
        _record(action, actor, outcome, target, details)
    except Exception:
        guard.report("watchkit.audit")


def _record(
    action: str, actor: str, outcome: str, target: str | None, details: dict[str, Any]
) -> None:
    now = time.time_ns()
    redactor = current_redactor()
    attributes: dict[str, Any] = {
        semconv.EVENT_NAME: f"audit.{action}",
        ACTION: action,
        ACTOR: _attribute(redactor.redact_string(actor)),
        OUTCOME: outcome,
        TIME: _iso(now),
    }
    if target is not None:
        attributes[TARGET] = _attribute(redactor.redact_string(_repr_or_str(target)))
    if details:
        redacted = redactor.redact(details)
        if not isinstance(redacted, dict):  # redaction could not read them: keep the names
            redacted = dict.fromkeys(details, REDACTED)
        for key, value in redacted.items():
            attributes[_text(str(key))] = _attribute(value)
    client, request = _request_context()
    if client is not None:
        attributes.setdefault(CLIENT_ADDRESS, _attribute(client))
    if request is not None:
        attributes.setdefault(REQUEST_ID, _attribute(request))
    span_context = trace.get_current_span().get_span_context()

    trail = current_trail()
    spooling = trail is not None and trail.pipeline is STATE.pipeline
    with audit_spool.CHAIN_LOCK:
        if _CHAIN.pid != os.getpid():
            _CHAIN.reset()
        attributes[STREAM] = _CHAIN.stream
        attributes[SEQ] = _CHAIN.seq + 1
        attributes[PREV_HASH] = _CHAIN.prev
        digest = chain_hash(_CHAIN.prev, attributes)
        attributes[HASH] = digest
        # Committed only once hashed: a failure cannot leave a gap in the chain.
        _CHAIN.seq += 1
        _CHAIN.prev = digest
        if spooling:
            assert trail is not None
            try:
                trail.append(attributes, now, span_context)
                return
            except OSError:
                # Disk full, permissions: better exported without the spool than lost.
                internal_logger.warning(
                    "watchkit: cannot write the audit spool in %s; audit records are "
                    "exported without it",
                    trail.directory,
                    exc_info=True,
                )
    _emit(attributes, now, span_context)


def _emit(attributes: dict[str, Any], now: int, span_context: SpanContext) -> None:
    """Without the OTLP exporter: an event on the pipeline's logger provider."""
    severity = SeverityNumber.INFO if attributes[OUTCOME] == "success" else SeverityNumber.WARN
    get_logger(SCOPE).emit(
        timestamp=now,
        observed_timestamp=now,
        severity_number=severity,
        severity_text=severity.name,
        body=attributes[semconv.EVENT_NAME],
        attributes=attributes,
        event_name=attributes[semconv.EVENT_NAME],
    )


# --------------------------------------------------------------------------------------
# Verification


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of checking a chain: ``ok``, records checked, and the first break."""

    ok: bool
    records: int
    line: int | None = None
    reason: str | None = None
    note: str | None = None
    """Set when the chain is intact but something was tolerated (a torn last line)."""


def _attributes_of(entry: Any) -> dict[str, Any] | None:
    if not isinstance(entry, dict):
        return None
    if isinstance(entry.get("attributes"), dict):
        spooled: dict[str, Any] = entry["attributes"]  # a spool line
        return spooled
    if HASH in entry:
        return entry  # flat: one record's attributes per line
    return None


def verify_lines(lines: Iterable[str]) -> VerifyResult:
    """Check a sequence of JSON lines (spool lines, or flat attribute objects).

    Each record's hash must match its content, its ``audit.prev_hash`` must be
    the previous record's hash and ``audit.seq`` must go up by one within a
    stream. A file may begin mid-chain (after rotation); a chain that starts
    at ``audit.seq`` 1 must start from the genesis hash. Blank lines are ignored.

    A last line that is not valid JSON *and* has no line end is what a crash in
    the middle of a write leaves: it is tolerated (``ok`` stays True, ``note``
    says so), since the record was never completely written. Any other
    unparseable line is a break.
    """
    previous: dict[str, tuple[int, str]] = {}
    count = 0
    torn: tuple[int, str] | None = None
    for number, raw in enumerate(lines, start=1):
        if torn is not None:  # the unparseable line was not the last one
            return VerifyResult(False, count, torn[0], torn[1])
        if not raw.strip():
            continue
        try:
            entry = json.loads(raw)
        except ValueError as error:
            reason = f"not valid JSON ({getattr(error, 'msg', str(error))})"
            if raw.endswith("\n"):
                return VerifyResult(False, count, number, reason)
            torn = (number, reason)
            continue
        attributes = _attributes_of(entry)
        if attributes is None:
            return VerifyResult(False, count, number, "not an audit record (no audit.hash)")
        stream = str(attributes.get(STREAM, ""))
        seq, prev, digest = attributes.get(SEQ), attributes.get(PREV_HASH), attributes.get(HASH)
        if not isinstance(seq, int) or not isinstance(prev, str) or not isinstance(digest, str):
            return VerifyResult(False, count, number, "audit.seq/prev_hash/hash missing")
        if chain_hash(prev, attributes) != digest:
            return VerifyResult(False, count, number, "hash mismatch: the record was modified")
        last = previous.get(stream)
        if last is None:
            if seq == 1 and prev != GENESIS_HASH:
                return VerifyResult(False, count, number, "first record does not start the chain")
        else:
            last_seq, last_hash = last
            if seq != last_seq + 1:
                return VerifyResult(
                    False,
                    count,
                    number,
                    f"sequence {seq} follows {last_seq}: records missing or reordered",
                )
            if prev != last_hash:
                return VerifyResult(
                    False, count, number, "prev_hash does not match the previous record's hash"
                )
        previous[stream] = (seq, digest)
        count += 1
    if torn is not None:
        note = f"incomplete last line {torn[0]} ignored (a write cut short by a crash)"
        return VerifyResult(True, count, torn[0], None, note)
    return VerifyResult(True, count)


def verify_file(path: str | os.PathLike[str]) -> VerifyResult:
    """:func:`verify_lines` over a file."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        return verify_lines(handle)


def _reset_after_fork() -> None:
    _CHAIN.reset()


fork.at_fork(fork.STATE, "audit.chain", _reset_after_fork)
