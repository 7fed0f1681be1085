"""What the test apps share: a probe of the log context inside handlers, and options."""

from __future__ import annotations

import os
from typing import Any

import structlog
from opentelemetry import trace

# Request id -> what a handler saw: structlog's bound context and the current span.
SEEN: dict[str, dict[str, Any]] = {}

OPTIONS: dict[str, Any] = {
    "capture_request_headers": ["authorization", "cookie", "x-api-key", "x-tenant"],
    "capture_response_headers": ["set-cookie", "content-type"],
}
SECRETS = ("Bearer sekret-bearer-value", "session=sekret-cookie", "sekret-api-key", "sekret-token")


def probe() -> None:
    """Record the log context and current span as a handler sees them, and log a line."""
    bound = structlog.contextvars.get_contextvars()
    context = trace.get_current_span().get_span_context()
    SEEN[str(bound.get("request_id"))] = {
        **bound,
        "trace_id": format(context.trace_id, "032x"),
        "span_id": format(context.span_id, "016x"),
    }
    structlog.get_logger("orders").info("order.viewed")


def configure_from_env() -> None:
    """Subprocess servers configure watchkit from the environment (OTLP to the collector)."""
    if os.environ.get("WATCHKIT_TEST_CONFIGURE") == "1":
        import watchkit

        watchkit.configure(service_name=os.environ.get("OTEL_SERVICE_NAME", "food-test"))
