"""Per-line cost of one structured log line, watchkit against its peers (issue 4).

Every variant logs ``order.placed`` with ``order_id`` and ``amount`` while a
request id is in the context, and writes its line to an in-memory stream
(``io.StringIO``, truncated between rounds), so no variant pays for a terminal
or a pipe. Variants that export to OpenTelemetry use the same SDK
``LoggerProvider`` set-up: a ``BatchLogRecordProcessor`` in front of an exporter
that discards, so the cost measured is the application-thread cost.

Rows:

* plain structlog: ``merge_contextvars`` + ``TimeStamper(iso, utc)`` + ``JSONRenderer``;
* stdlib ``logging`` with a JSON formatter (the request id from a filter);
* the same plus the OpenTelemetry SDK's ``LoggingHandler`` (export of every record);
* watchkit's full chain (level, logger, timestamp, exception, trace context,
  ``service.name``, redaction) to JSON, on a bound logger and through the
  module-level proxy that ``get_logger()`` returns;
* the same with OTel log export on;
* ``logfire.info`` (``send_to_logfire=False, console=False``).
"""

from __future__ import annotations

import contextvars
import dataclasses
import io
import json
import logging
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from benchmarks.harness import Budget, Suite

_REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class _Discard:
    """A log exporter that drops everything (the collector's cost is not ours)."""

    def export(self, batch: Sequence[Any]) -> Any:
        from opentelemetry.sdk._logs.export import LogRecordExportResult

        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _provider() -> Any:
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

    provider = LoggerProvider(shutdown_on_exit=False)
    provider.add_log_record_processor(BatchLogRecordProcessor(_Discard()))  # type: ignore[arg-type]
    return provider


class _JsonFormatter(logging.Formatter):
    """A typical JSON formatter (python-json-logger style)."""

    _skip = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message"}

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "timestamp": self.formatTime(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in self._skip:
                payload[key] = value
        return json.dumps(payload, default=repr)


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _REQUEST_ID.get()
        return True


def _stdlib_logger(name: str, stream: io.StringIO, otel: bool) -> logging.Logger:
    logger = logging.getLogger(name)
    logger.handlers.clear()
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_JsonFormatter())
    logger.addHandler(handler)
    logger.addFilter(_RequestIdFilter())
    if otel:
        from opentelemetry.sdk._logs import LoggingHandler

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            logger.addHandler(LoggingHandler(logger_provider=_provider()))
    return logger


def suites() -> list[Suite]:
    import structlog

    import watchkit
    from watchkit._internal.state import STATE
    from watchkit.logs import _setup

    buffers: list[io.StringIO] = []

    def stream() -> io.StringIO:
        buffer = io.StringIO()
        buffers.append(buffer)
        return buffer

    # Plain structlog.
    plain_stream = stream()
    plain = structlog.wrap_logger(
        structlog.PrintLogger(plain_stream),
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        context_class=dict,
    ).bind()

    stdlib = _stdlib_logger("bench.stdlib", stream(), otel=False)
    stdlib_otel = _stdlib_logger("bench.stdlib.otel", stream(), otel=True)

    # watchkit: configure() with no exporter, then the chain writes to a buffer.
    telemetry = watchkit.configure(service_name="bench", exporter="none", log_format="json")
    assert STATE.pipeline is not None
    watchkit_stream = stream()
    _setup.RUNTIME.stream = watchkit_stream
    wk_bound = watchkit.get_logger("bench").bind()
    wk_proxy = watchkit.get_logger("bench")

    # watchkit with OTel export: the same chain built with export on, writing to the
    # pipeline's logger provider, which gets the same batch processor as the peers.
    telemetry.logger_provider.add_log_record_processor(  # type: ignore[attr-defined]
        _provider()._multi_log_record_processor._log_record_processors[0]
    )
    settings = dataclasses.replace(telemetry.settings, exporter="otlp")
    chain, _, renderer = _setup.build_processors(settings, console=False, export=True)
    wk_otel = structlog.wrap_logger(
        _setup._OUTPUT,
        processors=[*chain, *renderer],
        wrapper_class=_setup._guarded_wrapper(logging.INFO),
        context_class=dict,
    ).bind(logger="bench")

    import logfire

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logfire.configure(send_to_logfire=False, console=False)

    def bind() -> None:
        structlog.contextvars.bind_contextvars(request_id="req-7f3a9c")
        _REQUEST_ID.set("req-7f3a9c")

    bind()

    def reset() -> None:
        for buffer in buffers:
            buffer.seek(0)
            buffer.truncate()

    def case(call: Callable[[], object]) -> Callable[[], object]:
        return call

    cases: dict[str, Callable[..., object]] = {
        "plain structlog (contextvars, TimeStamper, JSONRenderer)": case(
            lambda: plain.info("order.placed", order_id="A-1001", amount=42.5)
        ),
        "stdlib logging + JSON formatter": case(
            lambda: stdlib.info("order.placed", extra={"order_id": "A-1001", "amount": 42.5})
        ),
        "stdlib + JSON formatter + OTel SDK LoggingHandler": case(
            lambda: stdlib_otel.info("order.placed", extra={"order_id": "A-1001", "amount": 42.5})
        ),
        "watchkit chain -> JSON (bound logger)": case(
            lambda: wk_bound.info("order.placed", order_id="A-1001", amount=42.5)
        ),
        "watchkit chain -> JSON (get_logger() proxy)": case(
            lambda: wk_proxy.info("order.placed", order_id="A-1001", amount=42.5)
        ),
        "watchkit chain -> JSON + OTel log export": case(
            lambda: wk_otel.info("order.placed", order_id="A-1001", amount=42.5)
        ),
        "logfire.info": case(lambda: logfire.info("order.placed", order_id="A-1001", amount=42.5)),
    }

    def teardown() -> None:
        reset()
        structlog.contextvars.clear_contextvars()
        watchkit.shutdown()

    return [
        Suite(
            "Logging: one structured line with a request id in context",
            cases=cases,
            budgets=[
                Budget(
                    "watchkit chain -> JSON (bound logger)",
                    "plain structlog (contextvars, TimeStamper, JSONRenderer)",
                    1.5,
                ),
                Budget(
                    "watchkit chain -> JSON + OTel log export",
                    "stdlib + JSON formatter + OTel SDK LoggingHandler",
                    1.0,
                ),
            ],
            number=2000,
            rounds=9,
            setup=reset,
            teardown=teardown,
        )
    ]
