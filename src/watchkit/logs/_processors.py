"""The structlog processors of watchkit's logging chain.

Each processor precomputes in ``__init__`` and keeps ``__call__`` lean: they
run on every log call. The chain (see :mod:`watchkit.logs._setup`) is::

    merge_contextvars -> add_level -> logger name -> timestamp -> exception
      -> trace context -> service.name -> redaction -> [OTel export] -> renderer

The same processors run for structlog loggers and (through structlog's
``ProcessorFormatter``) for records of the standard library's ``logging``.
"""

from __future__ import annotations

import datetime as _dt
import json
import sys
import time
import traceback
from collections.abc import MutableMapping
from types import TracebackType
from typing import Any

from opentelemetry import trace

from watchkit._internal.errors import fingerprint, safe_str
from watchkit._internal.semconv import SERVICE_NAME
from watchkit.redaction import REDACTED, current_redactor

__all__ = [
    "OWN_KEYS",
    "AddLevel",
    "AddLoggerName",
    "AddServiceName",
    "AddTimestamp",
    "AddTraceContext",
    "ConsoleSafe",
    "JsonRenderer",
    "Redact",
    "StructuredException",
    "exception_to_dict",
]

EventDict = MutableMapping[str, Any]

# Keys the chain itself sets: never redacted (their values are ours) and never
# exported as OpenTelemetry attributes (they have dedicated LogRecord fields or
# are resource attributes).
OWN_KEYS = frozenset(
    {"event", "level", "logger", "timestamp", "trace_id", "span_id", SERVICE_NAME, "exception"}
)
# Values the chain computed itself: not scanned by redaction (a hex id can look
# like a card number to a pattern).
_TRUSTED_KEYS = frozenset({"level", "logger", "timestamp", "trace_id", "span_id", SERVICE_NAME})
_MAX_FRAMES = 50

# structlog method names -> the level we print.
_LEVEL_NAMES = {
    "debug": "debug",
    "info": "info",
    "msg": "info",
    "log": "info",
    "warning": "warning",
    "warn": "warning",
    "error": "error",
    "exception": "error",
    "err": "error",
    "critical": "critical",
    "fatal": "critical",
}


class AddLevel:
    """Set ``level`` from the method name (``log.warn`` -> ``"warning"``)."""

    def __call__(self, logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
        if "level" not in event_dict:
            event_dict["level"] = _LEVEL_NAMES.get(method_name, method_name)
        return event_dict


class AddLoggerName:
    """Set ``logger`` from a stdlib record (structlog loggers bind it at creation)."""

    def __call__(self, logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
        if "logger" not in event_dict:
            record = event_dict.get("_record")
            if record is not None:
                event_dict["logger"] = record.name
        return event_dict


class AddTimestamp:
    """ISO-8601 UTC timestamp with microseconds, e.g. ``2026-11-21T10:00:00.123456Z``.

    For stdlib records the record's creation time is used.
    """

    def __init__(self) -> None:
        self._cached: tuple[int, str] = (-1, "")  # (second, date prefix), replaced as one

    def __call__(self, logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
        record = event_dict.get("_record")
        now = record.created if record is not None else time.time()
        second = int(now)
        cached = self._cached
        if cached[0] != second:
            # Formatting the date part once a second keeps this ~0.2 us.
            stamp = _dt.datetime.fromtimestamp(second, tz=_dt.timezone.utc)
            cached = self._cached = (second, stamp.strftime("%Y-%m-%dT%H:%M:%S"))
        micros = int((now - second) * 1_000_000)
        event_dict["timestamp"] = f"{cached[1]}.{micros:06d}Z"
        return event_dict


def _frames(tb: TracebackType | None) -> list[dict[str, Any]]:
    frames = [
        {"file": frame.f_code.co_filename, "line": lineno, "function": frame.f_code.co_name}
        for frame, lineno in traceback.walk_tb(tb)
    ]
    return frames[-_MAX_FRAMES:]


def exception_to_dict(error: BaseException) -> dict[str, Any]:
    """``{"type", "message", "frames", "fingerprint"}`` of ``error``.

    ``frames`` is a list of ``{"file", "line", "function"}``.

    ``fingerprint`` groups recurring errors (see :func:`watchkit._internal.errors.fingerprint`).

    Frames are innermost last, at most 50 (the innermost ones). A chained cause
    (``raise ... from``) or context is added under ``"cause"``, one level deep.
    No source lines are read, which keeps this cheap.
    """
    result: dict[str, Any] = {
        "type": type(error).__qualname__,
        "message": safe_str(error),
        "frames": _frames(error.__traceback__),
        "fingerprint": fingerprint(error),
    }
    cause = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    if cause is not None:
        result["cause"] = {
            "type": type(cause).__qualname__,
            "message": safe_str(cause),
            "frames": _frames(cause.__traceback__),
        }
    return result


def _exc_from(value: Any) -> BaseException | None:
    if isinstance(value, BaseException):
        return value
    if isinstance(value, tuple) and len(value) == 3 and isinstance(value[1], BaseException):
        return value[1]
    if value is True:
        return sys.exc_info()[1]
    return None


class StructuredException:
    """Turn ``exc_info`` into ``exception = {"type", "message", "frames"}``.

    ``log.exception("x")``, ``log.error("x", exc_info=True)``,
    ``exc_info=error`` and stdlib ``logger.exception()`` all end up here. The
    exception object is kept (under a private key) for the OpenTelemetry export.
    """

    def __call__(self, logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
        exc_info = event_dict.pop("exc_info", None)
        if exc_info is None or exc_info is False:
            return event_dict
        error = _exc_from(exc_info)
        if error is not None:
            event_dict["exception"] = exception_to_dict(error)
        return event_dict


class AddTraceContext:
    """``trace_id`` (32 hex) and ``span_id`` (16 hex) of the current span context.

    Added whenever the context is *valid*, sampled or not, so that logs of
    unsampled requests still correlate (the structlog recipe's
    ``is_recording()`` check loses them; REFERENCE P10).
    """

    def __init__(self) -> None:
        # (id, hex) pairs, each read and replaced as one object: threads share this
        # processor, and a line must never get the hex of another thread's id.
        self._trace: tuple[int, str] = (0, "")
        self._span: tuple[int, str] = (0, "")

    def __call__(self, logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
        context = trace.get_current_span().get_span_context()
        if not context.is_valid:
            return event_dict
        trace_id, span_id = context.trace_id, context.span_id
        # Lines of one request share ids; reuse the last formatting.
        cached = self._trace
        if cached[0] != trace_id:
            cached = self._trace = (trace_id, format(trace_id, "032x"))
        event_dict["trace_id"] = cached[1]
        cached = self._span
        if cached[0] != span_id:
            cached = self._span = (span_id, format(span_id, "016x"))
        event_dict["span_id"] = cached[1]
        return event_dict


class AddServiceName:
    """``service.name`` of the configured resource."""

    def __init__(self, service_name: str) -> None:
        self.service_name = service_name

    def __call__(self, logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
        event_dict[SERVICE_NAME] = self.service_name
        return event_dict


class Redact:
    """Redact sensitive keys and value patterns in the event (see :mod:`watchkit.redaction`).

    Follows the current configuration's extra keys and patterns. Never raises:
    a value it cannot process is replaced by the marker.
    """

    def __call__(self, logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
        redactor = current_redactor()
        is_sensitive = redactor.is_sensitive_key
        known = redactor._cache  # key -> sensitive; a dict lookup on the hot path
        scrub = redactor.redact_string
        walk = redactor.redact
        for key, value in event_dict.items():
            if key.__class__ is not str or key[:1] == "_" or key in _TRUSTED_KEYS:
                continue  # private keys (_record) are never rendered
            try:
                sensitive = known.get(key)
                if sensitive is None:
                    sensitive = is_sensitive(key)
                if sensitive and key not in OWN_KEYS:
                    event_dict[key] = REDACTED
                elif value.__class__ is str:
                    new = scrub(value)
                    if new is not value:
                        event_dict[key] = new
                elif value is None or value.__class__ in (int, float, bool):
                    continue
                else:
                    new = walk(value)
                    if new is not value:
                        event_dict[key] = new
            except Exception:
                event_dict[key] = REDACTED
        return event_dict


def _json_default(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    try:
        return repr(value)
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"


class JsonRenderer:
    """One JSON object per line; control characters are escaped by JSON itself.

    Private keys (``_record`` etc.) are dropped. Non-ASCII is escaped too
    (``ensure_ascii``), so even U+2028 cannot break a line in a strict reader.
    """

    def __init__(self) -> None:
        self._encode = json.JSONEncoder(default=_json_default).encode

    def __call__(self, logger: Any, method_name: str, event_dict: EventDict) -> str:
        if "_record" in event_dict:
            event_dict = {k: v for k, v in event_dict.items() if k[:1] != "_"}
        try:
            return self._encode(event_dict)
        except (ValueError, TypeError, RecursionError):
            # An odd key (a tuple), a circular or too deep structure: render what
            # JSON can take as it is, the rest as text.
            return self._encode(_jsonable(event_dict, 0))


def _jsonable(value: Any, depth: int) -> Any:
    """``value`` with non-string keys turned to strings; cycles and depth cut (bounded)."""
    if value is None or value.__class__ in (str, int, float, bool):
        return value
    if depth > 32:
        return "..."
    if isinstance(value, dict):
        return {
            (k if isinstance(k, str) else str(_json_default(k))): _jsonable(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, depth + 1) for v in value]
    if isinstance(value, (str, int, float)):  # subclasses (enums): JSON takes them
        return value
    return _json_default(value)


# C0/C1 control characters and DEL, shown escaped (same table as the console exporter).
_CONTROL = {i: f"\\x{i:02x}" for i in [*range(0x20), *range(0x7F, 0xA0)]}
_CONTROL.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})
_CONTROL.update({0x2028: "\\u2028", 0x2029: "\\u2029"})


def escape(text: str) -> str:
    """``text`` with control characters escaped (``"\\n"`` -> ``"\\\\n"``)."""
    return text.translate(_CONTROL)


class ConsoleSafe:
    """Escape control characters before the console renderer, so no value can forge a line.

    Also formats the structured exception as an indented traceback below the
    line; its lines start with spaces and cannot be mistaken for a record.
    """

    def __call__(self, logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
        out: dict[str, Any] = {}
        for key, value in event_dict.items():
            if key[:1] == "_":
                continue
            if key == "exception" and isinstance(value, dict):
                out[key] = _format_exception(value)
                continue
            if isinstance(value, str):
                text = value
            else:
                try:
                    text = repr(value)
                except Exception:
                    text = f"<unrepresentable {type(value).__name__}>"
            out[escape(str(key))] = escape(text)
        return out


def _format_exception(exc: dict[str, Any]) -> str:
    lines = ["  Traceback (most recent call last):"]
    for frame in exc.get("frames", ()):
        lines.append(
            f'    File "{escape(str(frame.get("file")))}", line {frame.get("line")}, '
            f"in {escape(str(frame.get('function')))}"
        )
    lines.append(f"  {escape(str(exc.get('type')))}: {escape(str(exc.get('message')))}")
    return "\n".join(lines)


def stacktrace(exc: dict[str, Any]) -> str:
    """A Python-style stack trace (without source lines) from :func:`exception_to_dict`."""
    lines = ["Traceback (most recent call last):"]
    for frame in exc.get("frames", ()):
        lines.append(
            f'  File "{frame.get("file")}", line {frame.get("line")}, in {frame.get("function")}'
        )
    lines.append(f"{exc.get('type')}: {exc.get('message')}")
    return "\n".join(lines)
