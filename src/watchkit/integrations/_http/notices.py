"""One-time warnings, and the check for another instrumentation of the same app."""

from __future__ import annotations

import threading

from opentelemetry import trace
from opentelemetry.trace import SpanKind

from watchkit._internal import guard

__all__ = ["already_instrumented", "flush_telemetry", "warn_once"]

_warned: set[str] = set()
_warn_lock = threading.Lock()


def warn_once(key: str, message: str, *args: object, exc_info: bool = False) -> None:
    """Log ``message`` as a warning the first time ``key`` is seen in this process."""
    with _warn_lock:
        if key in _warned:
            return
        _warned.add(key)
    guard.internal_logger.warning(message, *args, exc_info=exc_info)


def already_instrumented(where: str) -> bool:
    """Whether another SERVER span is current (an outer instrumentation): warn once."""
    span = trace.get_current_span()
    if span.is_recording() and getattr(span, "kind", None) is SpanKind.SERVER:
        warn_once(
            "outer:" + where,
            "watchkit: %s found a server span already started by another instrumentation "
            "of this app; watchkit adds no span or metrics of its own to these requests",
            where,
        )
        return True
    return False


def flush_telemetry() -> None:
    """Export what is pending now (server shutdown paths); never raises."""
    try:
        from watchkit._internal.pipeline import flush_configured

        flush_configured()
    except Exception:
        guard.report("http.flush")
