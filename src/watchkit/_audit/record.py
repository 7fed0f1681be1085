"""``watchkit.audit()``: build, redact, chain and hand over one audit record.

The record is numbered and hashed under the chain's lock and, in the same
critical section, appended to the spool (OTLP exporter on) or emitted on the
pipeline's logger provider (console, tests), so file order is chain order.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import time
from collections.abc import Mapping
from typing import Any, Final

from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.trace import SpanContext

from watchkit._audit.chain import CHAIN, HASH, PREV_HASH, SEQ, STREAM
from watchkit._audit.shipper import current_trail
from watchkit._audit.spool import SCOPE
from watchkit._internal import guard, semconv
from watchkit._internal.errors import safe_repr
from watchkit._internal.guard import internal_logger
from watchkit._internal.state import STATE, get_logger
from watchkit.redaction import REDACTED, current_redactor

__all__ = ["MAX_VALUE_CHARS", "OUTCOMES", "TRUNCATED", "audit"]

OUTCOMES: Final = ("success", "failure", "denied")

ACTION = semconv.AUDIT_ACTION
ACTOR = semconv.AUDIT_ACTOR
OUTCOME = semconv.AUDIT_OUTCOME
TARGET = semconv.AUDIT_TARGET
TIME = semconv.AUDIT_TIME
INVALID = semconv.AUDIT_INVALID
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
        text = json.dumps(value, sort_keys=True, default=safe_repr)
    except Exception:
        text = safe_repr(value)
    return _text(text)


def _repr_or_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return str(value)
    except Exception:
        return safe_repr(value)


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

    Bad arguments (``outcome`` not one of the three values, ``action`` or
    ``actor`` empty or malformed, a detail with a reserved name) never lose the
    record: it is kept with what was given (a malformed action becomes
    ``invalid`` with the given one in ``invalid.action``, reserved details are
    renamed ``invalid.<name>``), marked with an ``audit.invalid`` attribute
    naming the problems, and reported once per call
    site. Nothing raises to the caller, except under the test switch
    (``WATCHKIT_RAISE_INTERNAL_ERRORS``), where bad arguments raise ``ValueError``.

    Example:
        >>> import watchkit
        >>> watchkit.audit("reservation.cancel", actor="user:42", outcome="success",
        ...                target="reservation:R-1042", reason="guest request")
    """
    problems = _problems(action, actor, outcome, details)
    if problems:
        # The one policy for bad arguments on the request path, except that an audit
        # record is never dropped: it is kept with what was given, and marked.
        guard.invalid_argument(
            "watchkit.audit()", "; ".join(problems), f"the record was kept and marked {INVALID}"
        )
        action, actor, outcome, details = _salvage(action, actor, outcome, details, problems)
    pipeline = STATE.pipeline
    if pipeline is not None and not pipeline.enabled:
        return
    try:
        _record(action, actor, outcome, target, details)
    except Exception:
        guard.report("watchkit.audit")


def _problems(action: Any, actor: Any, outcome: Any, details: dict[str, Any]) -> list[str]:
    problems = []
    if outcome not in OUTCOMES:
        problems.append(
            f"audit outcome {outcome!r} is not accepted; use one of "
            + ", ".join(repr(o) for o in OUTCOMES)
        )
    if not isinstance(action, str) or not _ACTION_RE.match(action):
        problems.append(
            f"audit action {action!r} is not accepted; use 1-128 letters, digits, '_', '.', '-'"
        )
    if not isinstance(actor, str) or not actor:
        problems.append(f"audit actor {actor!r} is not accepted; use a non-empty string")
    problems.extend(
        f"audit detail {key!r} uses a reserved name; rename it"
        for key in details
        if key in _RESERVED or key.startswith("audit.")
    )
    return problems


def _salvage(
    action: Any, actor: Any, outcome: Any, details: dict[str, Any], problems: list[str]
) -> tuple[str, str, str, dict[str, Any]]:
    """What can be recorded of a call with bad arguments, marked with the problems."""
    if not isinstance(action, str) or not _ACTION_RE.match(action):
        details = {"invalid.action": _repr_or_str(action), **details}
        action = "invalid"
    if not isinstance(actor, str) or not actor:
        actor = _repr_or_str(actor) or "unknown"
    if outcome not in OUTCOMES:
        outcome = _repr_or_str(outcome)
    kept = {
        (f"invalid.{key}" if key in _RESERVED or key.startswith("audit.") else key): value
        for key, value in details.items()
    }
    kept[INVALID] = "; ".join(problems)
    return action, actor, outcome, kept


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
    with CHAIN.lock:
        CHAIN.link(attributes)
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
