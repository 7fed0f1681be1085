"""structlog -> OpenTelemetry LogRecord export, as one processor of the chain.

Each record becomes an OpenTelemetry LogRecord on the current pipeline's
logger provider: the event is the body, the level maps to severity number
and text, the remaining keys become attributes (after redaction), the
exception becomes ``exception.type``/``exception.message``/``exception.stacktrace``,
and the trace context is taken from the current span, as the SDK does.

``trace_id``, ``span_id``, ``service.name``, ``timestamp``, ``level`` and
``logger`` are *not* copied into attributes: they have dedicated fields in
the OTLP record (or the resource), and exporting them twice is a known
annoyance (REFERENCE P12).
"""

from __future__ import annotations

import time
from typing import Any

from opentelemetry._logs import Logger, SeverityNumber

from watchkit._internal import guard, semconv
from watchkit._internal.state import STATE, PerPipeline, bound, get_logger
from watchkit.logs._processors import OWN_KEYS, EventDict, stacktrace

__all__ = ["SEVERITY", "OTelExport", "to_attribute"]

SEVERITY: dict[str, tuple[SeverityNumber, str]] = {
    "debug": (SeverityNumber.DEBUG, "DEBUG"),
    "info": (SeverityNumber.INFO, "INFO"),
    "warning": (SeverityNumber.WARN, "WARN"),
    "warn": (SeverityNumber.WARN, "WARN"),
    "error": (SeverityNumber.ERROR, "ERROR"),
    "exception": (SeverityNumber.ERROR, "ERROR"),
    "critical": (SeverityNumber.FATAL, "FATAL"),
    "fatal": (SeverityNumber.FATAL, "FATAL"),
}
"""Log level -> OpenTelemetry severity number and text (``WARNING`` is ``WARN``)."""

_PRIMITIVES = (str, int, float, bool)
# Records of these loggers are printed but not exported: the SDK and its
# exporters log about failed exports, and exporting those would feed back.
_NOT_EXPORTED = ("opentelemetry",)


def to_attribute(value: Any, depth: int = 0) -> Any:
    """An OpenTelemetry attribute value for ``value`` (primitives, sequences, maps, else repr)."""
    if value.__class__ in _PRIMITIVES:
        return value
    if value is None:
        return None
    if depth < 8:
        if isinstance(value, (list, tuple, set, frozenset)):
            return [to_attribute(item, depth + 1) for item in value]
        if isinstance(value, dict):
            return {str(k): to_attribute(v, depth + 1) for k, v in value.items()}
    if isinstance(value, _PRIMITIVES):  # subclasses (enums of str, bool...)
        return value
    try:
        return repr(value)
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"


class _Binding:
    """What one pipeline gives the export: whether it is on, and its loggers by name."""

    __slots__ = ("active", "loggers")

    def __init__(self, active: bool) -> None:
        self.active = active
        self.loggers: dict[str, Logger] = {}


class OTelExport:
    """Emit each event as an OpenTelemetry LogRecord, then pass it on unchanged.

    Args:
        enabled: whether this process exports log lines (the OTLP exporter is on).
            Under a test capture (``watchkit.testing``) records are always
            exported, so tests can assert on them.
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._binding: PerPipeline[_Binding] = bound(self._bind)

    def __call__(self, logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
        binding = self._binding.get()
        if binding.active:
            try:
                self._emit(binding.loggers, event_dict)
            except Exception:
                guard.report("watchkit.logs.otel_export")
        return event_dict

    def _bind(self) -> _Binding:
        pipeline = STATE.pipeline
        active = pipeline is not None and pipeline.enabled and (self.enabled or pipeline.capture)
        return _Binding(active)

    def _emit(self, loggers: dict[str, Logger], event_dict: EventDict) -> None:
        name = event_dict.get("logger") or semconv.SCOPE
        if not isinstance(name, str):
            name = str(name)
        otel_logger = loggers.get(name)
        if otel_logger is None:
            if name.startswith(_NOT_EXPORTED):
                return
            otel_logger = get_logger(name)
            if len(loggers) < 1000:
                loggers[name] = otel_logger
        severity = SEVERITY.get(event_dict.get("level", "info"), SEVERITY["info"])
        attributes: dict[str, Any] = {}
        for key, value in event_dict.items():
            if key in OWN_KEYS or key[:1] == "_" or value is None:
                continue
            attributes[key] = to_attribute(value)
        exc = event_dict.get("exception")
        if isinstance(exc, dict):
            attributes[semconv.EXCEPTION_TYPE] = str(exc.get("type"))
            attributes[semconv.EXCEPTION_MESSAGE] = str(exc.get("message"))
            attributes[semconv.EXCEPTION_STACKTRACE] = stacktrace(exc)
            found = exc.get("fingerprint")
            if isinstance(found, str):
                attributes[semconv.EXCEPTION_FINGERPRINT] = found
        record = event_dict.get("_record")
        timestamp = int(record.created * 1e9) if record is not None else time.time_ns()
        body = event_dict.get("event")
        otel_logger.emit(
            timestamp=timestamp,
            observed_timestamp=timestamp,
            severity_number=severity[0],
            severity_text=severity[1],
            body=body if body.__class__ is str else to_attribute(body),
            attributes=attributes,
        )
