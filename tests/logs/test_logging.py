"""structlog chain: JSON/console lines, correlation, stdlib bridge, injection, OTel export."""

from __future__ import annotations

import json
import logging

import pytest
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

import watchkit
from watchkit._internal.state import get_tracer
from watchkit.logs import LogHandler


def _lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().out.splitlines() if line]


def _json(capsys) -> list[dict]:
    return [json.loads(line) for line in _lines(capsys)]


@pytest.fixture
def json_logs(clean_env):
    watchkit.configure(service_name="hotel", exporter="none", log_format="json")


def test_json_line_has_the_documented_keys(json_logs, capsys) -> None:
    """One parseable line with level, logger, UTC timestamp, service.name and the fields."""
    import structlog

    structlog.contextvars.bind_contextvars(request_id="req-1")
    try:
        watchkit.get_logger("bookings").info("reservation.confirmed", nights=3, total=420.5)
    finally:
        structlog.contextvars.clear_contextvars()
    (line,) = _json(capsys)
    assert line["event"] == "reservation.confirmed"
    assert line["level"] == "info"
    assert line["logger"] == "bookings"
    assert line["service.name"] == "hotel"
    assert line["request_id"] == "req-1"
    assert line["nights"] == 3
    assert line["total"] == 420.5
    assert line["timestamp"].endswith("Z")
    assert "T" in line["timestamp"]
    assert "trace_id" not in line  # no span: no ids


def test_default_logger_name_is_the_calling_module(json_logs, capsys) -> None:
    """get_logger() without a name uses the caller's __name__."""
    watchkit.get_logger().warning("x")
    assert _json(capsys)[0]["logger"] == __name__


def test_trace_ids_equal_the_exporting_span(telemetry, json_logs, capsys) -> None:
    """trace_id/span_id in the line are the ids of the span that was exported."""
    with get_tracer().start_as_current_span("checkout"):
        watchkit.get_logger("t").info("inside")
    span = telemetry.span("checkout")
    (line,) = _json(capsys)
    assert line["trace_id"] == format(span.context.trace_id, "032x")
    assert line["span_id"] == format(span.context.span_id, "016x")


def test_unsampled_but_valid_context_still_correlates(json_logs, capsys) -> None:
    """An unsampled span context still stamps ids (REFERENCE P10)."""
    context = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(0))
    with trace.use_span(NonRecordingSpan(context)):
        watchkit.get_logger("t").info("unsampled")
    (line,) = _json(capsys)
    assert line["trace_id"] == format(0xABC, "032x")
    assert line["span_id"] == format(0xDEF, "016x")


def test_exception_is_structured(json_logs, capsys) -> None:
    """log.exception renders type, message and frames, innermost last."""

    def charge() -> None:
        raise ValueError("card declined")

    try:
        charge()
    except ValueError:
        watchkit.get_logger("t").exception("payment.failed")
    exception = _json(capsys)[0]["exception"]
    assert exception["type"] == "ValueError"
    assert exception["message"] == "card declined"
    assert exception["frames"][-1]["function"] == "charge"
    assert exception["frames"][-1]["file"].endswith("test_logging.py")
    assert isinstance(exception["frames"][-1]["line"], int)


def test_level_filter(clean_env, capsys) -> None:
    """Records below log_level are dropped."""
    watchkit.configure(exporter="none", log_format="json", log_level="warning")
    log = watchkit.get_logger("t")
    log.info("quiet")
    log.warning("loud")
    assert [line["event"] for line in _json(capsys)] == ["loud"]


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_injected_newline_stays_inside_one_line(clean_env, capsys, fmt) -> None:
    """A value with '\\n{"level":"critical"}' cannot forge a second record."""
    watchkit.configure(exporter="none", log_format=fmt)
    evil = 'guest\n{"level":"critical","event":"forged"}\r\x1b[2J'
    watchkit.get_logger("t").info("login", user=evil)
    logging.getLogger("thirdparty").warning("user %s", evil)
    lines = _lines(capsys)
    assert len(lines) == 2, lines
    for line in lines:
        assert "\x1b" not in line
        assert "\r" not in line
    if fmt == "json":
        assert json.loads(lines[0])["user"] == evil
        assert json.loads(lines[1])["event"] == f"user {evil}"


def test_stdlib_record_comes_out_once_and_formatted(json_logs, capsys) -> None:
    """A third-party stdlib logger goes through the same chain, exactly once."""
    logging.getLogger("uvicorn.error").warning(
        "Started %s", "server", extra={"port": 8000, "password": "x"}
    )
    lines = _json(capsys)
    assert len(lines) == 1
    line = lines[0]
    assert line["event"] == "Started server"
    assert line["logger"] == "uvicorn.error"
    assert line["level"] == "warning"
    assert line["service.name"] == "hotel"
    assert line["port"] == 8000
    assert line["password"] == "[REDACTED]"


def test_stdlib_info_records_are_not_lost(json_logs, capsys) -> None:
    """The root level is lowered to log_level so INFO from libraries is kept."""
    logging.getLogger("django.request").info("hello")
    assert [line["event"] for line in _json(capsys)] == ["hello"]


def test_configure_twice_and_shutdown_keep_one_handler(clean_env) -> None:
    """One root handler however often configure() runs; none after shutdown; level restored."""
    root = logging.getLogger()
    level = root.level
    for _ in range(2):
        watchkit.configure(exporter="none", log_format="json")
        watchkit.configure(exporter="none", log_format="json")
        assert sum(isinstance(h, LogHandler) for h in root.handlers) == 1
        watchkit.shutdown()
        assert not any(isinstance(h, LogHandler) for h in root.handlers)
        assert root.level == level


def test_dictconfig_handler_is_not_duplicated(clean_env, capsys) -> None:
    """A LogHandler from the application's dictConfig is reused, not doubled."""
    import logging.config

    root = logging.getLogger()
    saved = root.handlers[:]
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {"watchkit": {"()": "watchkit.logs.LogHandler"}},
            "root": {"handlers": ["watchkit"], "level": "INFO"},
        }
    )
    try:
        watchkit.configure(exporter="none", log_format="json")
        logging.getLogger("app").info("once")
        assert [line["event"] for line in _json(capsys)] == ["once"]
    finally:
        watchkit.shutdown()
        root.handlers[:] = saved


def test_redaction_in_log_lines(json_logs, capsys) -> None:
    """Keys and value patterns are redacted in the printed line, nested too."""
    watchkit.get_logger("t").info(
        "payment",
        card_number="4111111111111111",
        note="paid with 4111 1111 1111 1111",
        headers={"Authorization": "Bearer abcdef", "X-Api-Key": "k"},
        items=[{"cvv": 123}],
    )
    line = _json(capsys)[0]
    assert line["card_number"] == "[REDACTED]"
    assert line["note"] == "paid with [REDACTED]"
    assert line["headers"] == {"Authorization": "[REDACTED]", "X-Api-Key": "[REDACTED]"}
    assert line["items"] == [{"cvv": "[REDACTED]"}]


def test_records_are_exported_as_otel_log_records(telemetry, json_logs, capsys) -> None:
    """Under capture each record is an OTel LogRecord: severity, body, attributes, context."""
    log = watchkit.get_logger("bookings")
    with get_tracer().start_as_current_span("reserve"):
        log.warning("room.overbooked", room=12, token="t0k")
        try:
            raise KeyError("room")
        except KeyError:
            log.exception("lookup.failed")
    span = telemetry.span("reserve")
    warn, error = telemetry.logs()
    assert warn.body == "room.overbooked"
    assert warn.severity_text == "WARN"
    assert warn.trace_id == span.context.trace_id
    assert warn.span_id == span.context.span_id
    assert dict(warn.attributes or {}) == {"room": 12, "token": "[REDACTED]"}
    assert error.severity_text == "ERROR"
    attributes = dict(error.attributes or {})
    assert attributes["exception.type"] == "KeyError"
    assert "lookup" not in attributes.get("exception.message", "")
    assert "Traceback" in attributes["exception.stacktrace"]
    assert "trace_id" not in attributes  # ids are in the record fields, not duplicated


def test_console_exporter_mode_does_not_print_records_twice(clean_env, capsys) -> None:
    """exporter=console: a log line appears once (stdout), while OTel events still print."""
    telemetry = watchkit.configure(exporter="console", log_format="json")
    watchkit.get_logger("t").info("only.once")
    from watchkit._internal.state import get_logger

    get_logger("watchkit.events").emit(body="event.shown", attributes={"event.name": "x"})
    telemetry.force_flush()
    captured = capsys.readouterr()
    assert captured.out.count("only.once") == 1
    assert "only.once" not in captured.err
    assert "event.shown" in captured.err


def test_processor_bug_never_reaches_the_caller(json_logs, capsys, monkeypatch) -> None:
    """With internal errors swallowed (production), a failing processor drops only the line."""
    from watchkit._internal import guard
    from watchkit.logs import processors

    def broken(self, logger, name, event_dict):
        raise RuntimeError("bug")

    monkeypatch.setattr(processors.AddTraceContext, "__call__", broken)
    old = guard.set_raise(False)
    try:
        watchkit.get_logger("t").info("x")
    finally:
        guard.set_raise(old)
