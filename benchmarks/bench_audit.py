"""Per-call cost of ``watchkit.audit()``: the caller's thread, next to a plain OTel log event.

Every variant records the same action (actor, outcome, target, two details)
inside a request context. Rows:

* the OpenTelemetry SDK peer: ``Logger.emit`` of an event with those attributes
  into a ``LoggerProvider`` whose batch processor feeds an exporter that
  discards (no redaction, no chain, not durable);
* ``watchkit.audit()`` without the OTLP exporter: validated, redacted, numbered and
  hashed, then emitted on the same kind of provider;
* ``watchkit.audit()`` with the durable spool: the same, appended to a spool file
  (one ``write()``, fsync'd by a background thread every 0.5 s, shipped by another
  thread to an exporter that discards).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Sequence
from typing import Any

from benchmarks.harness import Budget, Suite


class _Discard:
    """A log exporter that drops everything (the collector's cost is not ours)."""

    def export(self, batch: Sequence[Any]) -> Any:
        from opentelemetry.sdk._logs.export import LogRecordExportResult

        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def suites() -> list[Suite]:
    import structlog
    from opentelemetry._logs import SeverityNumber
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

    import watchkit
    from watchkit._audit import shipper
    from watchkit._internal.state import STATE

    provider = LoggerProvider(shutdown_on_exit=False)
    provider.add_log_record_processor(BatchLogRecordProcessor(_Discard()))  # type: ignore[arg-type]
    sdk_logger = provider.get_logger("bench.audit")
    attributes = {
        "event.name": "audit.reservation.cancel",
        "audit.action": "reservation.cancel",
        "audit.actor": "user:42",
        "audit.outcome": "success",
        "audit.target": "reservation:R-1042",
        "reason": "guest request",
        "nights": 3,
    }

    def sdk_emit() -> None:
        sdk_logger.emit(
            severity_number=SeverityNumber.INFO,
            body="audit.reservation.cancel",
            attributes=attributes,
            event_name="audit.reservation.cancel",
        )

    def wk_audit() -> None:
        watchkit.audit(
            "reservation.cancel",
            actor="user:42",
            outcome="success",
            target="reservation:R-1042",
            reason="guest request",
            nights=3,
        )

    directory = tempfile.mkdtemp(prefix="watchkit-bench-audit-")
    state: dict[str, Any] = {}

    def setup() -> None:
        telemetry = watchkit.configure(service_name="bench", exporter="none")
        telemetry.logger_provider.add_log_record_processor(  # type: ignore[attr-defined]
            BatchLogRecordProcessor(_Discard())  # type: ignore[arg-type]
        )
        structlog.contextvars.bind_contextvars(request_id="req-7f3a9c")
        from opentelemetry.sdk.resources import Resource

        trail = shipper.Trail(STATE.pipeline, directory, _Discard(), Resource.create({}), 1.0)  # type: ignore[arg-type]
        state["trail"] = trail

    def spooled() -> Callable[[], None]:
        def call() -> None:
            shipper._TRAIL = state["trail"]
            try:
                wk_audit()
            finally:
                shipper._TRAIL = None

        return call

    def teardown() -> None:
        state["trail"].close()
        structlog.contextvars.clear_contextvars()
        watchkit.shutdown()
        shutil.rmtree(directory, ignore_errors=True)

    return [
        Suite(
            "Audit: one audit() call in a request context",
            cases={
                "OTel SDK Logger.emit (event, same attributes)": sdk_emit,
                "watchkit.audit() without spool (redacted, chained)": wk_audit,
                "watchkit.audit() with durable spool": spooled(),
            },
            budgets=[
                Budget(
                    "watchkit.audit() with durable spool",
                    "OTel SDK Logger.emit (event, same attributes)",
                    4.0,
                ),
            ],
            notes=[
                "audit() does what the SDK row does not: validation, redaction, a SHA-256 "
                "link over canonical JSON, the request context and a spool write; the "
                "shipping and fsync threads are off the caller's thread"
            ],
            number=2000,
            rounds=9,
            setup=setup,
            teardown=teardown,
        )
    ]
